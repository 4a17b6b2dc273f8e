package site

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

func TestApplyEventMovesAndIgnoresNonFacts(t *testing.T) {
	p, _ := newP(t, Options{})
	denied := ev("A", 2, time.Minute, "w1", "zone-b")
	denied.Decision = record.DecisionDenied
	noZone := ev("A", 3, time.Minute, "w1", "")
	noUser := ev("A", 4, time.Minute, "", "zone-b")
	notEnergised := ev("A", 5, time.Minute, "w1", "zone-b")
	notEnergised.Relay = record.RelayNotEnergised

	ch, err := p.ApplyEvent(ev("A", 1, 0, "w1", "site"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Move{{Person: "w1", From: Outside, To: "site", Since: t0}}
	if !reflect.DeepEqual(ch.Moves, want) {
		t.Fatalf("moves = %+v, want %+v", ch.Moves, want)
	}
	for _, e := range []record.Event{denied, noZone, noUser, notEnergised, ev("A", 1, 0, "w1", "site")} {
		ch, err := p.ApplyEvent(e)
		if err != nil || !ch.Empty() {
			t.Errorf("ApplyEvent(%s) = %+v, %v; want no change", e.EventID, ch, err)
		}
	}
	if z := zoneOf(p, "w1"); z != "site" {
		t.Fatalf("zone = %s, want site", z)
	}
	got := p.Person("w1")
	if got.Gate != "A" || got.EventID != "A-1" || !got.Since.Equal(t0) {
		t.Fatalf("Person = %+v", got)
	}
}

func TestApplyEventRejectsBadTimestamp(t *testing.T) {
	p, _ := newP(t, Options{})
	e := ev("A", 1, 0, "w1", "site")
	e.TS = "yesterday"
	if _, err := p.ApplyEvent(e); !errors.Is(err, ErrFact) {
		t.Fatalf("err = %v, want ErrFact", err)
	}
	e = ev("", 1, 0, "w1", "site")
	if _, err := p.ApplyEvent(e); !errors.Is(err, ErrFact) {
		t.Fatalf("no gate: err = %v, want ErrFact", err)
	}
}

func TestLastWriterWinsByTimestampThenGateThenSeq(t *testing.T) {
	tests := []struct {
		name string
		a, b record.Event
		want string
	}{
		{"later ts wins", ev("Z", 9, 0, "w1", "site"), ev("A", 1, time.Millisecond, "w1", "office"), "office"},
		{"same ms: greater gate wins", ev("A", 9, 0, "w1", "site"), ev("B", 1, 0, "w1", "office"), "office"},
		{"same ms and gate: greater seq wins", ev("A", 2, 0, "w1", "office"), ev("A", 1, 0, "w1", "site"), "office"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range [][]record.Event{{tc.a, tc.b}, {tc.b, tc.a}} {
				p, _ := newP(t, Options{})
				mustApply(t, p, order...)
				if z := zoneOf(p, "w1"); z != tc.want {
					t.Fatalf("order %s,%s: zone = %s, want %s", order[0].EventID, order[1].EventID, z, tc.want)
				}
			}
		})
	}
}

func TestRelayNotEnergisedReverts(t *testing.T) {
	fail := record.PulseResult{Kind: record.PulseKind, EventID: "B-1", TS: record.Timestamp(t0.Add(2 * time.Minute)),
		Gate: "B", Relay: record.RelayNotEnergised, Reason: "relay_failed"}
	first, second := ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b")

	t.Run("after the event", func(t *testing.T) {
		p, _ := newP(t, Options{})
		mustApply(t, p, first, second)
		ch, err := p.ApplyRelay(fail)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Moves) != 1 || ch.Moves[0].From != "zone-b" || ch.Moves[0].To != "site" {
			t.Fatalf("moves = %+v, want zone-b→site", ch.Moves)
		}
		mustApply(t, p, second) // a replay of the voided event
		if z := zoneOf(p, "w1"); z != "site" {
			t.Fatalf("zone = %s after replaying the voided event, want site", z)
		}
	})
	t.Run("before the event", func(t *testing.T) {
		p, _ := newP(t, Options{})
		if _, err := p.ApplyRelay(fail); err != nil {
			t.Fatal(err)
		}
		mustApply(t, p, second, first)
		if z := zoneOf(p, "w1"); z != "site" {
			t.Fatalf("zone = %s, want site", z)
		}
	})
	t.Run("the only fact: back outside", func(t *testing.T) {
		p, _ := newP(t, Options{})
		mustApply(t, p, second)
		if _, err := p.ApplyRelay(fail); err != nil {
			t.Fatal(err)
		}
		if z, n := zoneOf(p, "w1"), p.Len(); z != Outside || n != 0 {
			t.Fatalf("zone = %s, tracked %d; want outside, 0", z, n)
		}
	})
	t.Run("other outcomes keep the passage", func(t *testing.T) {
		for _, relay := range []string{record.RelayPulsed, record.RelayCut, record.RelayFault, record.RelayInterrupted} {
			p, _ := newP(t, Options{})
			mustApply(t, p, first, second)
			r := fail
			r.Relay = relay
			if ch, err := p.ApplyRelay(r); err != nil || !ch.Empty() {
				t.Fatalf("%s: %+v, %v", relay, ch, err)
			}
			if z := zoneOf(p, "w1"); z != "zone-b" {
				t.Fatalf("%s: zone = %s, want zone-b", relay, z)
			}
		}
	})
	t.Run("bad result", func(t *testing.T) {
		p, _ := newP(t, Options{})
		r := fail
		r.TS = "x"
		if _, err := p.ApplyRelay(r); !errors.Is(err, ErrFact) {
			t.Fatalf("err = %v, want ErrFact", err)
		}
		r = fail
		r.EventID = ""
		if _, err := p.ApplyRelay(r); !errors.Is(err, ErrFact) {
			t.Fatalf("err = %v, want ErrFact", err)
		}
	})
}

func TestCorrection(t *testing.T) {
	p, c := newP(t, Options{Gate: "office-pc"})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"))
	c.t = t0.Add(time.Hour)
	ch, err := p.Correct(Correction{Person: "w1", Zone: Outside, At: t0.Add(time.Hour), By: "jane", Reason: "left through the fire exit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Moves) != 1 || ch.Moves[0].To != Outside {
		t.Fatalf("moves = %+v", ch.Moves)
	}
	if got := p.Person("w1"); got.Gate != "office-pc" || got.EventID != "" {
		t.Fatalf("Person = %+v, want the correction's fact", got)
	}
	// A passage before the correction (replayed late) does not undo it; a
	// later one wins.
	mustApply(t, p, ev("B", 1, 30*time.Minute, "w1", "zone-b"))
	if z := zoneOf(p, "w1"); z != Outside {
		t.Fatalf("zone = %s, want outside", z)
	}
	c.t = t0.Add(2 * time.Hour)
	mustApply(t, p, ev("A", 2, 2*time.Hour, "w1", "site"))
	if z := zoneOf(p, "w1"); z != "site" {
		t.Fatalf("zone = %s, want site", z)
	}
	for _, c := range []Correction{
		{Zone: Outside, At: t0},
		{Person: "w1", Zone: "yard", At: t0},
		{Person: "w1", Zone: Outside},
	} {
		if _, err := p.Correct(c); !errors.Is(err, ErrFact) {
			t.Errorf("Correct(%+v) = %v, want ErrFact", c, err)
		}
	}
}

func TestDailyReset(t *testing.T) {
	p, c := newP(t, Options{ResetAt: "04:00", Location: time.UTC})
	// New ran Tick at 07:00: today's 04:00 reset is the floor.
	c.t = t0.Add(time.Hour)
	early := ev("A", 1, -4*time.Hour, "w0", "site") // 03:00, before the reset
	mustApply(t, p, early, ev("A", 2, 0, "w1", "site"), ev("B", 1, time.Hour, "w2", "zone-b"))
	if z := zoneOf(p, "w0"); z != Outside {
		t.Fatalf("a fact before the reset: zone = %s, want outside", z)
	}
	c.t = t0.Add(20 * time.Hour) // 03:00 next day: no reset yet
	if ch := p.Tick(c.t); !ch.Empty() {
		t.Fatalf("Tick before the reset time = %+v", ch)
	}
	c.t = t0.Add(21*time.Hour + time.Minute) // 04:01 next day
	ch := p.Tick(c.t)
	if len(ch.Moves) != 2 {
		t.Fatalf("moves = %+v, want w1 and w2 outside", ch.Moves)
	}
	for _, m := range ch.Moves {
		if m.To != Outside || !m.Since.Equal(t0.Add(21*time.Hour)) {
			t.Fatalf("move = %+v, want outside since 04:00", m)
		}
	}
	if p.Len() != 0 || p.Occupancy()["site"] != 0 {
		t.Fatalf("after reset: %d tracked, occupancy %v", p.Len(), p.Occupancy())
	}
	// A passage one millisecond after the reset wins over it.
	mustApply(t, p, ev("A", 3, 21*time.Hour+time.Millisecond, "w1", "site"))
	if z := zoneOf(p, "w1"); z != "site" {
		t.Fatalf("zone = %s, want site", z)
	}
	if ch := p.Tick(c.t); !ch.Empty() {
		t.Fatalf("second Tick = %+v, want nothing", ch)
	}
}

func TestOccupancyNotices(t *testing.T) {
	p, _ := newP(t, Options{})
	var got []Notice
	cancel := p.Subscribe(func(c Change) { got = append(got, c.Notices...) })
	mustApply(t, p, ev("B", 1, 0, "x1", "zone-b"))
	if len(got) != 0 {
		t.Fatalf("notices at 1/2 = %+v", got)
	}
	mustApply(t, p, ev("B", 2, time.Second, "x2", "zone-b"))
	want := []Notice{{Kind: NoticeOccupancyReached, Zone: "zone-b", Count: 2, Max: 2}}
	if len(got) != 1 || got[0].Message == "" {
		t.Fatalf("notices = %+v, want %+v", got, want)
	}
	got[0].Message = ""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notices = %+v, want %+v", got, want)
	}
	got = nil
	mustApply(t, p, ev("C", 1, time.Minute, "x1", "site"))
	if len(got) != 1 || got[0].Kind != NoticeOccupancyBelow || got[0].Count != 1 {
		t.Fatalf("notices = %+v, want occupancy_below 1/2", got)
	}
	if occ := p.Occupancy(); occ["site"] != 2 || occ["zone-b"] != 1 || occ["office"] != 0 {
		t.Fatalf("Occupancy = %v", occ)
	}
	in := p.Inside()
	if len(in["site"]) != 1 || in["site"][0].ID != "x1" || len(in["zone-b"]) != 1 || in["zone-b"][0].ID != "x2" {
		t.Fatalf("Inside = %+v", in)
	}
	cancel()
	got = nil
	mustApply(t, p, ev("B", 3, 2*time.Minute, "x3", "zone-b"))
	if got != nil {
		t.Fatalf("notified after cancel: %+v", got)
	}
}

func TestClockSkew(t *testing.T) {
	p, c := newP(t, Options{MaxFuture: 2 * time.Minute})
	// A gate whose clock is 10 minutes ahead: flagged and not applied
	// (applied, it outranked every later fact until real time reached it).
	fast := ev("fast", 1, 10*time.Minute, "w1", "site")
	ch, err := p.ApplyEvent(fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Notices) != 1 || ch.Notices[0].Kind != NoticeClockSkew || zoneOf(p, "w1") != Outside {
		t.Fatalf("change = %+v, zone %s; want clock_skew and not applied", ch, zoneOf(p, "w1"))
	}
	// Within the tolerance: applied, no notice.
	if ch, _ := p.ApplyEvent(ev("B", 1, time.Minute, "w2", "site")); len(ch.Notices) != 0 || zoneOf(p, "w2") != "site" {
		t.Fatalf("notices = %+v, w2 in %s", ch.Notices, zoneOf(p, "w2"))
	}
	// Once real time is near it (a later snapshot brings it again), it is.
	c.t = t0.Add(9 * time.Minute)
	if ch, err := p.ApplyEvent(fast); err != nil || len(ch.Notices) != 0 || zoneOf(p, "w1") != "site" {
		t.Fatalf("the same fact at 9 minutes: %+v, w1 in %s", ch, zoneOf(p, "w1"))
	}
	c.t = t0.Add(11 * time.Minute)
	mustApply(t, p, ev("C", 2, 11*time.Minute, "w1", Outside))
	if z := zoneOf(p, "w1"); z != Outside {
		t.Fatalf("zone = %s, want outside", z)
	}
	// A gate whose clock is behind loses to a later-stamped fact even if
	// its passage really came second.
	mustApply(t, p, ev("slow", 1, 10*time.Minute+59*time.Second, "w3", "site"), ev("D", 1, 11*time.Minute, "w3", "office"))
	if z := zoneOf(p, "w3"); z != "office" {
		t.Fatalf("zone = %s, want office", z)
	}
}

func TestUndeclaredZoneFromAPeer(t *testing.T) {
	// A peer with a newer configuration names a zone this gate does not
	// know: the person is tracked there (present, not outside), occupancy
	// of declared zones is unaffected.
	p, _ := newP(t, Options{})
	mustApply(t, p, ev("N", 1, 0, "w1", "yard"))
	if z := zoneOf(p, "w1"); z != "yard" {
		t.Fatalf("zone = %s", z)
	}
	if occ := p.Occupancy(); occ["site"] != 0 {
		t.Fatalf("Occupancy = %v", occ)
	}
	if l := p.MusterList(); len(l.Present) != 1 {
		t.Fatalf("present = %+v", l.Present)
	}
}
