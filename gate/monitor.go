package gate

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Inputs are the optional input lines; nil ones are not monitored.
type Inputs struct {
	Door   Input // active = door open
	Exit   Input // active = button pressed
	Tamper Input // active = enclosure opened / alarm
	// FireAlarm: active = the fire panel's alarm. Gate.OpenAlarm watches
	// it with a Monitor of its own.
	FireAlarm Input
}

// MonitorOptions tune NewMonitor; zero values take the defaults.
type MonitorOptions struct {
	// HeldOpenAfter: a door open this long is reported as DoorHeldOpen
	// (once per opening); 30 s when zero.
	HeldOpenAfter time.Duration
	// GrantGrace: the door may still open this long after a grant's pulse
	// ended without counting as forced; 3 s when zero.
	GrantGrace time.Duration
	// ReadRetry: a door, tamper or fire alarm input that cannot be read
	// at start is read again this often until it reads; 2 s when zero.
	ReadRetry time.Duration
	Clock     Clock
	Logger    *slog.Logger
	// OnExit is called when the exit button is pressed, from the monitor's
	// goroutine; it must not block (Open starts a relay pulse in a new
	// goroutine there). It reports whether the press opened: one that did
	// not (Options.HoldExitButton) is no ExitPressed event.
	OnExit func() bool
}

// Monitor turns input edges into Events: door opened (granted or forced),
// closed, held open; exit button; tamper; fire alarm. It is the one place
// that watches input lines: every input, whatever it means, goes through it.
// Door, tamper and fire events are changes: a repeat of the level last
// known is dropped. A door, tamper or fire alarm input unreadable at start
// is read again every ReadRetry until it reads (a line stuck active sends no
// edge, so only a read can tell).
type Monitor struct {
	in      Inputs
	opt     MonitorOptions
	log     *slog.Logger
	events  chan Event
	held    chan int     // generation of the held-open timer that fired
	retry   chan reading // an input read again
	outside chan Event   // an event found on another goroutine (report)
	quit    chan struct{}
	done    chan struct{}

	mu         sync.Mutex
	grantUntil time.Time // the door may open until then (+ GrantGrace)
	// grantBefore is the newest grant below grantUntil (or equal to it when
	// given twice): what Withdraw of grantUntil restores.
	grantBefore time.Time
	doorOpen    bool
	doorKnown   bool // the door's level was read (doorOpen is it)
	closeOnce   sync.Once

	// The watched inputs and the held-open timer (run's goroutine only,
	// set before it starts).
	door, tamper, fire watchedInput
	heldTimer          Timer
	heldGen            int
}

// reading is a re-read of an input whose level was unknown.
type reading struct {
	a   *watchedInput
	on  bool
	err error
	at  time.Time
}

// watchedInput is the door, tamper or fire alarm input as run watches it.
type watchedInput struct {
	role    string    // for messages: "door", "tamper", "fire_alarm"
	in      Input     // nil: not monitored
	on, off EventKind // the alarm's events; the door's are run's to choose
	// level is the last reported level: a repeat is no change. Unknown
	// while the line could not be read and no edge came.
	level level
	retry Timer // the pending re-read while level is unknown, else nil
}

// level is an input's last known level; unknown until read.
type level struct{ known, active bool }

// set records active and reports whether it is news: a change, or the
// first level known.
func (l *level) set(active bool) bool {
	if l.known && l.active == active {
		return false
	}
	l.known, l.active = true, active
	return true
}

// NewMonitor starts watching in. The caller must read Events (they are
// buffered, but the monitor waits for room rather than lose one) and Close
// the monitor, which closes the inputs and then Events.
func NewMonitor(in Inputs, o MonitorOptions) *Monitor {
	if o.HeldOpenAfter <= 0 {
		o.HeldOpenAfter = 30 * time.Second
	}
	if o.GrantGrace <= 0 {
		o.GrantGrace = 3 * time.Second
	}
	if o.ReadRetry <= 0 {
		o.ReadRetry = 2 * time.Second
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	m := &Monitor{in: in, opt: o, log: o.Logger, events: make(chan Event, 64),
		held: make(chan int), retry: make(chan reading), outside: make(chan Event), quit: make(chan struct{}), done: make(chan struct{}),
		door:   watchedInput{role: "door", in: in.Door},
		tamper: watchedInput{role: "tamper", in: in.Tamper, on: TamperAlarm, off: TamperCleared},
		fire:   watchedInput{role: "fire_alarm", in: in.FireAlarm, on: FireAlarm, off: FireAlarmCleared}}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The levels now, read before any edge is taken: an edge after this
	// point is a change from them. A door open at start is timed for
	// held-open (not an event); an alarm input already active is news: it
	// is reported as an edge would be. One unreadable is a fault (its level
	// unknown, not assumed), and run reads it again.
	var start []Event
	now := o.Clock.Now()
	for _, a := range []*watchedInput{&m.door, &m.tamper, &m.fire} {
		if a.in == nil {
			continue
		}
		on, err := a.in.Active()
		if err == nil {
			a.level.set(on)
			m.doorKnown = m.doorKnown || a == &m.door
		}
		switch {
		case err != nil:
			m.log.Warn("input unreadable at start: reading it again", "input", a.role, "every", o.ReadRetry, "err", err)
			start = append(start, Event{Time: now, Kind: InputFault, Err: fmt.Errorf("%s: %w", a.role, err)})
		case on && a == &m.door:
			m.doorOpen = true
		case on:
			m.log.Warn("alarm input active at start", "input", a.role)
			start = append(start, Event{Time: now, Kind: a.on})
		}
	}
	go m.run(start, now)
	return m
}

// Events delivers what the inputs did, in order; closed after Close.
func (m *Monitor) Events() <-chan Event { return m.events }

// Granted tells the monitor that the gate is unlocked until until, so the
// door opening before until+GrantGrace is DoorOpened, not DoorForced. The
// relay calls it on every pulse (RelayOptions.OnPulse), and Withdraw when
// the line could not be energised; call it yourself when the gate is
// unlocked by other means. Safe from any goroutine.
func (m *Monitor) Granted(until time.Time) {
	m.mu.Lock()
	switch {
	case until.After(m.grantUntil):
		m.grantBefore, m.grantUntil = m.grantUntil, until
	case until.After(m.grantBefore):
		m.grantBefore = until
	}
	m.mu.Unlock()
}

// Withdraw takes back Granted(until) when the gate was not unlocked after
// all (the relay calls it through RelayOptions.OnEnergiseFailed): if until
// is the newest grant, the one before it is in force again; a newer grant
// is kept. Withdrawing twice in a row may drop an older grant too, so a
// door then reads forced rather than granted. Safe from any goroutine.
func (m *Monitor) Withdraw(until time.Time) {
	m.mu.Lock()
	if until.Equal(m.grantUntil) {
		m.grantUntil, m.grantBefore = m.grantBefore, time.Time{}
	}
	m.mu.Unlock()
}

// DoorOpen reports the door's last known state (false without a door input).
func (m *Monitor) DoorOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doorOpen
}

// Door is the door's level as last read: known is false without a door
// input, or while it has not been read yet (unreadable at start).
func (m *Monitor) Door() (open, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doorOpen, m.doorKnown
}

// Close stops the monitor, closes the inputs, then Events.
func (m *Monitor) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.quit)
		for _, in := range []Input{m.in.Door, m.in.Exit, m.in.Tamper, m.in.FireAlarm} {
			if in != nil {
				if e := in.Close(); e != nil && err == nil {
					err = e
				}
			}
		}
		<-m.done
	})
	return err
}

func edgesOf(in Input) <-chan Edge {
	if in == nil {
		return nil // never ready in a select
	}
	return in.Edges()
}

// run watches the inputs; started is when NewMonitor read their levels.
func (m *Monitor) run(start []Event, started time.Time) {
	defer close(m.done)
	defer close(m.events)
	door, exit, tamper, fire := edgesOf(m.in.Door), edgesOf(m.in.Exit), edgesOf(m.in.Tamper), edgesOf(m.in.FireAlarm)
	defer func() {
		m.stopHeld()
		m.door.stopRetry()
		m.tamper.stopRetry()
		m.fire.stopRetry()
	}()

	if m.DoorOpen() {
		m.startHeld(started)
	}
	for _, a := range []*watchedInput{&m.door, &m.tamper, &m.fire} {
		if a.in != nil && !a.level.known {
			m.armRetry(a)
		}
	}
	for _, e := range start {
		m.emit(e)
	}

	for {
		select {
		case <-m.quit:
			return
		case e, ok := <-door:
			if !ok {
				door = nil
				continue
			}
			if !m.door.edge(e.Active) {
				continue // a repeat of the known level
			}
			m.setDoor(e.Active)
			if !e.Active {
				m.stopHeld()
				m.emit(Event{Time: e.Time, Kind: DoorClosed})
				continue
			}
			m.startHeld(m.opt.Clock.Now())
			kind := DoorOpened
			if m.forced(e.Time) {
				kind = DoorForced
				m.log.Debug("door forced open") // the daemon logs it, a line a minute at most
			}
			m.emit(Event{Time: e.Time, Kind: kind})
		case gen := <-m.held:
			if gen == m.heldGen && m.DoorOpen() {
				m.log.Warn("door held open", "after", m.opt.HeldOpenAfter)
				m.emit(Event{Time: m.opt.Clock.Now(), Kind: DoorHeldOpen})
			}
		case e, ok := <-exit:
			if !ok {
				exit = nil
				continue
			}
			if !e.Active {
				continue
			}
			if m.opt.OnExit != nil && !m.opt.OnExit() {
				continue
			}
			m.log.Info("exit button pressed: local pulse")
			m.emit(Event{Time: e.Time, Kind: ExitPressed})
		case e, ok := <-tamper:
			if !ok {
				tamper = nil
				continue
			}
			m.alarmEdge(&m.tamper, e)
		case e, ok := <-fire:
			if !ok {
				fire = nil
				continue
			}
			m.alarmEdge(&m.fire, e)
		case r := <-m.retry:
			m.reread(r)
		case e := <-m.outside:
			m.emit(e)
		}
	}
}

// report emits e, an event found outside run's goroutine (an exit pulse
// that failed), through run: after the event run is emitting now (the
// press's), and never on Events once they are closed; after Close it is
// dropped. Safe from any goroutine; it waits for run.
func (m *Monitor) report(e Event) {
	select {
	case m.outside <- e:
	case <-m.quit:
	}
}

// startHeld times a door open since from for held-open, from the time it
// was found open rather than when run got to it. Run's goroutine only.
func (m *Monitor) startHeld(from time.Time) {
	m.heldGen++
	gen := m.heldGen
	d := from.Add(m.opt.HeldOpenAfter).Sub(m.opt.Clock.Now())
	m.heldTimer = m.opt.Clock.AfterFunc(max(d, 0), func() {
		select {
		case m.held <- gen:
		case <-m.quit:
		}
	})
}

// stopHeld ends the held-open timing of the door. Run's goroutine only.
func (m *Monitor) stopHeld() {
	m.heldGen++ // a held-open timer already due is stale now
	if m.heldTimer != nil {
		m.heldTimer.Stop()
		m.heldTimer = nil
	}
}

// edge records a level an edge brought and reports whether it is news; a
// known level needs no more re-reads.
func (a *watchedInput) edge(active bool) bool {
	a.stopRetry()
	return a.level.set(active)
}

func (a *watchedInput) stopRetry() {
	if a.retry != nil {
		a.retry.Stop()
		a.retry = nil
	}
}

// armRetry schedules a re-read of a, whose level is unknown. The line is
// read in the timer's goroutine, so that once the clock has run the timer
// the level read is the one the line had then. Run's goroutine only.
func (m *Monitor) armRetry(a *watchedInput) {
	a.retry = m.opt.Clock.AfterFunc(m.opt.ReadRetry, func() {
		on, err := a.in.Active()
		select {
		case m.retry <- reading{a: a, on: on, err: err, at: m.opt.Clock.Now()}:
		case <-m.quit:
		}
	})
}

// reread takes a re-read of an input whose level was unknown (unreadable so
// far): still unreadable, it is read again later; readable and active, it
// is handled as if found so at start (a line stuck active sends no edge):
// an alarm is reported once, a door open is timed for held-open from the
// read; inactive is not news. Run's goroutine only.
func (m *Monitor) reread(r reading) {
	a := r.a
	a.retry = nil
	if a.level.known {
		return // an edge told it meanwhile (this re-read was already due)
	}
	if r.err != nil {
		m.log.Debug("input still unreadable", "input", a.role, "err", r.err)
		m.armRetry(a)
		return
	}
	a.level.set(r.on)
	if !r.on {
		m.log.Info("input readable again", "input", a.role)
		return
	}
	if a == &m.door {
		m.log.Warn("door open when read again")
		m.setDoor(true)
		m.startHeld(r.at)
		return
	}
	m.log.Warn("alarm input active when read again", "input", a.role)
	m.emit(Event{Time: r.at, Kind: a.on})
}

// alarmEdge reports a tamper or fire alarm edge, unless it repeats the
// known level. Run's goroutine only.
func (m *Monitor) alarmEdge(a *watchedInput, e Edge) {
	if !a.edge(e.Active) {
		return // a repeat of the known level
	}
	if e.Active && a == &m.tamper {
		// The fire alarm is not logged here: what it starts is the
		// receiver's to log.
		m.log.Warn("tamper alarm")
	}
	m.emit(Event{Time: e.Time, Kind: pick(e.Active, a.on, a.off)})
}

// pick is on for an active level, off for an inactive one.
func pick(active bool, on, off EventKind) EventKind {
	if active {
		return on
	}
	return off
}

// forced reports whether a door opening at t had no grant covering it.
func (m *Monitor) forced(t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grantUntil.IsZero() || t.After(m.grantUntil.Add(m.opt.GrantGrace))
}

func (m *Monitor) setDoor(open bool) {
	m.mu.Lock()
	m.doorOpen, m.doorKnown = open, true
	m.mu.Unlock()
}

// emit waits for room in Events rather than lose an event; Close unblocks
// it. With room, the event goes in even once Close began: an exit press
// handled just before (its pulse may have started) keeps its event.
func (m *Monitor) emit(e Event) {
	select {
	case m.events <- e:
		return
	default:
	}
	select {
	case m.events <- e:
	case <-m.quit:
	}
}
