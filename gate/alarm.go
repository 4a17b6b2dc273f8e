package gate

import (
	"errors"
	"sync"
	"time"
)

// AlarmLine is an input whose active level is an alarm: the fire panel's
// contact (io.fire_alarm). It is requested like every other input; an empty
// Chip means the relay's.
type AlarmLine = InputLine

// AlarmEvent is one change of an alarm input.
type AlarmEvent struct {
	Time   time.Time
	Active bool
	// Err is set (and Active meaningless) when the input could not be read.
	Err error
}

// Alarm watches one alarm input: a Monitor of that input alone (the same
// request, debounce and edge handling as the door's), its events told as
// AlarmEvents. Close it, or close the Gate, which closes it.
type Alarm struct {
	m      *Monitor
	events chan AlarmEvent
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// OpenAlarm requests an alarm input beside the gate's lines, with the
// relay's driver (sim: Sim.SetInput(role, …) drives it). role names the
// line in errors. The level at open is the first event when it is active
// (an alarm already on at start) or unreadable. The Gate closes it on Close.
func (g *Gate) OpenAlarm(role string, l AlarmLine) (*Alarm, error) {
	if l.Line == "" {
		return nil, errors.New("gate: alarm input has no line")
	}
	drv, err := g.inputDriver()
	if err != nil {
		return nil, err
	}
	defer drv.Close() // the line stays requested
	in, err := openInput(drv, role, l, g.chip)
	if err != nil {
		return nil, err
	}
	a := &Alarm{m: newMonitor(Inputs{FireAlarm: in}, MonitorOptions{Clock: g.clock, Logger: g.log}, role),
		events: make(chan AlarmEvent, 16), quit: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	g.alarms = append(g.alarms, a)
	return a, nil
}

// Events delivers the alarm's changes in order; closed after Close.
func (a *Alarm) Events() <-chan AlarmEvent { return a.events }

// run tells the monitor's events as AlarmEvents; it waits for room rather
// than lose a change, and Close unblocks it.
func (a *Alarm) run() {
	defer close(a.done)
	defer close(a.events)
	for e := range a.m.Events() {
		select {
		case a.events <- AlarmEvent{Time: e.Time, Active: e.Kind == FireAlarm, Err: e.Err}:
		case <-a.quit:
			return
		}
	}
}

// Close releases the input and closes Events. Safe to call more than once.
func (a *Alarm) Close() error {
	var err error
	a.once.Do(func() {
		close(a.quit)
		err = a.m.Close()
		<-a.done
	})
	return err
}
