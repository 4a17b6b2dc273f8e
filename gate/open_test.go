package gate_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// defaultIO is the io section's defaults (config.Default().IO), written
// out: gate takes plain values and knows nothing of the file.
func defaultIO() gate.IO {
	in := gate.InputLine{Debounce: 50 * time.Millisecond}
	return gate.IO{
		Relay:      gate.RelayLine{Driver: "sim", Chip: "gpiochip0", Line: "GPIO17", Pulse: time.Second, MaxPulse: 10 * time.Second},
		Door:       gate.Door{InputLine: in, HeldOpenAfter: 30 * time.Second, GrantGrace: 3 * time.Second},
		ExitButton: gate.ExitButton{InputLine: in},
		Tamper:     in,
	}
}

func simConfig() gate.IO {
	io := defaultIO()
	io.Relay.Driver = "sim"
	io.Door.Line = "door"
	io.ExitButton.Line = "exit"
	io.ExitButton.Pulse = 4 * time.Second
	io.Tamper.Line = "tamper"
	io.Green.Line = "green"
	return io
}

func TestOpenSimWiresGrantsAndExitButton(t *testing.T) {
	clk := gatetest.NewClock()
	g, err := gate.Open(simConfig(), gate.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sim := g.Sim()

	// Exit button: a local pulse of io.exit_button.pulse, and the door
	// opening during it is not forced.
	sim.SetInput("exit_button", true)
	if e := <-g.Events(); e.Kind != gate.ExitPressed {
		t.Fatalf("%v", e)
	}
	if !clk.WaitPending(1) || !sim.Level("relay") {
		t.Fatal("the exit button did not pulse the relay")
	}
	sim.SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorOpened {
		t.Fatalf("door during the exit pulse: %v", e)
	}
	clk.Advance(4 * time.Second)
	if sim.Level("relay") {
		t.Fatal("relay still active after the exit pulse")
	}
	if p := sim.Pulses(); len(p) != 1 || p[0].End.Sub(p[0].Start) != 4*time.Second {
		t.Fatalf("pulses %+v", p)
	}
	sim.SetInput("door", false)
	<-g.Events()

	// A grant through Relay.Pulse also tells the door monitor.
	done := make(chan error, 1)
	go func() { done <- g.Relay.Pulse(context.Background(), 0) }()
	if !clk.WaitPending(1) { // the relay's timer (the door is closed: no held-open timer)
		t.Fatal("the grant did not start")
	}
	sim.SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorOpened {
		t.Fatalf("door during a grant: %v", e)
	}
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	g.Indicator.Show(gate.PatternGranted)
	if !sim.Level("leds.green") {
		t.Fatal("green LED off")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if sim.Level("relay") || sim.Level("leds.green") || g.Relay.State() != gate.RelayHalted {
		t.Fatal("Close left outputs on")
	}
}

func TestOpenErrors(t *testing.T) {
	io := defaultIO()
	io.Relay.Driver = "bogus"
	if _, err := gate.Open(io, gate.Options{}); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("Open with a bad driver = %v", err)
	}
	io = defaultIO()
	if _, err := gate.OpenMonitor(io, gate.Options{}); err == nil || !strings.Contains(err.Error(), "no input") {
		t.Fatalf("OpenMonitor without inputs = %v", err)
	}
	io.Relay.Driver = "none"
	r, err := gate.OpenRelay(io.Relay, gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Pulse(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("none relay Pulse = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLineErrorMessage(t *testing.T) {
	tests := []struct {
		err  *gate.LineError
		want string
	}{
		{&gate.LineError{Role: "relay", Chip: "gpiochip9", Err: gate.ErrNoChip, Have: []string{"gpiochip0 [pinctrl-bcm2711, 58 lines]"}},
			`relay: chip "gpiochip9": no such GPIO chip (have: gpiochip0 [pinctrl-bcm2711, 58 lines])`},
		{&gate.LineError{Role: "relay", Chip: "pinctrl-rp1", Err: gate.ErrNoChip, Have: []string{}},
			`relay: chip "pinctrl-rp1": no such GPIO chip (there are none)`},
		{&gate.LineError{Role: "door", Chip: "gpiochip0", Line: "GPIO99", Err: gate.ErrNoLine, Have: []string{"0=GPIO0", "1=GPIO1"}},
			`door: chip "gpiochip0" line "GPIO99": no such GPIO line (have: 0=GPIO0, 1=GPIO1)`},
		{&gate.LineError{Role: "relay", Chip: "gpiochip0", Line: "17", Err: gate.ErrBusy, Consumer: "gpio-fan"},
			`relay: chip "gpiochip0" line "17": GPIO line busy (held by "gpio-fan")`},
		{&gate.LineError{Role: "relay", Chip: "gpiochip0", Err: gate.ErrPermission},
			`relay: chip "gpiochip0": permission denied on the GPIO chip: run as a member of the gpio group`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
		if !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("errors.Is(%v) false", tt.err.Err)
		}
	}
}

// A pulse whose line cannot be energised must not leave its grant with the
// door monitor: the door opening then is forced. A grant given before it
// stands.
func TestOpenSimFailedPulseWithdrawsItsGrant(t *testing.T) {
	type opening struct {
		at   time.Duration // after the failed pulse
		want gate.EventKind
	}
	tests := []struct {
		name    string
		granted time.Duration // Gate.Granted(now+granted) before the pulse; 0: none
		opens   []opening
	}{
		{"no earlier grant", 0, []opening{{0, gate.DoorForced}, {9 * time.Second, gate.DoorForced}}},
		// grant_grace is 3s: the earlier grant covers +5s, the failed
		// pulse's 8s would have covered +11s.
		{"earlier grant stands", 2 * time.Second, []opening{{4 * time.Second, gate.DoorOpened}, {6 * time.Second, gate.DoorForced}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := gatetest.NewClock()
			g, err := gate.Open(simConfig(), gate.Options{Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			sim := g.Sim()
			t0 := clk.Now()
			if tt.granted > 0 {
				g.Granted(t0.Add(tt.granted))
			}

			lineGone := errors.New("line gone")
			sim.FailOutput("relay", lineGone)
			if err := g.Relay.Pulse(context.Background(), 8*time.Second); !errors.Is(err, lineGone) {
				t.Fatalf("Pulse on a failing line = %v", err)
			}
			if sim.Level("relay") || len(sim.Pulses()) != 0 {
				t.Fatal("the failing line moved")
			}
			sim.FailOutput("relay", nil) // lets Close drive it inactive

			for _, o := range tt.opens {
				clk.Advance(t0.Add(o.at).Sub(clk.Now()))
				for _, w := range []struct {
					open bool
					want gate.EventKind
				}{{true, o.want}, {false, gate.DoorClosed}} {
					if err := sim.SetInput("door", w.open); err != nil {
						t.Fatal(err)
					}
					select {
					case e := <-g.Events():
						if e.Kind != w.want {
							t.Fatalf("door open=%v at +%s: %v, want %v", w.open, o.at, e, w.want)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("no door event")
					}
				}
			}
		})
	}
}

// Every change of the relay line is reported to Options.OnRelay, in order,
// whichever pulse moved it: energised once the line is, released once it is
// inactive again; an exit pulse that extends a grant's reports nothing.
func TestOpenSimReportsEveryRelayChange(t *testing.T) {
	clk := gatetest.NewClock()
	type report struct{ energised, line bool }
	reports := make(chan report, 10)
	var sim atomic.Pointer[gate.Sim]
	g, err := gate.Open(simConfig(), gate.Options{Clock: clk, OnRelay: func(on bool) {
		reports <- report{on, sim.Load().Level("relay")}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sim.Store(g.Sim())
	next := func(want bool) {
		t.Helper()
		select {
		case r := <-reports:
			if r.energised != want || r.line != want {
				t.Fatalf("reported energised=%v with the line at %v, want %v", r.energised, r.line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no report (want energised=%v)", want)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case r := <-reports:
			t.Fatalf("reported %+v %s (pulses %+v)", r, what, g.Sim().Pulses())
		case <-time.After(20 * time.Millisecond): // real time: lets the relay's goroutines run
		}
	}

	g.Sim().SetInput("exit_button", true)
	next(true)
	clk.Advance(4 * time.Second)
	next(false)
	g.Sim().SetInput("exit_button", false)

	// A grant's pulse is reported the same way; the exit pulse during it
	// extends it without a report; one release when the one pulse ends.
	done := make(chan error, 1)
	energised := make(chan struct{})
	go func() { done <- g.Relay.PulseNotify(context.Background(), 0, func() { close(energised) }) }()
	<-energised
	next(true)
	armed := clk.Armed()
	g.Sim().SetInput("exit_button", true)
	if !clk.WaitArmed(armed + 1) { // the exit pulse extended the grant's
		t.Fatal("the exit button's pulse did not reach the relay")
	}
	clk.Advance(time.Second)
	quiet("while the extended pulse lasts")
	clk.Advance(3 * time.Second)
	next(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := g.Sim().Pulses(); len(p) != 2 || p[1].End.Sub(p[1].Start) != 4*time.Second {
		t.Fatalf("pulses %+v", p)
	}

	// Close cuts a running pulse: its release is reported before Close returns.
	go func() { done <- g.Relay.Pulse(context.Background(), 0) }()
	next(true)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		if r.energised {
			t.Fatalf("after Close: %+v", r)
		}
	default:
		t.Fatal("the release by Close was not reported before Close returned")
	}
	<-done
}

// An exit press whose pulse fails is an event of its own, after the
// press's, with the error: the daemon records it and raises an alert.
func TestExitPulseFailureIsAnEvent(t *testing.T) {
	g, err := gate.Open(simConfig(), gate.Options{Clock: gatetest.NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.Sim().FailOutput("relay", errors.New("line lost"))
	g.Sim().SetInput("exit_button", true)
	if e := <-g.Events(); e.Kind != gate.ExitPressed {
		t.Fatalf("%v", e)
	}
	select {
	case e := <-g.Events():
		if e.Kind != gate.ExitPulseFailed || e.Err == nil || !strings.Contains(e.Err.Error(), "line lost") {
			t.Fatalf("%v (%v), want exit-pulse-failed with the error", e, e.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the failed exit pulse")
	}
}

// With HoldExitButton, a press before ArmExitButton neither pulses nor is
// an event (the daemon arms the button once it records events); after it,
// the button works as always.
func TestHeldExitButtonPulsesOnlyOnceArmed(t *testing.T) {
	clk := gatetest.NewClock()
	g, err := gate.Open(simConfig(), gate.Options{Clock: clk, HoldExitButton: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sim := g.Sim()
	sim.SetInput("exit_button", true)
	sim.SetInput("exit_button", false)
	sim.SetInput("door", true) // an event after the press: the press was handled by then
	if e := <-g.Events(); e.Kind != gate.DoorForced {
		t.Fatalf("%v, want only the door's event (forced: nothing let anyone through) before the button is armed", e)
	}
	if sim.Level("relay") || len(sim.Pulses()) != 0 {
		t.Fatalf("the relay pulsed before the exit button was armed: %+v", sim.Pulses())
	}
	sim.SetInput("door", false)
	<-g.Events()
	g.ArmExitButton()
	sim.SetInput("exit_button", true)
	if e := <-g.Events(); e.Kind != gate.ExitPressed {
		t.Fatalf("%v, want exit-pressed once armed", e)
	}
	if !clk.WaitPending(1) || !sim.Level("relay") {
		t.Fatal("the armed exit button did not pulse the relay")
	}
}
