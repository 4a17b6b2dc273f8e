package gate

import "errors"

// AlarmLine is an input whose active level is an alarm: the fire panel's
// contact (io.fire_alarm). It is requested like every other input; an empty
// Chip means the relay's.
type AlarmLine = InputLine

// Alarm watches one alarm input: a Monitor of that input alone (the same
// request, debounce and edge handling as the door's). Close it, or close
// the Gate, which closes it.
type Alarm struct{ m *Monitor }

// OpenAlarm requests an alarm input beside the gate's lines, with the
// relay's driver (sim: Sim.SetInput(role, …) drives it, also before the
// alarm is open). role names the line to the driver. The level at open is
// the first event when it is active (an alarm already on at start) or
// unreadable; an unreadable line is read again until it reads, and
// FireAlarm follows once if it reads active. The Gate closes it on Close.
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
	a := &Alarm{m: NewMonitor(Inputs{FireAlarm: in}, MonitorOptions{Clock: g.clock, Logger: g.log})}
	g.alarms = append(g.alarms, a)
	return a, nil
}

// Events delivers the alarm's changes in order: FireAlarm, FireAlarmCleared,
// and InputFault (Err says "fire_alarm: …") when the line cannot be read at
// open (then FireAlarm once it reads active; see Monitor).
// It is the Monitor's channel, closed after Close; read it, or the monitor
// waits for room (Close still ends it).
func (a *Alarm) Events() <-chan Event { return a.m.Events() }

// Close releases the input and closes Events. Safe to call more than once.
func (a *Alarm) Close() error { return a.m.Close() }
