package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
	"github.com/facegate/facegate/kiosk"
)

func TestGateRelayRefusesACancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := &gatetest.Output{}
	r := gateRelay{relay: gate.NewRelay(out, gate.RelayOptions{})}
	err := r.Pulse(ctx, 0, func() { t.Fatal("energised on a cancelled context") })
	if err == nil {
		t.Fatal("Pulse on a cancelled context succeeded")
	}
}

// TestGateRelayReportsThroughOneRoute: energised is called when the line
// energises; the gate's OnChange route shows open then closed for a good
// pulse, and only open for a line that could not be released (a fault, it
// may still be energised). No real time: the pulse ends when the fake clock
// is advanced.
func TestGateRelayReportsThroughOneRoute(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		clk := gatetest.NewClock()
		out := &gatetest.Output{}
		var mu sync.Mutex
		var shown []bool
		relay := gate.NewRelay(out, gate.RelayOptions{Clock: clk, OnChange: func(on bool) {
			mu.Lock()
			shown = append(shown, on)
			mu.Unlock()
		}})
		r := gateRelay{relay: relay}
		energised := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- r.Pulse(context.Background(), 0, func() {
				if stuck {
					out.SetErr(errors.New("release relay: EIO"))
				}
				close(energised)
			})
		}()
		<-energised
		if !clk.WaitPending(1) {
			t.Fatal("the pulse armed no timer")
		}
		pulse, _ := relay.Limits()
		clk.Advance(pulse)
		err := <-done
		relay.Close() // delivers every queued change
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
		if !slices.Equal(got, want) {
			t.Fatalf("stuck %v: shown %v, want %v", stuck, got, want)
		}
	}
}
