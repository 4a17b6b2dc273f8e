package gate

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// AlarmLine is an input whose active level is an alarm: the fire panel's
// contact (io.fire_alarm). An empty Chip means the relay's chip.
type AlarmLine struct {
	Chip      string
	Line      string
	ActiveLow bool
	Bias      string
	// Debounce: a level must hold this long to count.
	Debounce time.Duration
}

// AlarmEvent is one change of an alarm input.
type AlarmEvent struct {
	Time   time.Time
	Active bool
	// Err is set (and Active meaningless) when the input could not be read.
	Err error
}

// Alarm watches one alarm input. Close it, or close the Gate, which
// closes it.
type Alarm struct {
	in     Input
	events chan AlarmEvent
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// OpenAlarm requests an alarm input beside the gate's lines, with the
// relay's driver (sim: Sim.SetInput(role, …) drives it). The level at open
// is the first event when it is active (an alarm already on at start) or
// unreadable. The Gate closes it on Close.
func (g *Gate) OpenAlarm(role string, l AlarmLine) (*Alarm, error) {
	if l.Line == "" {
		return nil, errors.New("gate: alarm input has no line")
	}
	spec := lineSpec{Role: role, Chip: chipOr(l.Chip, g.chip), Line: l.Line, ActiveLow: l.ActiveLow, Bias: l.Bias, Debounce: l.Debounce}
	var in Input
	var err error
	switch {
	case g.sim != nil:
		in, err = g.sim.Input(spec)
	case g.driver == "gpiocdev":
		var drv driver
		if drv, err = newCdevDriver(g.clock); err == nil {
			in, err = drv.Input(spec)
			drv.Close() // the line stays requested
		}
	default:
		err = &LineError{Role: role, Chip: spec.Chip, Line: spec.Line, Err: fmt.Errorf("%w: driver %q has no inputs", ErrNoLine, g.driver)}
	}
	if err != nil {
		return nil, err
	}
	a := &Alarm{in: in, events: make(chan AlarmEvent, 16), quit: make(chan struct{}), done: make(chan struct{})}
	var start []AlarmEvent
	now := g.clock.Now()
	if on, err := in.Active(); err != nil {
		start = append(start, AlarmEvent{Time: now, Err: fmt.Errorf("%s: %w", role, err)})
	} else if on {
		g.log.Warn("alarm input active at start", "role", role)
		start = append(start, AlarmEvent{Time: now, Active: true})
	}
	go a.run(start)
	g.alarms = append(g.alarms, a)
	return a, nil
}

// Events delivers the alarm's changes in order; closed after Close.
func (a *Alarm) Events() <-chan AlarmEvent { return a.events }

func (a *Alarm) run(start []AlarmEvent) {
	defer close(a.done)
	defer close(a.events)
	for _, e := range start {
		if !a.emit(e) {
			return
		}
	}
	for e := range a.in.Edges() {
		if !a.emit(AlarmEvent{Time: e.Time, Active: e.Active}) {
			return
		}
	}
}

// emit waits for room rather than lose a change; Close unblocks it.
func (a *Alarm) emit(e AlarmEvent) bool {
	select {
	case a.events <- e:
		return true
	case <-a.quit:
		return false
	}
}

// Close releases the input and closes Events. Safe to call more than once.
func (a *Alarm) Close() error {
	var err error
	a.once.Do(func() {
		close(a.quit)
		err = a.in.Close()
		<-a.done
	})
	return err
}
