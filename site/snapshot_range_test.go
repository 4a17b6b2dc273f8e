package site

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A peer's snapshot with a time past year 9999 in UTC is refused whole.
// Until 2026-12-08 snapTS refused only times up to 1970: one void,
// evacuation time or check-in stamped "9999-12-31T23:59:59.999-12:00"
// (year 10000 in UTC) was merged, and from then on this gate's own
// snapshot was refused by every peer and its state file did not load at
// the next start (the presence set aside, started empty).
func TestPeerSnapshotWithAYear10000TimeDoesNotPoisonThisGate(t *testing.T) {
	const y10k = "9999-12-31T23:59:59.999-12:00"
	base := func(extra string) []byte {
		return []byte(fmt.Sprintf(`{"format":"facegate-site-presence","version":1,"site":"plant","gate":"rogue","persons":[]%s}`, extra))
	}
	for _, tc := range []struct{ name, extra string }{
		{"void", `,"voided":[{"event_id":"x-1","ts":"` + y10k + `"}]`},
		{"evacuation end", `,"evacuations":[{"id":"fire-9","since":"2026-03-02T06:00:00Z","ended":"` + y10k + `"}]`},
		{"check-in", `,"evacuations":[{"id":"fire-9","mustered":{"w-5":"` + y10k + `"}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site-presence.json")
			p, _ := newP(t, Options{StatePath: path})
			mustApply(t, p, ev("entrance", 1, 0, "w-9", "site"))
			if _, err := p.Merge(base(tc.extra)); err != nil {
				t.Logf("refused (fine): %v", err)
				return
			}
			p.Tick(t0.Add(time.Minute))
			peer, _ := newP(t, Options{Gate: "B"})
			if _, err := peer.Merge(p.SnapshotOf("A")); err != nil {
				t.Errorf("after merging the rogue snapshot, a peer refuses this gate's snapshot: %v", err)
			}
			if err := p.Save(); err != nil {
				t.Fatal(err)
			}
			again, _ := newP(t, Options{StatePath: path})
			if err := again.StateProblem(); err != nil {
				t.Errorf("the state file does not load again: %v", err)
			}
			if z := zoneOf(again, "w-9"); z != "site" {
				t.Errorf("after the restart w-9 is in %q, want site (the presence was lost)", z)
			}
		})
	}
}
