package site

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

func ids(ps []Person) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestMusterMissingIsPresentMinusMustered(t *testing.T) {
	p, _ := newP(t, Options{})
	mustApply(t, p,
		ev("A", 1, 0, "w1", "site"), ev("A", 2, time.Second, "w2", "site"),
		ev("B", 1, 2*time.Second, "w3", "zone-b"), ev("A", 3, 3*time.Second, "w4", "site"),
		ev("C", 1, 4*time.Second, "w4", Outside))

	if l := p.MusterList(); l.Active || len(l.Present) != 3 || l.Missing != nil || l.Mustered != nil {
		t.Fatalf("before the evacuation: %+v", l)
	}
	var notices []Notice
	p.Subscribe(func(c Change) {
		if !c.Muster {
			t.Errorf("change without Muster: %+v", c)
		}
		notices = append(notices, c.Notices...)
	})
	if _, err := p.StartEvacuation(Evacuation{ID: "e1", Since: t0.Add(time.Minute), By: "gpio", Reason: "fire alarm"}); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || notices[0].Kind != NoticeEvacuationStarted || notices[0].EvacuationID != "e1" {
		t.Fatalf("notices = %+v", notices)
	}
	// The muster kiosk's granted event checks w1 off; a muster with no id
	// goes to the active evacuation.
	m := record.Event{EventID: "M-1", Seq: 1, TS: record.Timestamp(t0.Add(2 * time.Minute)), Gate: "M",
		Decision: record.DecisionGranted, UserID: "w1", Mode: record.ModeMuster, EvacuationID: "e1"}
	mustApply(t, p, m, m)
	if _, err := p.Muster("w3", "", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	l := p.MusterList()
	if !l.Active || len(l.Evacuations) != 1 || l.Evacuations[0].By != "gpio" {
		t.Fatalf("list = %+v", l)
	}
	if got := ids(l.Present); !slices.Equal(got, []string{"w1", "w2", "w3"}) {
		t.Fatalf("present = %v", got)
	}
	if got := ids(l.Missing); !slices.Equal(got, []string{"w2"}) {
		t.Fatalf("missing = %v, want [w2]", got)
	}
	if len(l.Mustered) != 2 || l.Mustered[0].Person != "w1" || l.Mustered[1].Person != "w3" || l.Mustered[1].EvacuationID != "e1" {
		t.Fatalf("mustered = %+v", l.Mustered)
	}
	// Mustered people stay present for occupancy.
	if occ := p.Occupancy(); occ["site"] != 3 {
		t.Fatalf("occupancy = %v", occ)
	}
	// The muster kiosk's check-in does not move the person.
	if z := zoneOf(p, "w1"); z != "site" {
		t.Fatalf("w1 in %s", z)
	}
	notices = nil
	if _, err := p.EndEvacuation("", t0.Add(time.Hour), "jane"); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || notices[0].Kind != NoticeEvacuationEnded {
		t.Fatalf("notices = %+v", notices)
	}
	if l := p.MusterList(); l.Active || l.Missing != nil {
		t.Fatalf("after the end: %+v", l)
	}
	if evs := p.Evacuations(); len(evs) != 1 || evs[0].Active() || evs[0].EndedBy != "jane" {
		t.Fatalf("Evacuations = %+v", evs)
	}
	// With none active, a muster without id does nothing.
	if ch, err := p.Muster("w2", "", t0.Add(2*time.Hour)); err != nil || !ch.Empty() {
		t.Fatalf("Muster = %+v, %v", ch, err)
	}
}

func TestMusterBeforeTheEvacuationIsKnown(t *testing.T) {
	// A muster kiosk's event may arrive before the evacuation's start fact.
	p, _ := newP(t, Options{})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"), ev("A", 2, 0, "w2", "site"))
	if _, err := p.Muster("w1", "e1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if l := p.MusterList(); l.Active || len(p.Evacuations()) != 0 {
		t.Fatalf("list = %+v", l)
	}
	if _, err := p.StartEvacuation(Evacuation{ID: "e1", Since: t0.Add(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := ids(p.MusterList().Missing); !slices.Equal(got, []string{"w2"}) {
		t.Fatalf("missing = %v", got)
	}
}

func TestOverlappingEvacuationsPoolCheckIns(t *testing.T) {
	p, _ := newP(t, Options{})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"), ev("A", 2, 0, "w2", "site"))
	for _, e := range []Evacuation{{ID: "a", Since: t0.Add(time.Minute)}, {ID: "b", Since: t0.Add(time.Minute + time.Second)}} {
		if _, err := p.StartEvacuation(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Muster("w1", "a", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Muster("w2", "", t0.Add(2*time.Minute)); err != nil { // goes to b, the latest
		t.Fatal(err)
	}
	l := p.MusterList()
	if len(l.Evacuations) != 2 || l.Missing != nil || len(l.Mustered) != 2 || l.Mustered[1].EvacuationID != "b" {
		t.Fatalf("list = %+v", l)
	}
	if _, err := p.EndEvacuation("a", t0.Add(time.Hour), "jane"); err != nil {
		t.Fatal(err)
	}
	if got := ids(p.MusterList().Missing); !slices.Equal(got, []string{"w1"}) {
		t.Fatalf("b alone: missing = %v, want [w1]", got)
	}
}

func TestEvacuationBadInput(t *testing.T) {
	p, _ := newP(t, Options{})
	for name, err := range map[string]error{
		"start without id":   second(p.StartEvacuation(Evacuation{Since: t0})),
		"start without time": second(p.StartEvacuation(Evacuation{ID: "x"})),
		"end without time":   second(p.EndEvacuation("x", time.Time{}, "")),
		"muster no person":   second(p.Muster("", "x", t0)),
	} {
		if !errors.Is(err, ErrFact) {
			t.Errorf("%s: %v, want ErrFact", name, err)
		}
	}
}

func second(_ Change, err error) error { return err }

// An ended evacuation must not start again when its start comes back a
// week later or more (the stale retained state re-delivered on a
// reconnect, a peer away since before the end): it would hold the relays.
// Its end outlives the week; only its check-ins go.
func TestPrunedEvacuationDoesNotComeBack(t *testing.T) {
	p, c := newP(t, Options{})
	x := Evacuation{ID: "x", Since: t0, By: "gpio", Reason: "fire alarm"}
	if _, err := p.StartEvacuation(x); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Muster("w1", "x", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EndEvacuation("x", t0.Add(time.Hour), "jane"); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(30 * 24 * time.Hour)
	p.Tick(c.t)
	es := p.Evacuations()
	if len(es) != 1 || es[0].ID != "x" || es[0].Active() {
		t.Fatalf("evacuations after a month = %+v, want x kept ended", es)
	}
	p.mu.Lock()
	n := len(p.evacs["x"].mustered)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d check-ins of an evacuation ended a month ago kept", n)
	}
	ch, err := p.StartEvacuation(x)
	if err != nil {
		t.Fatal(err)
	}
	if l := p.MusterList(); l.Active || len(ch.Notices) != 0 {
		t.Fatalf("stale start: active %v, notices %+v; want it to stay ended", l.Active, ch.Notices)
	}
	// A peer that has not pruned yet brings neither the start nor the
	// check-ins back.
	peer, pc := newP(t, Options{Gate: "B"})
	pc.t = c.t
	if _, err := peer.StartEvacuation(Evacuation{ID: "x", Since: t0, By: "gpio", Ended: t0.Add(time.Hour), EndedBy: "jane"}); err != nil {
		t.Fatal(err)
	}
	peer.mu.Lock()
	peer.evacs["x"].mustered["w1"] = t0.Add(time.Minute).UnixMilli()
	peer.mu.Unlock()
	if _, err := p.Merge(peer.Snapshot()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	n = len(p.evacs["x"].mustered)
	p.mu.Unlock()
	if n != 0 || p.MusterList().Active {
		t.Fatalf("after merging an unpruned peer: %d check-ins, active %v", n, p.MusterList().Active)
	}
}

// A gate that joins a site evacuating for more than a week learns the
// evacuation, from a peer's snapshot or from the retained state: only
// ended evacuations are pruned.
func TestLateGateLearnsOldActiveEvacuation(t *testing.T) {
	p, c := newP(t, Options{})
	if _, err := p.StartEvacuation(Evacuation{ID: "long", Since: t0, By: "gpio", Reason: "fire alarm"}); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(10 * 24 * time.Hour)
	p.Tick(c.t)
	if l := p.MusterList(); !l.Active {
		t.Fatal("the gate that knew it dropped an active evacuation after a week")
	}
	for name, learn := range map[string]func(*Presence) (Change, error){
		"snapshot": func(q *Presence) (Change, error) { return q.Merge(p.SnapshotOf("A")) },
		"retained": func(q *Presence) (Change, error) {
			return q.StartEvacuation(Evacuation{ID: "long", Since: t0, By: "gpio", Reason: "fire alarm"})
		},
	} {
		q, qc := newP(t, Options{Gate: "late"})
		qc.t = c.t
		q.Tick(qc.t)
		ch, err := learn(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		l := q.MusterList()
		if !l.Active || len(l.Evacuations) != 1 || l.Evacuations[0].ID != "long" || !l.Evacuations[0].Since.Equal(t0) {
			t.Errorf("%s: late gate's muster list = %+v, want long active since %s", name, l, t0)
		}
		if len(ch.Notices) != 1 || ch.Notices[0].Kind != NoticeEvacuationStarted {
			t.Errorf("%s: notices %+v, want evacuation_started", name, ch.Notices)
		}
		q.Tick(qc.t.Add(time.Minute))
		if !q.MusterList().Active {
			t.Errorf("%s: the late gate pruned the active evacuation", name)
		}
	}
}

// Ends older than a week are kept up to maxEndedEvacuations, the latest
// ends; ends within the week are all kept.
func TestEndedEvacuationsKeptUpToLimit(t *testing.T) {
	p, c := newP(t, Options{})
	n := maxEndedEvacuations + 6
	for i := range n {
		id := fmt.Sprintf("e%03d", i)
		at := t0.Add(time.Duration(i) * time.Hour)
		if _, err := p.StartEvacuation(Evacuation{ID: id, Since: at, Ended: at.Add(time.Minute), EndedBy: "jane"}); err != nil {
			t.Fatal(err)
		}
	}
	c.t = t0.Add(time.Duration(n)*time.Hour + 24*time.Hour)
	p.Tick(c.t)
	if got := len(p.Evacuations()); got != n {
		t.Fatalf("%d evacuations kept within the week, want all %d", got, n)
	}
	c.t = t0.Add(30 * 24 * time.Hour)
	p.Tick(c.t)
	es := p.Evacuations()
	if len(es) != maxEndedEvacuations || es[0].ID != "e006" || es[len(es)-1].ID != fmt.Sprintf("e%03d", n-1) {
		t.Fatalf("kept %d evacuations %+v, want the %d from e006", len(es), es, maxEndedEvacuations)
	}
}

// Check-ins of evacuations neither started nor ended are dropped a week
// after the newest of them; an end whose start never came is kept (it
// keeps that start from making the evacuation active if it comes late).
func TestIncompleteEvacuationsArePruned(t *testing.T) {
	p, c := newP(t, Options{})
	if _, err := p.Muster("w1", "ghost", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EndEvacuation("ghost-end", t0, "jane"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Muster("w2", "recent", t0.Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(8 * 24 * time.Hour)
	p.Tick(c.t)
	p.mu.Lock()
	var left []string
	for id := range p.evacs {
		left = append(left, id)
	}
	p.mu.Unlock()
	slices.Sort(left)
	if !slices.Equal(left, []string{"ghost-end", "recent"}) {
		t.Fatalf("evacuations kept = %v, want [ghost-end recent]", left)
	}
}

// A gate restarted during an evacuation older than a week still has it:
// the state file joins like a snapshot.
func TestRestartKeepsOldActiveEvacuation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p, c := newP(t, Options{StatePath: path})
	if _, err := p.StartEvacuation(Evacuation{ID: "long", Since: t0, By: "gpio"}); err != nil {
		t.Fatal(err)
	}
	c.t = t0.Add(10 * 24 * time.Hour)
	p.Tick(c.t)
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	q, _ := newP(t, Options{StatePath: path, Now: c.now})
	if l := q.MusterList(); !l.Active || len(l.Evacuations) != 1 || l.Evacuations[0].ID != "long" {
		t.Fatalf("after a restart ten days into the evacuation: %+v", l)
	}
}

// EvacuationEnded knows an end whether or not its start came: the site
// command sender asks it before sending a queued start.
func TestEvacuationEnded(t *testing.T) {
	p, _ := newP(t, Options{})
	if _, err := p.StartEvacuation(Evacuation{ID: "active", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.StartEvacuation(Evacuation{ID: "over", Since: t0, Ended: t0.Add(time.Minute), EndedBy: "jane"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.EndEvacuation("end-only", t0.Add(time.Minute), "jane"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"active": false, "over": true, "end-only": true, "unknown": false} {
		if got := p.EvacuationEnded(id); got != want {
			t.Errorf("EvacuationEnded(%q) = %v, want %v", id, got, want)
		}
	}
}
