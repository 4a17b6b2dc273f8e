package site

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// fullState is a presence with every kind of fact in it.
func fullState(t testing.TB) *Presence {
	p, _ := newP(t, Options{ResetAt: "04:00", Location: time.UTC})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b"),
		ev("A", 2, 2*time.Minute, "w2", "site"), ev("B", 2, 3*time.Minute, "w3", "zone-b"))
	if _, err := p.ApplyRelay(record.PulseResult{EventID: "B-2", TS: record.Timestamp(t0.Add(3 * time.Minute)), Relay: record.RelayNotEnergised}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Correct(Correction{Person: "w4", Zone: "office", At: t0.Add(4 * time.Minute), By: "jane"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.StartEvacuation(Evacuation{ID: "e1", Since: t0.Add(5 * time.Minute), By: "gpio", Reason: "fire"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Muster("w1", "e1", t0.Add(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Muster("w9", "e2", t0.Add(6*time.Minute)); err != nil { // e2 not started (yet)
		t.Fatal(err)
	}
	return p
}

func TestSnapshotRoundTrip(t *testing.T) {
	p := fullState(t)
	b := p.Snapshot()
	q, _ := newP(t, Options{ResetAt: "04:00", Location: time.UTC})
	ch, err := q.Merge(b)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Muster || len(ch.Moves) != 3 {
		t.Fatalf("merge change = %+v", ch)
	}
	persons := []string{"w1", "w2", "w3", "w4", "w9"}
	if got, want := describe(q, persons), describe(p, persons); got != want {
		t.Fatalf("merged:\n%s\nwant:\n%s", got, want)
	}
	if got := string(q.Snapshot()); got != string(b) { // same site and gate name: the same bytes
		t.Fatalf("re-encoded snapshot differs:\n%s\n%s", got, b)
	}
	// The voided event stays voided in the receiver.
	mustApply(t, q, ev("B", 2, 3*time.Minute, "w3", "zone-b"))
	if z := zoneOf(q, "w3"); z != Outside {
		t.Fatalf("w3 in %s, want outside (voided)", z)
	}
	// The muster of the unknown evacuation travelled too.
	if _, err := q.StartEvacuation(Evacuation{ID: "e2", Since: t0.Add(7 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range q.MusterList().Mustered {
		found = found || m.Person == "w9" && m.EvacuationID == "e2"
	}
	if !found {
		t.Fatalf("w9's check-in for e2 was lost: %+v", q.MusterList().Mustered)
	}
}

func TestMergeRefuses(t *testing.T) {
	good := string(fullState(t).Snapshot())
	tests := []struct {
		name, snap string
		want       error
	}{
		{"not json", "{", ErrSnapshot},
		{"trailing data", good + "{}", ErrSnapshot},
		{"trailing bracket", good + "]", ErrSnapshot},
		{"site given twice", strings.Replace(good, `"site":"plant"`, `"site":"depot","SITE":"plant"`, 1), ErrSnapshot},
		{"format", strings.Replace(good, SnapshotFormat, "other", 1), ErrSnapshot},
		{"newer version", strings.Replace(good, `"version":1`, `"version":2`, 1), ErrSnapshotVersion},
		{"version 0", strings.Replace(good, `"version":1`, `"version":0`, 1), ErrSnapshot},
		{"other site", strings.Replace(good, `"site":"plant"`, `"site":"depot"`, 1), ErrSnapshot},
		{"bad ts", strings.Replace(good, `"ts":"2026-03-02T07:00:00.000Z"`, `"ts":"07:00"`, 1), ErrSnapshot},
		{"1970", strings.Replace(good, `"ts":"2026-03-02T07:00:00.000Z"`, `"ts":"1970-01-01T00:00:00Z"`, 1), ErrSnapshot},
		{"no zone", strings.Replace(good, `"zone":"zone-b"`, `"zone":""`, 1), ErrSnapshot},
		{"no user", strings.Replace(good, `"user_id":"w1"`, `"user_id":""`, 1), ErrSnapshot},
		{"long name", strings.Replace(good, `"user_id":"w1"`, `"user_id":"`+strings.Repeat("x", 300)+`"`, 1), ErrSnapshot},
		{"evacuation without id", strings.Replace(good, `"id":"e1"`, `"id":""`, 1), ErrSnapshot},
		{"bad muster time", strings.Replace(good, `"w9":"2026-03-02T07:06:00.000Z"`, `"w9":"x"`, 1), ErrSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.snap == good {
				t.Fatal("the replacement did not apply: fix the test")
			}
			p, _ := newP(t, Options{})
			ch, err := p.Merge([]byte(tc.snap))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Merge = %v, want %v", err, tc.want)
			}
			if !ch.Empty() || p.Len() != 0 || len(p.Evacuations()) != 0 {
				t.Fatalf("a refused snapshot changed the presence: %+v", ch)
			}
		})
	}
}

// FuzzMerge: a peer's snapshot is outside input. Whatever it is, Merge
// either refuses it whole or applies it; applying it again changes nothing,
// and what it applied survives a snapshot round trip.
func FuzzMerge(f *testing.F) {
	f.Add(fullState(f).Snapshot())
	f.Add([]byte(`{"format":"facegate-site-presence","version":1,"persons":[]}`))
	f.Add([]byte(`{"format":"facegate-site-presence","version":1,"reset":"2026-03-02T04:00:00.000Z","persons":[{"user_id":"a","zone":"site","ts":"2026-03-02T07:00:00Z","gate":"A","prev":{"zone":"outside","ts":"2026-03-02T06:00:00Z","gate":"B"}}],"voided":[{"event_id":"x","ts":"2026-03-02T07:00:00Z"}],"evacuations":[{"id":"e","since":"2026-03-02T07:00:00Z","mustered":{"a":"2026-03-02T07:01:00Z"}}]}`))
	f.Add([]byte(`{"format":"facegate-site-presence","version":9}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _ := newP(t, Options{})
		if _, err := p.Merge(b); err != nil {
			if !errors.Is(err, ErrSnapshot) && !errors.Is(err, ErrSnapshotVersion) {
				t.Fatalf("Merge error %v is neither ErrSnapshot nor ErrSnapshotVersion", err)
			}
			if p.Len() != 0 {
				t.Fatal("a refused snapshot changed the presence")
			}
			return
		}
		if ch, err := p.Merge(b); err != nil || len(ch.Moves) != 0 || ch.Muster {
			t.Fatalf("merging again = %+v, %v", ch, err)
		}
		q, _ := newP(t, Options{})
		if _, err := q.Merge(p.Snapshot()); err != nil {
			t.Fatalf("our own snapshot does not merge: %v", err)
		}
		if p.Len() != q.Len() {
			t.Fatalf("round trip: %d persons, then %d", p.Len(), q.Len())
		}
	})
}

func TestResetFromTheFutureIsNotAdopted(t *testing.T) {
	fast, _ := newP(t, Options{ResetAt: "04:00", Location: time.UTC})
	fast.Tick(t0.Add(22 * time.Hour)) // its clock says 05:00 tomorrow
	p, c := newP(t, Options{})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"))
	ch, err := p.Merge(fast.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Notices) != 1 || ch.Notices[0].Kind != NoticeClockSkew || zoneOf(p, "w1") != "site" {
		t.Fatalf("change = %+v, w1 in %s: want a clock_skew notice and w1 still in site", ch, zoneOf(p, "w1"))
	}
	c.t = t0.Add(21*time.Hour + time.Minute) // real time reaches it: adopted
	if _, err := p.Merge(fast.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if z := zoneOf(p, "w1"); z != Outside {
		t.Fatalf("w1 in %s after the reset time, want outside", z)
	}
}

// A peer's fact from the future is flagged and left out at each merge
// while it is ahead, and joined by the first merge after real time came
// near it.
func TestClockSkewFactWaitsForItsTime(t *testing.T) {
	peer, pc := newP(t, Options{Gate: "B"})
	pc.t = t0.Add(time.Hour)
	mustApply(t, peer, ev("B", 1, time.Hour, "w1", "site"))
	p, c := newP(t, Options{MaxFuture: 2 * time.Minute})
	for i, tc := range []struct {
		at      time.Duration
		notices int
		zone    string
	}{{0, 1, Outside}, {30 * time.Minute, 1, Outside}, {59 * time.Minute, 0, "site"}, {time.Hour, 0, "site"}} {
		c.t = t0.Add(tc.at)
		ch, err := p.Merge(peer.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Notices) != tc.notices || zoneOf(p, "w1") != tc.zone {
			t.Fatalf("merge %d at %v: notices %+v, w1 in %s; want %d notices, %s", i+1, tc.at, ch.Notices, zoneOf(p, "w1"), tc.notices, tc.zone)
		}
	}
}

// marshal sorts what collect gathered unsorted under the lock.
func TestMarshalSorts(t *testing.T) {
	s := &snapshot{Format: SnapshotFormat, Version: SnapshotVersion,
		Persons:     []snapFact{{UserID: "b"}, {UserID: "a"}, {UserID: "c"}},
		Voided:      []snapVoid{{EventID: "v2"}, {EventID: "v1"}},
		Evacuations: []snapEvac{{ID: "e2"}, {ID: "e1"}}}
	want := &snapshot{Format: SnapshotFormat, Version: SnapshotVersion,
		Persons:     []snapFact{{UserID: "a"}, {UserID: "b"}, {UserID: "c"}},
		Voided:      []snapVoid{{EventID: "v1"}, {EventID: "v2"}},
		Evacuations: []snapEvac{{ID: "e1"}, {ID: "e2"}}}
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.marshal(); !bytes.Equal(got, wb) {
		t.Fatalf("marshal = %s\nwant      %s", got, wb)
	}
}
