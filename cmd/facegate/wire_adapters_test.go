package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
	"github.com/facegate/facegate/kiosk"
)

// TestRelayErrorContract: the kiosk decides "unlocked or not" from the
// error, so each gate error must map to the right side of its contract.
func TestRelayErrorContract(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wasActive bool
		cut       bool // errors.Is kiosk.ErrPulseCut or a context error
		fault     bool
	}{
		{"ok", nil, true, false, false},
		{"fault", gate.ErrRelayFault, true, false, true},
		{"fault before energising", gate.ErrRelayFault, false, false, true},
		{"halted mid-pulse", gate.ErrHalted, true, true, false},
		{"halted before", gate.ErrHalted, false, false, false},
		{"cancelled mid-pulse", context.Canceled, true, true, false},
		{"driver error", errors.New("energise relay: EIO"), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := relayError(tc.err, tc.wasActive)
			if (tc.err == nil) != (err == nil) {
				t.Fatalf("relayError(%v) = %v", tc.err, err)
			}
			cut := errors.Is(err, kiosk.ErrPulseCut) || errors.Is(err, context.Canceled)
			if cut != tc.cut || errors.Is(err, kiosk.ErrRelayFault) != tc.fault {
				t.Fatalf("relayError(%v, %v) = %v: cut %v fault %v, want %v %v", tc.err, tc.wasActive, err, cut, errors.Is(err, kiosk.ErrRelayFault), tc.cut, tc.fault)
			}
		})
	}
}

func TestObservedRelayRefusesACancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &observedRelay{relay: nil, notify: func(bool) { t.Fatal("notified") }}
	err := r.Pulse(ctx, 0)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, kiosk.ErrPulseCut) {
		t.Fatalf("Pulse on a cancelled context = %v: must read as never energised", err)
	}
}

// TestObservedRelayKeepsAStuckLineOpen: a pulse whose line could not be
// released is a fault, and the relay is not shown closed (it may still be
// energised); a good pulse shows open then closed.
func TestObservedRelayKeepsAStuckLineOpen(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		out := &gatetest.Output{}
		var mu sync.Mutex
		var shown []bool
		r := &observedRelay{relay: gate.NewRelay(out, gate.RelayOptions{}), notify: func(on bool) {
			mu.Lock()
			shown = append(shown, on)
			mu.Unlock()
			if on && stuck {
				out.SetErr(errors.New("release relay: EIO"))
			}
		}}
		err := r.Pulse(context.Background(), 100*time.Millisecond)
		mu.Lock()
		got := append([]bool(nil), shown...)
		mu.Unlock()
		want := []bool{true, false}
		if stuck {
			want = []bool{true}
			if !errors.Is(err, kiosk.ErrRelayFault) {
				t.Fatalf("stuck line: Pulse = %v, want a relay fault", err)
			}
		} else if err != nil {
			t.Fatalf("Pulse = %v", err)
		}
		if len(got) != len(want) || got[0] != want[0] || (len(got) > 1 && got[1] != want[1]) {
			t.Fatalf("stuck %v: shown %v, want %v", stuck, got, want)
		}
	}
}
