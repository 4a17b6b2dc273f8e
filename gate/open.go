package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"
)

// IO is every line Open requests: the relay and the optional inputs and
// outputs. An input or output is enabled by giving its line; an empty chip
// means the relay's. All of them use the relay's driver. Zero durations take
// the defaults of RelayOptions and MonitorOptions.
type IO struct {
	Relay      RelayLine
	Door       Door
	ExitButton ExitButton
	Tamper     InputLine
	Green, Red OutputLine // indicator lamps
	Buzzer     OutputLine
}

// RelayLine is the output that opens the gate.
type RelayLine struct {
	// Driver is gpiocdev, sim or none.
	Driver string
	// Chip is a name (gpiochip0), a label (pinctrl-bcm2711) or a path.
	Chip string
	// Line is an offset ("17") or a name ("GPIO17").
	Line      string
	ActiveLow bool
	Drive     string // push-pull ("" too), open-drain, open-source
	Bias      string // as-is ("" too), disabled, pull-up, pull-down
	Pulse     time.Duration
	MaxPulse  time.Duration
}

// InputLine is one input: active means door open, button pressed, tamper alarm.
type InputLine struct {
	Chip      string
	Line      string
	ActiveLow bool
	Bias      string
	// Debounce: a level must hold this long to count (0 turns it off).
	Debounce time.Duration
}

// Door is the door contact; see MonitorOptions for the durations.
type Door struct {
	InputLine
	HeldOpenAfter time.Duration
	GrantGrace    time.Duration
}

// ExitButton is the request-to-exit button: a press pulses the relay for
// Pulse (the relay's pulse when zero).
type ExitButton struct {
	InputLine
	Pulse time.Duration
}

// OutputLine is one indicator output (LED, buzzer).
type OutputLine struct {
	Chip      string
	Line      string
	ActiveLow bool
	Drive     string
}

// Options are what Open needs besides the lines.
type Options struct {
	Clock  Clock        // SystemClock when nil
	Logger *slog.Logger // discards when nil
	// OnRelay, when not nil, is the relay line's one observable route: true
	// once it is energised, false once it is inactive again, whatever pulse
	// moved it (a grant's, the exit button's, one cut by Halt or Close). No
	// false when the line could not be driven inactive (it may still be
	// energised) until the relay's retry or a Halt drives it so. Calls
	// come in order from a goroutine of the relay's, possibly before Open
	// returns, and never with a lock held (see
	// RelayOptions.OnChange); it must not call the Gate's Close.
	OnRelay func(energised bool)
	// HoldExitButton: the exit button pulses the relay only once
	// Gate.ArmExitButton was called. A press before that is logged and
	// dropped, not an event: a caller still starting (or failing to) has
	// nothing that would record the opening.
	HoldExitButton bool
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Gate is the relay with the optional inputs and indicators, wired together:
// every pulse counts as a grant for the door monitor (withdrawn when the
// line could not be energised), and the exit button pulses the relay; every
// change of the relay line is reported to Options.OnRelay.
type Gate struct {
	// Relay unlocks the gate; never nil.
	Relay *PulseRelay
	// Indicator shows granted/denied/error; never nil (it may have no outputs).
	Indicator *Indicator

	monitor  *Monitor // nil without inputs
	sim      *Sim     // nil unless driver sim
	cancel   context.CancelFunc
	releases []func() error
	// for OpenAlarm (alarm.go, inputDriver): the relay's driver and chip
	driver, chip string
	clock        Clock
	log          *slog.Logger
	alarms       []*Alarm
	exitArmed    atomic.Bool
}

// Open requests every line configured in cfg: the relay first, inactive, then
// inputs and indicators. On error nothing stays requested. Close the Gate on
// every exit path: it halts the relay before releasing anything.
func Open(cfg IO, o Options) (g *Gate, err error) {
	o.defaults()
	drv, sim, err := newDriver(cfg.Relay.Driver, o)
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	g = &Gate{sim: sim, cancel: cancel, driver: cfg.Relay.Driver, chip: cfg.Relay.Chip, clock: o.Clock, log: o.Logger}
	defer func() {
		if err != nil {
			g.Close()
			g = nil
		}
	}()

	var mon atomic.Pointer[Monitor] // set below; the exit button may pulse before Open returns
	g.Relay, err = openRelay(drv, cfg.Relay, o, func(until time.Time) {
		if m := mon.Load(); m != nil {
			m.Granted(until)
		}
	}, func(until time.Time) {
		// The line never energised: a door opening now is forced.
		if m := mon.Load(); m != nil {
			m.Withdraw(until)
		}
	})
	if err != nil {
		return g, err
	}

	var outs [3]Output
	for i, oc := range []struct {
		role string
		c    OutputLine
	}{{"leds.green", cfg.Green}, {"leds.red", cfg.Red}, {"buzzer", cfg.Buzzer}} {
		if oc.c.Line == "" {
			continue
		}
		out, release, err := drv.Output(lineSpec{Role: oc.role, Chip: chipOr(oc.c.Chip, cfg.Relay.Chip),
			Line: oc.c.Line, ActiveLow: oc.c.ActiveLow, Drive: oc.c.Drive})
		if err != nil {
			return g, err
		}
		outs[i] = out
		g.releases = append(g.releases, release)
	}
	g.Indicator = NewIndicator(outs[0], outs[1], outs[2], o.Clock)

	exitPulse := cfg.ExitButton.Pulse
	relay := g.Relay
	g.exitArmed.Store(!o.HoldExitButton)
	g.monitor, err = openMonitor(drv, cfg, o, func() bool {
		if !g.exitArmed.Load() {
			o.Logger.Warn("exit button pressed before the gate was ready: not pulsed")
			return false
		}
		at := o.Clock.Now()
		go func() {
			err := relay.Pulse(ctx, exitPulse)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrHalted) {
				o.Logger.Error("exit button pulse failed", "err", err)
				// An event like the press's: with a fail-secure strike
				// nobody was let out, and a person must hear of it.
				if m := mon.Load(); m != nil {
					m.report(Event{Time: at, Kind: ExitPulseFailed, Err: err})
				}
			}
		}()
		return true
	})
	if err != nil {
		return g, err
	}
	mon.Store(g.monitor)
	return g, nil
}

// OpenRelay requests only the relay (what `facegate relay pulse` needs).
// Close it on every exit path.
func OpenRelay(cfg RelayLine, o Options) (*PulseRelay, error) {
	o.defaults()
	drv, _, err := newDriver(cfg.Driver, o)
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	return openRelay(drv, cfg, o, nil, nil)
}

// OpenMonitor requests only the inputs (what `facegate relay watch` needs);
// every door opening is forced since it knows of no grant.
// It fails when cfg has no input.
func OpenMonitor(cfg IO, o Options) (*Monitor, error) {
	o.defaults()
	drv, _, err := newDriver(cfg.Relay.Driver, o)
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	m, err := openMonitor(drv, cfg, o, nil)
	if err == nil && m == nil {
		err = errors.New("no input is configured (io.door, io.exit_button, io.tamper)")
	}
	return m, err
}

// Events delivers input events; nil (never ready) when no input is configured.
func (g *Gate) Events() <-chan Event {
	if g.monitor == nil {
		return nil
	}
	return g.monitor.Events()
}

// Granted tells the door monitor the gate is unlocked until until by other
// means than Relay.Pulse (which tells it already, and withdraws its grant
// when the relay line could not be energised, so a door opened then is
// door-forced). A grant given here stands until until+GrantGrace.
func (g *Gate) Granted(until time.Time) {
	if g.monitor != nil {
		g.monitor.Granted(until)
	}
}

// Door is the door contact's level as last read (Monitor.Door); known is
// false without a door input.
func (g *Gate) Door() (open, known bool) {
	if g.monitor == nil {
		return false, false
	}
	return g.monitor.Door()
}

// ArmExitButton lets the exit button pulse the relay (Options.HoldExitButton):
// call it once something reads Events, so that every opening is recorded.
func (g *Gate) ArmExitButton() { g.exitArmed.Store(true) }

// Sim is the simulator behind a gate opened with driver sim, else nil.
func (g *Gate) Sim() *Sim { return g.sim }

// StopInputs stops watching the inputs (the relay and the indicators stay):
// Events is closed once the events already seen are in it. Close does it
// too; shutdown calls it first, after halting the relay, so that every
// exit press that pulsed is read before the audit log closes.
func (g *Gate) StopInputs() error {
	if g.monitor == nil {
		return nil
	}
	return g.monitor.Close()
}

// Close halts and releases the relay first, then the inputs and indicators.
func (g *Gate) Close() error {
	g.cancel()
	var errs []error
	if g.Relay != nil {
		errs = append(errs, g.Relay.Close())
	}
	if g.monitor != nil {
		errs = append(errs, g.monitor.Close())
	}
	for _, a := range g.alarms {
		errs = append(errs, a.Close())
	}
	if g.Indicator != nil {
		errs = append(errs, g.Indicator.Close())
	}
	for _, release := range g.releases {
		errs = append(errs, release())
	}
	return errors.Join(errs...)
}

func newDriver(name string, o Options) (driver, *Sim, error) {
	switch name {
	case "gpiocdev":
		d, err := newCdevDriver(o.Clock)
		return d, nil, err
	case "sim":
		s := NewSim(o.Clock, o.Logger)
		return s, s, nil
	case "none":
		return noneDriver{}, nil, nil
	}
	return nil, nil, fmt.Errorf("gate: driver %q is not gpiocdev, sim or none", name)
}

func openRelay(drv driver, cfg RelayLine, o Options, onPulse, onFail func(time.Time)) (*PulseRelay, error) {
	out, release, err := drv.Output(lineSpec{Role: "relay", Chip: cfg.Chip, Line: cfg.Line,
		ActiveLow: cfg.ActiveLow, Drive: cfg.Drive, Bias: cfg.Bias})
	if err != nil {
		return nil, err
	}
	o.Logger.Info("relay ready", "chip", cfg.Chip, "line", cfg.Line, "active_low", cfg.ActiveLow, "driver", cfg.Driver)
	return NewRelay(out, RelayOptions{Pulse: cfg.Pulse, MaxPulse: cfg.MaxPulse, Clock: o.Clock,
		Logger: o.Logger, OnPulse: onPulse, OnEnergiseFailed: onFail, Release: release, OnChange: o.OnRelay}), nil
}

// openMonitor opens the configured inputs; nil Monitor when there are none.
func openMonitor(drv driver, cfg IO, o Options, onExit func() bool) (*Monitor, error) {
	var in Inputs
	var opened []Input
	for _, ic := range []struct {
		role string
		c    InputLine
		dst  *Input
	}{{"door", cfg.Door.InputLine, &in.Door}, {"exit_button", cfg.ExitButton.InputLine, &in.Exit},
		{"tamper", cfg.Tamper, &in.Tamper}} {
		if ic.c.Line == "" {
			continue
		}
		i, err := openInput(drv, ic.role, ic.c, cfg.Relay.Chip)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return nil, err
		}
		*ic.dst = i
		opened = append(opened, i)
	}
	if len(opened) == 0 {
		return nil, nil
	}
	return NewMonitor(in, MonitorOptions{HeldOpenAfter: cfg.Door.HeldOpenAfter, GrantGrace: cfg.Door.GrantGrace,
		Clock: o.Clock, Logger: o.Logger, OnExit: onExit}), nil
}

// openInput requests one input line, debounced by the driver; an empty
// chip is the relay's.
func openInput(drv driver, role string, c InputLine, relayChip string) (Input, error) {
	return drv.Input(lineSpec{Role: role, Chip: chipOr(c.Chip, relayChip), Line: c.Line,
		ActiveLow: c.ActiveLow, Bias: c.Bias, Debounce: c.Debounce})
}

// inputDriver is the driver OpenAlarm requests its line from after Open:
// the gate's own simulator (so that Sim.SetInput drives the line; its Close
// does nothing), else a new driver of the relay's kind. Close it once the
// line is requested: the line stays held.
func (g *Gate) inputDriver() (driver, error) {
	if g.sim != nil {
		return g.sim, nil
	}
	drv, _, err := newDriver(g.driver, Options{Clock: g.clock, Logger: g.log})
	return drv, err
}

func chipOr(chip, def string) string {
	if chip == "" {
		return def
	}
	return chip
}
