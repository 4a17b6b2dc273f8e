package gate_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// fixture is a relay over a fake output and clock whose OnPulse tells the
// test that a Pulse call has started or extended the pulse.
type fixture struct {
	clk     *gatetest.Clock
	out     *gatetest.Output
	r       *gate.PulseRelay
	started chan time.Time
}

func newFixture(opt gate.RelayOptions) *fixture {
	f := &fixture{clk: gatetest.NewClock(), out: &gatetest.Output{}, started: make(chan time.Time, 100)}
	opt.Clock = f.clk
	if opt.OnPulse == nil {
		opt.OnPulse = func(u time.Time) { f.started <- u }
	}
	f.r = gate.NewRelay(f.out, opt)
	return f
}

// pulsing starts Pulse(ctx, d) in a goroutine and waits until it holds the
// line; the result arrives on the returned channel.
func (f *fixture) pulsing(t *testing.T, ctx context.Context, d time.Duration) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f.r.Pulse(ctx, d) }()
	select {
	case <-f.started:
	case err := <-done:
		t.Fatalf("Pulse returned at once: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Pulse did not start")
	}
	// OnPulse runs with the relay's lock held, before the line moves and
	// the timer is armed: taking the lock waits for both, or an Advance
	// could run before the timer exists (seen under qemu-user).
	f.r.State()
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Pulse did not return")
		return nil
	}
}

func notDone(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Pulse returned early: %v", err)
	default:
	}
}

func TestPulseDurations(t *testing.T) {
	tests := []struct {
		name      string
		opt       gate.RelayOptions
		ask, want time.Duration
	}{
		{"default 1s", gate.RelayOptions{}, 0, time.Second},
		{"configured default", gate.RelayOptions{Pulse: 3 * time.Second}, 0, 3 * time.Second},
		{"asked", gate.RelayOptions{}, 2500 * time.Millisecond, 2500 * time.Millisecond},
		{"clamped to default max 10s", gate.RelayOptions{}, time.Hour, 10 * time.Second},
		{"clamped to max", gate.RelayOptions{MaxPulse: 4 * time.Second}, 5 * time.Second, 4 * time.Second},
		{"max never above 60s", gate.RelayOptions{MaxPulse: 5 * time.Minute}, 5 * time.Minute, time.Minute},
		{"default above max is clamped", gate.RelayOptions{Pulse: 8 * time.Second, MaxPulse: 2 * time.Second}, 0, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.opt)
			clk, out, r := f.clk, f.out, f.r
			done := f.pulsing(t, context.Background(), tt.ask)
			if !out.Active() || r.State() != gate.RelayActive {
				t.Fatalf("during the pulse: active=%v state=%v", out.Active(), r.State())
			}
			clk.Advance(tt.want - time.Millisecond)
			notDone(t, done)
			if !out.Active() {
				t.Fatal("line inactive before the end of the pulse")
			}
			clk.Advance(time.Millisecond)
			if err := wait(t, done); err != nil {
				t.Fatalf("Pulse: %v", err)
			}
			if out.Active() || r.State() != gate.RelayIdle {
				t.Fatalf("after the pulse: active=%v state=%v", out.Active(), r.State())
			}
			if h := out.History(); !slices.Equal(h, []bool{true, false}) {
				t.Fatalf("levels %v, want [true false]", h)
			}
		})
	}
}

func TestPulseDuringPulseExtendsNeverToggles(t *testing.T) {
	tests := []struct {
		name        string
		first, then time.Duration
		at          time.Duration // when the second Pulse comes
		end         time.Duration // when both must have returned
	}{
		{"longer grant extends", time.Second, time.Second, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"shorter grant does not shorten", 5 * time.Second, time.Second, time.Second, 5 * time.Second},
		{"equal end", 2 * time.Second, time.Second, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(gate.RelayOptions{})
			clk, out := f.clk, f.out
			first := f.pulsing(t, context.Background(), tt.first)
			clk.Advance(tt.at)
			second := f.pulsing(t, context.Background(), tt.then)
			clk.Advance(tt.end - tt.at - time.Millisecond)
			notDone(t, first)
			notDone(t, second)
			clk.Advance(time.Millisecond)
			if err := wait(t, first); err != nil {
				t.Fatal(err)
			}
			if err := wait(t, second); err != nil {
				t.Fatal(err)
			}
			if h := out.History(); !slices.Equal(h, []bool{true, false}) {
				t.Fatalf("levels %v, want one pulse [true false]", h)
			}
		})
	}
}

func TestConcurrentGrantsMakeOnePulse(t *testing.T) {
	clk := gatetest.NewClock()
	out := &gatetest.Output{}
	var mu sync.Mutex
	var untils []time.Time
	r := gate.NewRelay(out, gate.RelayOptions{Clock: clk, OnPulse: func(u time.Time) {
		mu.Lock()
		untils = append(untils, u)
		mu.Unlock()
	}})
	const n = 20
	done := make(chan error, n)
	for range n {
		go func() { done <- r.Pulse(context.Background(), time.Second) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(untils)
		mu.Unlock()
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d pulses started", got, n)
		}
		time.Sleep(time.Millisecond) // waiting for goroutines, not for the clock
	}
	if p := clk.Pending(); p != 1 {
		t.Fatalf("%d timers pending, want 1", p)
	}
	clk.Advance(time.Second)
	for range n {
		if err := wait(t, done); err != nil {
			t.Fatal(err)
		}
	}
	if h := out.History(); !slices.Equal(h, []bool{true, false}) {
		t.Fatalf("levels %v, want one pulse [true false]", h)
	}
}

func TestCancelEndsPulseInactive(t *testing.T) {
	f := newFixture(gate.RelayOptions{})
	clk, out, r := f.clk, f.out, f.r
	ctx, cancel := context.WithCancel(context.Background())
	other := f.pulsing(t, context.Background(), 5*time.Second)
	done := f.pulsing(t, ctx, time.Second)
	clk.Advance(200 * time.Millisecond)
	cancel()
	if err := wait(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pulse = %v, want context.Canceled", err)
	}
	if err := wait(t, other); err != nil {
		t.Fatalf("the other waiter: %v, want nil (the pulse ended)", err)
	}
	if out.Active() || r.State() != gate.RelayIdle || clk.Pending() != 0 {
		t.Fatalf("after cancel: active=%v state=%v pending=%d", out.Active(), r.State(), clk.Pending())
	}
	// A cancelled context never starts a pulse.
	if err := r.Pulse(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pulse with a cancelled ctx = %v", err)
	}
	if h := out.History(); !slices.Equal(h, []bool{true, false}) {
		t.Fatalf("levels %v", h)
	}
}

func TestHalt(t *testing.T) {
	released := false
	var f *fixture
	f = newFixture(gate.RelayOptions{Release: func() error {
		if f.out.Active() {
			t.Error("released while active")
		}
		released = true
		return nil
	}})
	clk, out, r := f.clk, f.out, f.r
	done := f.pulsing(t, context.Background(), 5*time.Second)
	if err := r.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done); !errors.Is(err, gate.ErrHalted) {
		t.Fatalf("the halted Pulse = %v, want ErrHalted", err)
	}
	if out.Active() || r.State() != gate.RelayHalted || clk.Pending() != 0 {
		t.Fatalf("after Halt: active=%v state=%v pending=%d", out.Active(), r.State(), clk.Pending())
	}
	if err := r.Pulse(context.Background(), time.Second); !errors.Is(err, gate.ErrHalted) {
		t.Fatalf("Pulse after Halt = %v", err)
	}
	if err := r.Halt(); err != nil {
		t.Fatalf("second Halt: %v", err)
	}
	if err := r.Close(); err != nil || !released {
		t.Fatalf("Close = %v, released %v", err, released)
	}
	// Halt drives inactive even when idle: [on, off, off, off].
	if h := out.History(); !slices.Equal(h, []bool{true, false, false, false}) {
		t.Fatalf("levels %v", h)
	}
}

func TestFaults(t *testing.T) {
	broken := errors.New("EIO")
	t.Run("energise fails", func(t *testing.T) {
		out := &gatetest.Output{Err: broken}
		r := gate.NewRelay(out, gate.RelayOptions{Clock: gatetest.NewClock()})
		err := r.Pulse(context.Background(), time.Second)
		if !errors.Is(err, broken) || !errors.Is(err, gate.ErrRelayFault) {
			t.Fatalf("Pulse = %v", err)
		}
		if r.State() != gate.RelayFault {
			t.Fatalf("state %v", r.State())
		}
	})
	t.Run("de-energise fails", func(t *testing.T) {
		f := newFixture(gate.RelayOptions{})
		clk, out, r := f.clk, f.out, f.r
		done := f.pulsing(t, context.Background(), time.Second)
		out.SetErr(broken)
		clk.Advance(time.Second)
		if err := wait(t, done); !errors.Is(err, gate.ErrRelayFault) || !errors.Is(err, broken) {
			t.Fatalf("Pulse = %v, want ErrRelayFault", err)
		}
		if r.State() != gate.RelayFault {
			t.Fatalf("state %v", r.State())
		}
		if err := r.Pulse(context.Background(), time.Second); !errors.Is(err, gate.ErrRelayFault) {
			t.Fatalf("Pulse while faulty = %v", err)
		}
		if err := r.Halt(); !errors.Is(err, gate.ErrRelayFault) {
			t.Fatalf("Halt while still broken = %v", err)
		}
		out.SetErr(nil)
		if err := r.Halt(); err != nil || r.State() != gate.RelayHalted || out.Active() {
			t.Fatalf("Halt once repaired = %v, state %v, active %v", err, r.State(), out.Active())
		}
	})
}

func TestEnergiseFailureWithdrawsTheAnnouncedGrant(t *testing.T) {
	var told, withdrawn []time.Time
	f := newFixture(gate.RelayOptions{
		OnPulse:          func(u time.Time) { told = append(told, u) },
		OnEnergiseFailed: func(u time.Time) { withdrawn = append(withdrawn, u) },
	})
	f.out.SetErr(errors.New("line gone"))
	if err := f.r.Pulse(context.Background(), 2*time.Second); err == nil {
		t.Fatal("Pulse on a failing line succeeded")
	}
	want := []time.Time{f.clk.Now().Add(2 * time.Second)}
	if !slices.Equal(told, want) || !slices.Equal(withdrawn, want) {
		t.Fatalf("told %v, withdrawn %v, want both %v", told, withdrawn, want)
	}
}

// A pulse whose end fails to drive the line inactive twice in a row (a
// transient error) leaves the relay in RelayFault. The relay tries the
// line again (faultRetryEvery): before, nothing did until shutdown, and the
// gate stayed unlocked after the line could be driven again.
func TestStuckPulseIsDrivenInactiveAgain(t *testing.T) {
	f := newFixture(gate.RelayOptions{})
	done := f.pulsing(t, context.Background(), time.Second)
	f.out.SetErr(errors.New("EIO"))
	f.clk.Advance(time.Second)
	if err := wait(t, done); !errors.Is(err, gate.ErrRelayFault) {
		t.Fatalf("Pulse = %v, want ErrRelayFault", err)
	}
	if !f.out.Active() {
		t.Fatal("test premise: the line should still be energised")
	}
	f.out.SetErr(nil) // the transient error is over
	// Give the relay a generous time to try again (the site wire retries a
	// failed release every 5 s; a minute is far beyond any pulse).
	for i := 0; i < 60; i++ {
		f.clk.Advance(time.Second)
	}
	time.Sleep(20 * time.Millisecond) // let timer goroutines run
	if f.out.Active() {
		t.Fatalf("relay line still energised a minute after a 1 s pulse, with the line drivable again (state %v): "+
			"the gate stays unlocked until someone restarts the daemon", f.r.State())
	}
}

// Once a faulty line is driven inactive again, the relay goes back to
// where it was: idle (it pulses again, and says the line is inactive), or
// halted when a Halt was what failed.
func TestFaultyLineRecovers(t *testing.T) {
	t.Run("after a pulse", func(t *testing.T) {
		f, changes := faultyPulse(t)
		f.clk.Advance(3 * time.Second) // retries that fail too
		if f.r.State() != gate.RelayFault || !f.out.Active() {
			t.Fatalf("state %v, line %v while the line cannot be driven", f.r.State(), f.out.Active())
		}
		f.out.SetErr(nil)
		f.clk.Advance(time.Second)
		if f.r.State() != gate.RelayIdle || f.out.Active() {
			t.Fatalf("state %v, line %v once the line could be driven", f.r.State(), f.out.Active())
		}
		done := f.pulsing(t, context.Background(), time.Second)
		f.clk.Advance(time.Second)
		if err := wait(t, done); err != nil {
			t.Fatalf("a pulse after the fault: %v", err)
		}
		f.r.Close()
		if got := changes(); !slices.Equal(got, []bool{true, false, true, false}) {
			t.Fatalf("line changes %v", got)
		}
	})
	t.Run("after a halt", func(t *testing.T) {
		f := newFixture(gate.RelayOptions{})
		done := f.pulsing(t, context.Background(), time.Minute)
		f.out.SetErr(errors.New("EIO"))
		if err := f.r.Halt(); !errors.Is(err, gate.ErrRelayFault) {
			t.Fatalf("Halt = %v, want ErrRelayFault", err)
		}
		wait(t, done)
		f.out.SetErr(nil)
		f.clk.Advance(time.Second)
		if f.r.State() != gate.RelayHalted || f.out.Active() {
			t.Fatalf("state %v, line %v, want halted and inactive", f.r.State(), f.out.Active())
		}
		if err := f.r.Pulse(context.Background(), time.Second); !errors.Is(err, gate.ErrHalted) {
			t.Fatalf("Pulse after the halt = %v, want ErrHalted", err)
		}
	})
}

// A Halt (Close at shutdown) that drives a faulty line inactive before the
// fault retry did must say so like the retry does: OnChange false, or
// <prefix>/relay and the screen keep saying "open" (retained) for a line
// that is inactive.
func TestHaltOfAFaultyLineReportsItInactive(t *testing.T) {
	f, changes := faultyPulse(t)
	f.out.SetErr(nil)
	if err := f.r.Close(); err != nil { // Halt, before the retry's second
		t.Fatal(err)
	}
	if f.out.Active() {
		t.Fatal("line still active after Close")
	}
	if got := changes(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("line changes %v, want [true false]: the halt drove the line inactive without saying so", got)
	}
}

// faultyPulse is a fixture whose 1 s pulse could not drive its line
// inactive (the output fails with EIO until the test clears it), and the
// line changes the relay reported so far.
func faultyPulse(t *testing.T) (*fixture, func() []bool) {
	t.Helper()
	var changes []bool
	var mu sync.Mutex
	f := newFixture(gate.RelayOptions{OnChange: func(on bool) { mu.Lock(); changes = append(changes, on); mu.Unlock() }})
	done := f.pulsing(t, context.Background(), time.Second)
	f.out.SetErr(errors.New("EIO"))
	f.clk.Advance(time.Second)
	if err := wait(t, done); !errors.Is(err, gate.ErrRelayFault) {
		t.Fatalf("Pulse = %v, want ErrRelayFault", err)
	}
	return f, func() []bool { mu.Lock(); defer mu.Unlock(); return slices.Clone(changes) }
}
