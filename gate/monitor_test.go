package gate_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

func nextEvent(t *testing.T, m *gate.Monitor) gate.Event {
	t.Helper()
	select {
	case e, ok := <-m.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return gate.Event{}
}

func noEvent(t *testing.T, m *gate.Monitor) {
	t.Helper()
	select {
	case e := <-m.Events():
		t.Fatalf("unexpected event %v", e)
	case <-time.After(20 * time.Millisecond): // real time: lets the monitor goroutine run
	}
}

func TestDoorGrantedForcedClosed(t *testing.T) {
	clk := gatetest.NewClock()
	door := gatetest.NewInput(false)
	m := gate.NewMonitor(gate.Inputs{Door: door}, gate.MonitorOptions{Clock: clk, GrantGrace: 2 * time.Second})
	defer m.Close()

	t0 := clk.Now()
	door.Set(true, t0)
	if e := nextEvent(t, m); e.Kind != gate.DoorForced {
		t.Fatalf("opened with no grant: %v, want door-forced", e)
	}
	door.Set(false, t0.Add(time.Second))
	if e := nextEvent(t, m); e.Kind != gate.DoorClosed {
		t.Fatalf("%v, want door-closed", e)
	}

	m.Granted(t0.Add(10 * time.Second))
	tests := []struct {
		at   time.Duration
		want gate.EventKind
	}{
		{5 * time.Second, gate.DoorOpened},  // during the pulse
		{12 * time.Second, gate.DoorOpened}, // within the grace
		{13 * time.Second, gate.DoorForced}, // after it
	}
	for _, tt := range tests {
		door.Set(true, t0.Add(tt.at))
		if e := nextEvent(t, m); e.Kind != tt.want || !e.Time.Equal(t0.Add(tt.at)) {
			t.Fatalf("opened at +%s: %v, want %v", tt.at, e, tt.want)
		}
		door.Set(false, t0.Add(tt.at))
		nextEvent(t, m)
	}
	// A repeated level is not a new opening.
	door.Set(false, t0.Add(14*time.Second))
	noEvent(t, m)
}

func TestDoorHeldOpen(t *testing.T) {
	clk := gatetest.NewClock()
	door := gatetest.NewInput(false)
	m := gate.NewMonitor(gate.Inputs{Door: door}, gate.MonitorOptions{Clock: clk, HeldOpenAfter: 30 * time.Second})
	defer m.Close()

	door.Set(true, clk.Now())
	nextEvent(t, m)
	clk.Advance(29 * time.Second)
	noEvent(t, m)
	clk.Advance(time.Second)
	if e := nextEvent(t, m); e.Kind != gate.DoorHeldOpen {
		t.Fatalf("%v, want door-held-open", e)
	}
	clk.Advance(time.Minute) // reported once per opening
	noEvent(t, m)
	door.Set(false, clk.Now())
	nextEvent(t, m)

	// Closed in time: no held-open, and the old timer does not fire later.
	door.Set(true, clk.Now())
	nextEvent(t, m)
	clk.Advance(10 * time.Second)
	door.Set(false, clk.Now())
	nextEvent(t, m)
	clk.Advance(time.Minute)
	noEvent(t, m)
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left", clk.Pending())
	}
}

func TestDoorOpenAtStart(t *testing.T) {
	clk := gatetest.NewClock()
	door := gatetest.NewInput(true)
	m := gate.NewMonitor(gate.Inputs{Door: door}, gate.MonitorOptions{Clock: clk, HeldOpenAfter: 5 * time.Second})
	defer m.Close()
	if !clk.WaitPending(1) {
		t.Fatal("no held-open timer for a door open at start")
	}
	if !m.DoorOpen() {
		t.Fatal("DoorOpen false")
	}
	clk.Advance(5 * time.Second)
	if e := nextEvent(t, m); e.Kind != gate.DoorHeldOpen {
		t.Fatalf("%v", e)
	}
}

func TestExitButtonAndTamper(t *testing.T) {
	clk := gatetest.NewClock()
	exit := gatetest.NewInput(false)
	tamper := gatetest.NewInput(true)
	pressed := 0
	m := gate.NewMonitor(gate.Inputs{Exit: exit, Tamper: tamper},
		gate.MonitorOptions{Clock: clk, OnExit: func() bool { pressed++; return true }})

	if e := nextEvent(t, m); e.Kind != gate.TamperAlarm {
		t.Fatalf("tamper active at start: %v", e)
	}
	exit.Set(true, clk.Now())
	if e := nextEvent(t, m); e.Kind != gate.ExitPressed {
		t.Fatalf("%v", e)
	}
	exit.Set(false, clk.Now()) // release: nothing
	noEvent(t, m)
	tamper.Set(false, clk.Now())
	if e := nextEvent(t, m); e.Kind != gate.TamperCleared {
		t.Fatalf("%v", e)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if pressed != 1 {
		t.Fatalf("OnExit called %d times", pressed)
	}
	if !exit.Closed() || !tamper.Closed() {
		t.Fatal("Close did not close the inputs")
	}
	if _, ok := <-m.Events(); ok {
		t.Fatal("Events still open after Close")
	}
}

func TestDebounce(t *testing.T) {
	clk := gatetest.NewClock()
	raw := gatetest.NewInput(false)
	in := gate.Debounce(raw, 50*time.Millisecond, clk)

	// Bounces: the level settles on true only 50 ms after the last change.
	for i, v := range []bool{true, false, true, false, true} {
		raw.Set(v, clk.Now())
		if !clk.WaitArmed(i + 1) {
			t.Fatalf("bounce %d: no timer", i)
		}
		clk.Advance(10 * time.Millisecond)
	}
	clk.Advance(39 * time.Millisecond)
	select {
	case e := <-in.Edges():
		t.Fatalf("edge before the level was stable: %v", e)
	default:
	}
	clk.Advance(time.Millisecond)
	select {
	case e := <-in.Edges():
		if !e.Active {
			t.Fatalf("%v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no debounced edge")
	}
	if v, _ := in.Active(); !v {
		t.Fatal("Active false after the edge")
	}

	// A glitch shorter than the period is not reported.
	raw.Set(false, clk.Now())
	clk.WaitArmed(6)
	clk.Advance(20 * time.Millisecond)
	raw.Set(true, clk.Now())
	clk.WaitArmed(7)
	clk.Advance(time.Second)
	select {
	case e := <-in.Edges():
		t.Fatalf("glitch reported: %v", e)
	default:
	}

	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-in.Edges():
		if ok {
			t.Fatal("edge after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Edges not closed after Close")
	}
}

func TestWithdrawRestoresTheGrantBefore(t *testing.T) {
	t0 := gatetest.NewClock().Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name     string
		granted  []int // seconds after t0, in order
		withdraw int
		opensAt  int // grace is 1s
		want     gate.EventKind
	}{
		{"the only grant", []int{8}, 8, 1, gate.DoorForced},
		{"the one before is restored", []int{2, 8}, 8, 3, gate.DoorOpened},
		{"...and only it", []int{2, 8}, 8, 4, gate.DoorForced},
		{"a newer grant is kept", []int{8, 10}, 8, 11, gate.DoorOpened},
		{"a twice-given grant stays once", []int{8, 8}, 8, 9, gate.DoorOpened},
		{"an older grant below the newest", []int{2, 8, 5}, 8, 6, gate.DoorOpened},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			door := gatetest.NewInput(false)
			m := gate.NewMonitor(gate.Inputs{Door: door}, gate.MonitorOptions{Clock: gatetest.NewClock(), GrantGrace: time.Second})
			defer m.Close()
			for _, s := range tt.granted {
				m.Granted(at(s))
			}
			m.Withdraw(at(tt.withdraw))
			door.Set(true, at(tt.opensAt))
			if e := nextEvent(t, m); e.Kind != tt.want {
				t.Fatalf("opened at +%ds: %v, want %v", tt.opensAt, e, tt.want)
			}
		})
	}
}

// The fire alarm is one more input of the Monitor (Gate.OpenAlarm watches
// it through one): an alarm already on or unreadable at start is the first
// event, then every change of level is one.
func TestFireAlarmInput(t *testing.T) {
	tests := []struct {
		name  string
		on    bool
		err   error
		first gate.EventKind // 0: none
	}{
		{"off at start", false, nil, 0},
		{"on at start", true, nil, gate.FireAlarm},
		{"unreadable at start", false, errors.New("line gone"), gate.InputFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := gatetest.NewClock()
			fire := gatetest.NewInput(tt.on)
			fire.Err = tt.err
			m := gate.NewMonitor(gate.Inputs{FireAlarm: fire}, gate.MonitorOptions{Clock: clk})
			if tt.first != 0 {
				e := nextEvent(t, m)
				if e.Kind != tt.first || !e.Time.Equal(clk.Now()) {
					t.Fatalf("first event %v, want %v", e, tt.first)
				}
				if tt.err != nil && (!errors.Is(e.Err, tt.err) || !strings.HasPrefix(e.Err.Error(), "fire_alarm: ")) {
					t.Fatalf("fault %v, want fire_alarm: %v", e.Err, tt.err)
				}
			}
			noEvent(t, m)
			t0 := clk.Now()
			for i, active := range []bool{!tt.on, tt.on, !tt.on} {
				at := t0.Add(time.Duration(i) * time.Second)
				fire.Set(active, at)
				want := gate.FireAlarmCleared
				if active {
					want = gate.FireAlarm
				}
				if e := nextEvent(t, m); e.Kind != want || !e.Time.Equal(at) {
					t.Fatalf("level %v at +%ds: %v, want %v", active, i, e, want)
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if !fire.Closed() {
				t.Fatal("Close did not close the fire alarm input")
			}
			if _, ok := <-m.Events(); ok {
				t.Fatal("Events still open after Close")
			}
		})
	}
}

// Tamper and fire alarm report a change of level, not every edge: a
// repeat of the known level (an edge queued right after start, a bounce
// the driver let through) is dropped, as the door's is. A level unknown
// at start (unreadable) is reported whichever it turns out to be.
func TestAlarmInputsDropRepeats(t *testing.T) {
	inputs := alarmInputs
	starts := []struct {
		name  string
		on    bool
		err   error
		first bool // an event at start (on, or unreadable)
	}{
		{"off at start", false, nil, false},
		{"on at start", true, nil, true},
		{"unreadable at start", false, errors.New("line gone"), true},
	}
	for _, in := range inputs {
		for _, st := range starts {
			t.Run(in.name+"/"+st.name, func(t *testing.T) {
				clk := gatetest.NewClock()
				line := gatetest.NewInput(st.on)
				line.Err = st.err
				m := gate.NewMonitor(in.in(line), gate.MonitorOptions{Clock: clk})
				defer m.Close()
				if st.first {
					nextEvent(t, m)
				}
				kind := func(active bool) gate.EventKind {
					if active {
						return in.on
					}
					return in.off
				}
				t0 := clk.Now()
				// The level at start again: news only when it was unknown.
				line.Set(st.on, t0)
				if st.err != nil {
					if e := nextEvent(t, m); e.Kind != kind(st.on) {
						t.Fatalf("first edge after an unreadable start: %v, want %v", e, kind(st.on))
					}
				}
				noEvent(t, m)
				for i, active := range []bool{!st.on, !st.on, st.on, st.on} {
					line.Set(active, t0.Add(time.Duration(i+1)*time.Second))
					if i%2 == 1 {
						continue // a repeat: checked by the next event's kind
					}
					if e := nextEvent(t, m); e.Kind != kind(active) || !e.Time.Equal(t0.Add(time.Duration(i+1)*time.Second)) {
						t.Fatalf("edge %d (%v): %v, want %v", i, active, e, kind(active))
					}
				}
				noEvent(t, m)
			})
		}
	}
}

// unreadableAtStart starts a monitor on one input, at level on all along,
// that cannot be read (inputs places it, role names it), and takes the
// input-fault the monitor reports for it at start. o.Clock is set.
func unreadableAtStart(t *testing.T, role string, inputs func(*gatetest.Input) gate.Inputs, on bool, o gate.MonitorOptions) (*gatetest.Clock, *gatetest.Input, *gate.Monitor) {
	t.Helper()
	clk := gatetest.NewClock()
	line := gatetest.NewInput(on)
	line.Err = errors.New("line gone")
	o.Clock = clk
	m := gate.NewMonitor(inputs(line), o)
	t.Cleanup(func() { m.Close() })
	if e := nextEvent(t, m); e.Kind != gate.InputFault || e.Err == nil || !strings.HasPrefix(e.Err.Error(), role+": ") {
		t.Fatalf("first event %v, want %s input-fault", e, role)
	}
	return clk, line, m
}

func doorInput(i *gatetest.Input) gate.Inputs { return gate.Inputs{Door: i} }

// rereadCase is one way a line unreadable at start comes back.
type rereadCase struct {
	name     string
	on       bool // the level the line is at all along
	failures int  // re-reads that fail before one reads
}

// rereadCases are the ways a line unreadable at start comes back, named
// with what its active and inactive levels mean.
func rereadCases(active, inactive string) []rereadCase {
	return []rereadCase{
		{"stuck " + active + ", readable at the first re-read", true, 0},
		{"stuck " + active + ", readable at the third re-read", true, 2},
		{inactive + ", readable at the first re-read", false, 0},
		{inactive + ", readable at the third re-read", false, 2},
	}
}

// A tamper or fire alarm line unreadable at start may be stuck active: it
// then sends no edge, and only reading it again can start the evacuation.
// The monitor reads it every ReadRetry until it reads, reports an active
// level once (an inactive one is not news) and carries on with edges.
func TestAlarmInputReadAgainAfterFault(t *testing.T) {
	const retry = 3 * time.Second
	for _, in := range alarmInputs {
		for _, tc := range rereadCases("active", "inactive") {
			t.Run(in.name+"/"+tc.name, func(t *testing.T) {
				clk, line, m := unreadableAtStart(t, in.name, in.in, tc.on, gate.MonitorOptions{ReadRetry: retry})
				rereadUntilReadable(t, clk, line, tc.failures, retry)
				readAt := clk.Now()
				if tc.on {
					if e := nextEvent(t, m); e.Kind != in.on || !e.Time.Equal(readAt) {
						t.Fatalf("after the line read active: %v, want %v at the read", e, in.on)
					}
				}
				// Read once: no more re-reads, whatever the time.
				clk.Advance(time.Hour)
				if n := clk.Armed(); n != tc.failures+1 || clk.Pending() != 0 {
					t.Fatalf("%d re-reads scheduled (%d pending), want %d", n, clk.Pending(), tc.failures+1)
				}
				// Edges carry on from the level read: its repeat is no news
				// (the next event is the change after it), so the active
				// level is reported exactly once.
				t0 := clk.Now()
				line.Set(tc.on, t0)
				line.Set(!tc.on, t0.Add(time.Second))
				want := in.on
				if tc.on {
					want = in.off
				}
				if e := nextEvent(t, m); e.Kind != want || !e.Time.Equal(t0.Add(time.Second)) {
					t.Fatalf("after the read: %v, want %v at +1s", e, want)
				}
			})
		}
	}
}

// An edge while the line is unreadable tells its level: no re-read is
// needed any more, and one already due reports nothing.
func TestAlarmInputEdgeEndsReadAgain(t *testing.T) {
	for _, due := range []bool{false, true} {
		t.Run(map[bool]string{false: "pending", true: "due"}[due], func(t *testing.T) {
			clk, line, m := unreadableAtStart(t, "fire_alarm", func(i *gatetest.Input) gate.Inputs { return gate.Inputs{FireAlarm: i} }, false, gate.MonitorOptions{})
			if !clk.WaitPending(1) {
				t.Fatal("no re-read scheduled")
			}
			line.SetErr(nil)
			t0 := clk.Now()
			if due {
				// The re-read reads inactive before the edge is taken: no news.
				clk.Advance(2 * time.Second) // the default ReadRetry
			}
			line.Set(true, t0)
			if e := nextEvent(t, m); e.Kind != gate.FireAlarm || !e.Time.Equal(t0) {
				t.Fatalf("%v, want fire-alarm at the edge", e)
			}
			if !clk.WaitPending(0) {
				t.Fatal("a re-read is still scheduled after the edge")
			}
			clk.Advance(time.Hour)
			line.Set(false, t0.Add(time.Hour))
			if e := nextEvent(t, m); e.Kind != gate.FireAlarmCleared {
				t.Fatalf("%v, want fire-alarm-cleared", e)
			}
		})
	}
}

// Software debounce kept the first read's error for good, so a line that
// could not be read at start never read again, whatever the Monitor did.
func TestDebounceReadsAgainAfterAFailedRead(t *testing.T) {
	clk := gatetest.NewClock()
	raw := gatetest.NewInput(true)
	raw.Err = errors.New("line gone")
	in := gate.Debounce(raw, 50*time.Millisecond, clk)
	defer in.Close()
	if _, err := in.Active(); err == nil {
		t.Fatal("no error from an unreadable line")
	}
	raw.SetErr(nil)
	if v, err := in.Active(); err != nil || !v {
		t.Fatalf("readable again: %v, %v; want true", v, err)
	}
	// Known now: the level is the debounced one, not the raw line's.
	raw.SetErr(errors.New("line gone again"))
	if v, err := in.Active(); err != nil || !v {
		t.Fatalf("after a read: %v, %v; want the known level", v, err)
	}

	// A settled edge tells the level too, readable or not.
	raw2 := gatetest.NewInput(false)
	raw2.Err = errors.New("line gone")
	in2 := gate.Debounce(raw2, 50*time.Millisecond, clk)
	defer in2.Close()
	raw2.Set(true, clk.Now())
	if !clk.WaitArmed(1) {
		t.Fatal("no debounce timer")
	}
	clk.Advance(50 * time.Millisecond)
	select {
	case <-in2.Edges():
	case <-time.After(5 * time.Second):
		t.Fatal("no debounced edge")
	}
	if v, err := in2.Active(); err != nil || !v {
		t.Fatalf("after a settled edge: %v, %v; want true", v, err)
	}
}

// alarmInputs are the two alarm inputs and the events their levels give.
var alarmInputs = []struct {
	name    string
	in      func(*gatetest.Input) gate.Inputs
	on, off gate.EventKind
}{
	{"tamper", func(i *gatetest.Input) gate.Inputs { return gate.Inputs{Tamper: i} }, gate.TamperAlarm, gate.TamperCleared},
	{"fire_alarm", func(i *gatetest.Input) gate.Inputs { return gate.Inputs{FireAlarm: i} }, gate.FireAlarm, gate.FireAlarmCleared},
}

// A door contact unreadable at start may be stuck open: it then sends no
// edge, and without a read there is no held-open (or forced) detection.
// The monitor reads it every ReadRetry until it reads; found open, it is
// handled as a door open at start (no event, held-open timed from the
// read, reported once); found closed, nothing.
func TestDoorReadAgainAfterFault(t *testing.T) {
	const retry, held = 3 * time.Second, 10 * time.Second
	for _, tc := range rereadCases("open", "closed") {
		t.Run(tc.name, func(t *testing.T) {
			clk, door, m := unreadableAtStart(t, "door", doorInput, tc.on, gate.MonitorOptions{ReadRetry: retry, HeldOpenAfter: held})
			rereadUntilReadable(t, clk, door, tc.failures, retry)
			readAt := clk.Now()
			armed := tc.failures + 1
			if tc.on {
				armed++ // the held-open timer
				if !clk.WaitArmed(armed) {
					t.Fatal("no held-open timer for a door found open")
				}
				if !m.DoorOpen() {
					t.Fatal("DoorOpen false after the door read open")
				}
				noEvent(t, m) // found open is not an opening, as at start
				clk.Advance(held - time.Millisecond)
				noEvent(t, m)
				clk.Advance(time.Millisecond)
				if e := nextEvent(t, m); e.Kind != gate.DoorHeldOpen || !e.Time.Equal(readAt.Add(held)) {
					t.Fatalf("%v, want door-held-open at the read + %s", e, held)
				}
			}
			// Read once: no more re-reads, and held-open is reported once.
			clk.Advance(time.Hour)
			noEvent(t, m)
			if n := clk.Armed(); n != armed || clk.Pending() != 0 {
				t.Fatalf("%d timers armed (%d pending), want %d", n, clk.Pending(), armed)
			}
			if m.DoorOpen() != tc.on {
				t.Fatalf("DoorOpen %v, want %v", m.DoorOpen(), tc.on)
			}
			// Edges carry on from the level read: its repeat is no news.
			t0 := clk.Now()
			door.Set(tc.on, t0)
			door.Set(!tc.on, t0.Add(time.Second))
			want := gate.DoorClosed
			if !tc.on {
				want = gate.DoorForced
			}
			if e := nextEvent(t, m); e.Kind != want || !e.Time.Equal(t0.Add(time.Second)) {
				t.Fatalf("after the read: %v, want %v at +1s", e, want)
			}
		})
	}
}

// Held-open counts from the read that found the door open, not from when
// the monitor got to it: the read and the whole held time in one Advance
// give door-held-open at the read + HeldOpenAfter.
func TestDoorFoundOpenHeldFromTheRead(t *testing.T) {
	const retry, held = 2 * time.Second, 10 * time.Second
	clk, door, m := unreadableAtStart(t, "door", doorInput, true, gate.MonitorOptions{ReadRetry: retry, HeldOpenAfter: held})
	if !clk.WaitArmed(1) {
		t.Fatal("no re-read scheduled")
	}
	door.SetErr(nil)
	readAt := clk.Now().Add(retry)
	clk.Advance(retry + held)
	if !clk.WaitArmed(2) {
		t.Fatal("no held-open timer for a door found open")
	}
	clk.Advance(0) // runs the held-open timer if it was armed after the first Advance
	if e := nextEvent(t, m); e.Kind != gate.DoorHeldOpen || !e.Time.Equal(readAt.Add(held)) {
		t.Fatalf("%v, want door-held-open at the read + %s", e, held)
	}
}

// An edge while the door contact is unreadable tells its level: the
// re-reads stop, and the edge is reported whichever level it brings.
func TestDoorEdgeEndsReadAgain(t *testing.T) {
	const retry, held = 2 * time.Second, 10 * time.Second
	for _, open := range []bool{true, false} {
		t.Run(map[bool]string{true: "opened", false: "closed"}[open], func(t *testing.T) {
			clk, door, m := unreadableAtStart(t, "door", doorInput, !open, gate.MonitorOptions{ReadRetry: retry, HeldOpenAfter: held})
			if !clk.WaitArmed(1) {
				t.Fatal("no re-read scheduled")
			}
			clk.Advance(retry) // still unreadable: read again later
			if !clk.WaitArmed(2) {
				t.Fatal("no second re-read scheduled")
			}
			t0 := clk.Now()
			door.Set(open, t0)
			want, armed := gate.DoorClosed, 2
			if open {
				want, armed = gate.DoorForced, 3 // + the held-open timer
			}
			if e := nextEvent(t, m); e.Kind != want || !e.Time.Equal(t0) {
				t.Fatalf("%v, want %v at the edge", e, want)
			}
			if !clk.WaitPending(armed - 2) {
				t.Fatalf("%d timers pending after the edge, want %d", clk.Pending(), armed-2)
			}
			// Readable now and open: a re-read would time held-open again.
			door.SetErr(nil)
			clk.Advance(held)
			if open {
				if e := nextEvent(t, m); e.Kind != gate.DoorHeldOpen || !e.Time.Equal(t0.Add(held)) {
					t.Fatalf("%v, want door-held-open at the edge + %s", e, held)
				}
			}
			clk.Advance(time.Hour)
			noEvent(t, m)
			if n := clk.Armed(); n != armed {
				t.Fatalf("%d timers armed, want %d: a re-read after the edge", n, armed)
			}
		})
	}
}

// rereadUntilReadable lets the monitor re-read an unreadable line: the
// first failures re-reads fail, the next one reads. Each must be scheduled,
// and must not run before retry.
func rereadUntilReadable(t *testing.T, clk *gatetest.Clock, line *gatetest.Input, failures int, retry time.Duration) {
	t.Helper()
	for i := 0; i <= failures; i++ {
		if !clk.WaitArmed(i + 1) {
			t.Fatalf("re-read %d: not scheduled", i+1)
		}
		if i == failures {
			line.SetErr(nil)
		}
		clk.Advance(retry - time.Millisecond)
		if clk.Pending() != 1 {
			t.Fatalf("re-read %d: ran before ReadRetry", i+1)
		}
		clk.Advance(time.Millisecond) // the re-read is done when Advance returns
	}
}
