package gate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// holdRig is a sim gate whose relay reports come on a channel.
type holdRig struct {
	g       *gate.Gate
	clk     *gatetest.Clock
	reports chan bool
}

func newHoldRig(t *testing.T) *holdRig {
	t.Helper()
	h := &holdRig{clk: gatetest.NewClock(), reports: make(chan bool, 10)}
	g, err := gate.Open(simConfig(), gate.Options{Clock: h.clk, OnRelay: func(on bool) { h.reports <- on }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	h.g = g
	return h
}

func (h *holdRig) next(t *testing.T, want bool) {
	t.Helper()
	select {
	case on := <-h.reports:
		if on != want || h.g.Sim().Level("relay") != want {
			t.Fatalf("reported %v with the line at %v, want %v", on, h.g.Sim().Level("relay"), want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no report (want %v)", want)
	}
}

func (h *holdRig) quiet(t *testing.T, what string) {
	t.Helper()
	select {
	case on := <-h.reports:
		t.Fatalf("reported %v %s", on, what)
	case <-time.After(20 * time.Millisecond): // real time: lets the relay's goroutine run
	}
}

// A hold keeps the line energised past any pulse limit, through pulses and
// door openings, until Release; both ends go through OnRelay.
func TestHoldUntilRelease(t *testing.T) {
	h := newHoldRig(t)
	g := h.g
	if err := g.Hold(); err != nil {
		t.Fatal(err)
	}
	h.next(t, true)
	if err := g.Hold(); err != nil { // twice is one hold
		t.Fatal(err)
	}
	h.clk.Advance(time.Hour)
	h.quiet(t, "during the hold")
	if !g.Relay.Held() || g.Relay.State() != gate.RelayActive || !g.Sim().Level("relay") {
		t.Fatalf("held %v state %v line %v", g.Relay.Held(), g.Relay.State(), g.Sim().Level("relay"))
	}
	// A grant during the hold: energised at once, returns at once, the line untouched.
	called := false
	if err := g.Relay.PulseNotify(context.Background(), time.Second, func() { called = true }); err != nil || !called {
		t.Fatalf("pulse during the hold: %v, energised called %v", err, called)
	}
	h.quiet(t, "after a pulse during the hold")
	// The door opened during the hold is not forced, even an hour in.
	g.Sim().SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorOpened {
		t.Fatalf("door during the hold: %v", e)
	}
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	h.next(t, false)
	if g.Relay.Held() || g.Relay.State() != gate.RelayIdle {
		t.Fatalf("after release: held %v state %v", g.Relay.Held(), g.Relay.State())
	}
	g.Sim().SetInput("door", false)
	if e := <-g.Events(); e.Kind != gate.DoorClosed {
		t.Fatalf("%v", e)
	}
	// Past the grace after the release, an opening is forced again.
	h.clk.Advance(10 * time.Second)
	g.Sim().SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorForced {
		t.Fatalf("door after the release: %v", e)
	}
	// Pulses work as before.
	done := make(chan error, 1)
	go func() { done <- g.Relay.Pulse(context.Background(), time.Second) }()
	h.next(t, true)
	h.clk.Advance(time.Second)
	h.next(t, false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := g.Release(); err != nil { // without a hold: nothing
		t.Fatal(err)
	}
	h.quiet(t, "after a release without a hold")
}

// A hold takes over a running pulse: the line never drops, the pulse's
// caller is done, and its timer no longer ends anything.
func TestHoldTakesOverAPulse(t *testing.T) {
	h := newHoldRig(t)
	done := make(chan error, 1)
	go func() { done <- h.g.Relay.Pulse(context.Background(), 2*time.Second) }()
	h.next(t, true)
	if err := h.g.Hold(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the taken-over pulse: %v", err)
	}
	h.clk.Advance(5 * time.Second)
	h.quiet(t, "when the taken-over pulse would have ended")
	if p := h.g.Sim().Pulses(); len(p) != 1 || !p[0].End.IsZero() {
		t.Fatalf("the line dropped: %+v", p)
	}
	if err := h.g.Release(); err != nil {
		t.Fatal(err)
	}
	h.next(t, false)
}

func TestHoldHaltAndFailures(t *testing.T) {
	// A line that cannot be driven at all: no hold, and a fault (it may
	// be stuck either way) that refuses the next hold too.
	dead := newHoldRig(t)
	dead.g.Sim().FailOutput("relay", errors.New("line lost"))
	if err := dead.g.Hold(); !errors.Is(err, gate.ErrRelayFault) || dead.g.Relay.Held() || dead.g.Relay.State() != gate.RelayFault {
		t.Fatalf("hold on a dead line: %v, held %v, state %v", err, dead.g.Relay.Held(), dead.g.Relay.State())
	}
	dead.quiet(t, "after a failed hold")
	if err := dead.g.Hold(); !errors.Is(err, gate.ErrRelayFault) {
		t.Fatalf("hold on a faulty relay: %v", err)
	}

	h := newHoldRig(t)
	if err := h.g.Hold(); err != nil {
		t.Fatal(err)
	}
	h.next(t, true)
	if err := h.g.Relay.Halt(); err != nil {
		t.Fatal(err)
	}
	h.next(t, false)
	if err := h.g.Hold(); !errors.Is(err, gate.ErrHalted) {
		t.Fatalf("hold after halt: %v", err)
	}
	if err := h.g.Release(); err != nil {
		t.Fatal(err)
	}
	h.quiet(t, "after release of a halted relay")
}

func TestAlarmInputOnSim(t *testing.T) {
	h := newHoldRig(t)
	a, err := h.g.OpenAlarm("fire_alarm", gate.AlarmLine{Line: "fire"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		active bool
		want   gate.EventKind
	}{{true, gate.FireAlarm}, {false, gate.FireAlarmCleared}, {true, gate.FireAlarm}} {
		if err := h.g.Sim().SetInput("fire_alarm", tt.active); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-a.Events():
			if e.Kind != tt.want || e.Err != nil {
				t.Fatalf("event %v, want %v", e, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no alarm event")
		}
	}
	// Closing the gate closes the alarm and its events.
	if err := h.g.Close(); err != nil {
		t.Fatal(err)
	}
	for range a.Events() {
	}
	if _, err := h.g.OpenAlarm("fire_alarm", gate.AlarmLine{}); err == nil {
		t.Fatal("an alarm without a line opened")
	}
}

// A fire alarm already on when the alarm is opened (the daemon restarting
// during a fire) is its first event, and only once.
func TestAlarmActiveAtOpen(t *testing.T) {
	h := newHoldRig(t)
	if err := h.g.Sim().SetInput("fire_alarm", true); err != nil {
		t.Fatal(err)
	}
	a, err := h.g.OpenAlarm("fire_alarm", gate.AlarmLine{Line: "fire"})
	if err != nil {
		t.Fatal(err)
	}
	next := func() gate.Event {
		t.Helper()
		select {
		case e := <-a.Events():
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no alarm event")
		}
		return gate.Event{}
	}
	if e := next(); e.Kind != gate.FireAlarm || !e.Time.Equal(h.clk.Now()) {
		t.Fatalf("first event %v, want fire-alarm at open", e)
	}
	// Only once: the next event is the change. (A repeated level is not
	// tried here: the sim sends no edge for it, so the Monitor's dropping
	// of repeats is TestAlarmInputsDropRepeats', with raw gatetest edges.)
	if err := h.g.Sim().SetInput("fire_alarm", false); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Kind != gate.FireAlarmCleared {
		t.Fatalf("%v, want fire-alarm-cleared", e)
	}
}

func TestAlarmNeedsADriverWithInputs(t *testing.T) {
	io := simConfig()
	io.Relay.Driver = "none"
	io.Door.Line, io.ExitButton.Line, io.Tamper.Line, io.Green.Line = "", "", "", ""
	g, err := gate.Open(io, gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	_, err = g.OpenAlarm("fire_alarm", gate.AlarmLine{Line: "fire"})
	if !errors.Is(err, gate.ErrNoLine) || !strings.Contains(err.Error(), `driver "none" has no inputs`) {
		t.Fatalf("driver none: %v", err)
	}
}

// Halting the relay during a hold ends the hold's grant too: a door
// opened after the grace reads as forced (the year-9999 grant used to stay,
// which turned forced-door detection off for good).
func TestHaltDuringHoldEndsTheGrant(t *testing.T) {
	h := newHoldRig(t)
	g := h.g
	if err := g.Hold(); err != nil {
		t.Fatal(err)
	}
	h.next(t, true)
	if err := g.Relay.Halt(); err != nil {
		t.Fatal(err)
	}
	h.next(t, false)
	h.clk.Advance(10 * time.Second)
	g.Sim().SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorForced {
		t.Fatalf("door after a halt during the hold: %v", e)
	}
}

// A hold whose line never energised leaves no grant behind.
func TestFailedHoldLeavesNoGrant(t *testing.T) {
	h := newHoldRig(t)
	g := h.g
	g.Sim().FailOutput("relay", errors.New("line lost"))
	if err := g.Hold(); err == nil {
		t.Fatal("hold on a dead line succeeded")
	}
	g.Sim().SetInput("door", true)
	if e := <-g.Events(); e.Kind != gate.DoorForced {
		t.Fatalf("door after a failed hold: %v", e)
	}
}

// Closing an alarm nobody reads does not hang: the Monitor under it gives
// up waiting for room.
func TestAlarmClosesUnread(t *testing.T) {
	// Not closed on failure: a hung Close would hang the test binary too.
	g, err := gate.Open(simConfig(), gate.Options{Clock: gatetest.NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.OpenAlarm("fire_alarm", gate.AlarmLine{Line: "fire"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // more than the events and edges buffers hold
		if err := g.Sim().SetInput("fire_alarm", i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	// Full: the monitor's goroutine now waits for room.
	require.Eventually(t, func() bool { return len(a.Events()) == cap(a.Events()) }, 5*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on unread events")
	}
	n := 0
	for e := range a.Events() {
		if e.Err != nil {
			t.Fatalf("event %+v", e)
		}
		n++
	}
	if n != cap(a.Events()) {
		t.Fatalf("%d events left after Close, want the %d buffered", n, cap(a.Events()))
	}
	if err := a.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

// A release that fails to drive the line inactive (a transient GPIO error)
// must be retryable: the evacuation wiring tries Release again every 5 s
// (cmd/facegate/wire_site.go relayRetryEvery). The retry, once the line can
// be driven again, must drive it inactive — not report success while the
// line is still energised and the gate unlocked.
func TestReleaseRetriedAfterAFailureDrivesTheLine(t *testing.T) {
	h := newHoldRig(t)
	if err := h.g.Hold(); err != nil {
		t.Fatal(err)
	}
	h.next(t, true)

	h.g.Sim().FailOutput("relay", errors.New("EIO"))
	if err := h.g.Release(); err == nil {
		t.Fatal("release on a failing line reported success")
	}
	if !h.g.Sim().Level("relay") {
		t.Fatal("test premise: the line should still be energised after the failed release")
	}

	h.g.Sim().FailOutput("relay", nil) // the line can be driven again
	err := h.g.Release()               // what the site wire's retry does
	if err == nil && h.g.Sim().Level("relay") {
		t.Fatalf("retried Release returned nil but the relay line is still energised (state %v, held %v): "+
			"the retry believes the gate is locked again while it stays unlocked", h.g.Relay.State(), h.g.Relay.Held())
	}
	if h.g.Sim().Level("relay") {
		t.Fatalf("relay line still energised after the retried release: %v", err)
	}
}
