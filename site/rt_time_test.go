package site

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// Red-team (time): every timestamp the site takes in is parsed with
// time.Parse(RFC3339Nano), which takes any year 0000-9999 and any offset,
// so before 1970 (a negative UnixMilli) and, through an offset, year 10000
// or year -1 in UTC. The snapshot (and so the state file and every peer's
// Merge) refuses a time before or at 1970 and cannot read back a year of
// five digits. One such fact taken in makes this gate's state file
// unreadable at the next start (presence set aside, started empty) and
// its published snapshot refused whole by every peer; and since every gate
// applied the same event or retained state, every gate's snapshot is
// poisoned alike: no gate can catch up from any snapshot.
func TestOutOfRangeTimesDoNotPoisonTheSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply func(t *testing.T, p *Presence)
	}{
		{"check-in of an active evacuation stamped 1969", func(t *testing.T, p *Presence) {
			e := record.Event{EventID: "m-1", Seq: 1, TS: "1969-12-31T23:59:59Z", Site: "plant", Gate: "assembly",
				Decision: record.DecisionGranted, UserID: "w-1", Mode: record.ModeMuster, EvacuationID: "fire-1"}
			mustApply(t, p, e)
		}},
		{"check-in of an active evacuation stamped year 10000 in UTC (-12:00)", func(t *testing.T, p *Presence) {
			e := record.Event{EventID: "m-2", Seq: 2, TS: "9999-12-31T23:59:59.999-12:00", Site: "plant", Gate: "assembly",
				Decision: record.DecisionGranted, UserID: "w-2", Mode: record.ModeMuster, EvacuationID: "fire-1"}
			mustApply(t, p, e)
		}},
		{"retained evacuation state whose since is year 0000", func(t *testing.T, p *Presence) {
			since, err := time.Parse(time.RFC3339Nano, "0000-01-01T00:00:00+14:00")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.StartEvacuation(Evacuation{ID: "fire-1", Since: since, By: "fire_alarm"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"passage stamped at the epoch on a site without reset_at", func(t *testing.T, p *Presence) {
			e := ev("exit-1", 9, 0, "w-3", "site")
			e.TS = "1970-01-01T00:00:00Z"
			mustApply(t, p, e)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site-presence.json")
			p, _ := newP(t, Options{StatePath: path})
			mustApply(t, p, ev("entrance", 1, 0, "w-9", "site"))
			if _, err := p.StartEvacuation(Evacuation{ID: "fire-1", Since: t0.Add(time.Minute), By: "fire_alarm"}); err != nil {
				t.Fatal(err)
			}
			tc.apply(t, p)
			p.Tick(t0.Add(2 * time.Minute))

			// A peer merges this gate's snapshot.
			peer, _ := newP(t, Options{Gate: "B"})
			if _, err := peer.Merge(p.SnapshotOf("A")); err != nil {
				t.Errorf("a peer refuses this gate's snapshot: %v", err)
			}
			// This gate restarts from its state file.
			if err := p.Save(); err != nil {
				t.Fatal(err)
			}
			again, _ := newP(t, Options{StatePath: path})
			if err := again.StateProblem(); err != nil {
				t.Errorf("the state file written by this gate does not load again: %v", err)
			}
			if z := zoneOf(again, "w-9"); z != "site" {
				t.Errorf("after the restart w-9 is in %q, want site (the presence was lost)", z)
			}
		})
	}
}
