package main

import (
	"context"
	"errors"
	"testing"

	"github.com/facegate/facegate/gate"
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
