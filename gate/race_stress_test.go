package gate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// TestRaceStressRelay drives one relay (system clock) from many goroutines:
// grants' PulseNotify (some cancelled), exit-button Pulses, evacuation
// Hold/Release, driver errors, State; then Halt and Close. A PulseNotify
// that returns nil has called energised (the kiosk records "pulsed" only
// then), and after Close the line is inactive. Under -race it reports any unsynchronised access.
func TestRaceStressRelay(t *testing.T) {
	out := &gatetest.Output{}
	var changes atomic.Int64
	var pulses atomic.Int64
	monitor := gate.NewMonitor(gate.Inputs{}, gate.MonitorOptions{})
	r := gate.NewRelay(out, gate.RelayOptions{MaxPulse: 50 * time.Millisecond,
		OnPulse: monitor.Granted, OnEnergiseFailed: monitor.Withdraw,
		OnChange: func(bool) { changes.Add(1) }})
	deadline := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	var bad atomic.Int64
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				f(i)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		loop(func(i int) {
			ctx, cancel := context.WithCancel(context.Background())
			if i%4 == 0 {
				time.AfterFunc(time.Duration(i%7)*time.Millisecond, cancel)
			}
			called := false
			err := r.PulseNotify(ctx, time.Duration(1+i%20)*time.Millisecond, func() {
				pulses.Add(1)
				called = true
			})
			if err == nil && !called {
				bad.Add(1) // a pulse reported done that never energised for its caller
			}
			cancel()
		})
	}
	loop(func(i int) { _ = r.Pulse(context.Background(), 3*time.Millisecond) })
	loop(func(i int) {
		if i%2 == 0 {
			_ = r.Hold()
		} else {
			_ = r.Release()
		}
		_ = r.Held()
		time.Sleep(7 * time.Millisecond)
	})
	loop(func(i int) {
		if i%50 == 0 {
			out.SetErr(errors.New("flaky"))
			time.Sleep(time.Millisecond)
			out.SetErr(nil)
		}
		_ = r.State()
		_ = monitor.DoorOpen()
		time.Sleep(time.Millisecond)
	})
	wg.Wait()
	_ = r.Halt()
	_ = r.Close()
	_ = monitor.Close()
	if out.Active() {
		t.Fatal("line active after Close")
	}
	if bad.Load() > 0 {
		t.Fatalf("%d PulseNotify calls returned nil without calling energised", bad.Load())
	}
	t.Logf("%d energised callbacks, %d changes", pulses.Load(), changes.Load())
}
