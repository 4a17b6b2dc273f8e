package site

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// Every timestamp the site takes in is parsed with
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
			refusedOrApplied(t, p, e)
		}},
		{"check-in of an active evacuation stamped year 10000 in UTC (-12:00)", func(t *testing.T, p *Presence) {
			e := record.Event{EventID: "m-2", Seq: 2, TS: "9999-12-31T23:59:59.999-12:00", Site: "plant", Gate: "assembly",
				Decision: record.DecisionGranted, UserID: "w-2", Mode: record.ModeMuster, EvacuationID: "fire-1"}
			refusedOrApplied(t, p, e)
		}},
		{"retained evacuation state whose since is year 0000", func(t *testing.T, p *Presence) {
			since, err := time.Parse(time.RFC3339Nano, "0000-01-01T00:00:00+14:00")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.StartEvacuation(Evacuation{ID: "fire-1", Since: since, By: "fire_alarm"}); err != nil {
				t.Logf("refused (fine): %v", err)
			}
		}},
		{"passage stamped at the epoch on a site without reset_at", func(t *testing.T, p *Presence) {
			e := ev("exit-1", 9, 0, "w-3", "site")
			e.TS = "1970-01-01T00:00:00Z"
			refusedOrApplied(t, p, e)
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

// refusedOrApplied applies e; refusing it is a fine answer too.
func refusedOrApplied(t *testing.T, p *Presence, e record.Event) {
	t.Helper()
	if _, err := p.ApplyEvent(e); err != nil {
		t.Logf("ApplyEvent(%s) refused (fine): %v", e.EventID, err)
	}
}

// reset_at is read in each gate's time.Local (TZ, or
// /etc/localtime: wire_site.go passes no Location and the configuration
// has no time zone key), and a peer's reset is adopted by Merge as the
// site's floor. So one gate whose machine is on another time zone (a Pi
// left on the image's default, Etc/UTC or Europe/London) resets the whole
// site at its own 04:00: here at 05:00 in Berlin, one hour into the early
// shift, everyone who came in after the real reset is "outside" at every
// gate (a second entry passes hard anti-passback; the muster list of an
// evacuation no longer lists them as missing). docs/site.md: "Since every
// gate computes the same reset time from reset_at, the floor is the same
// everywhere"; nothing checks that they do.
func TestAPeerOnAnotherTimeZoneDoesNotResetTheSiteAtItsOwnHour(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	utc, err := time.LoadLocation("Etc/UTC")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	start := time.Date(2026, 12, 8, 3, 50, 0, 0, berlin) // a winter morning, before the 04:00 reset
	ca, cb := &clock{t: start}, &clock{t: start}
	a, err := New(Options{Site: "plant", Gate: "entrance", Zones: siteZones(),
		Door:     Door{From: Outside, To: "site", Direction: Entry},
		Passback: PassbackOptions{Mode: PassbackHard}, ResetAt: "04:00", Location: berlin, Now: ca.now, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Site: "plant", Gate: "exit", Zones: siteZones(),
		Door:    Door{From: "site", To: Outside, Direction: Exit},
		ResetAt: "04:00", Location: utc, Now: cb.now, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	// 04:30 in Berlin, after the site's reset: w-1 comes in for the early shift.
	ca.t, cb.t = time.Date(2026, 12, 8, 4, 30, 0, 0, berlin), time.Date(2026, 12, 8, 4, 30, 0, 0, berlin)
	a.Tick(ca.t)
	b.Tick(cb.t)
	in := record.Event{EventID: "entrance-1", Seq: 1, TS: record.Timestamp(ca.t), Site: "plant", Gate: "entrance",
		Decision: record.DecisionGranted, Reason: []string{"approved"}, UserID: "w-1", ZoneTo: "site", Relay: record.RelayPending}
	mustApply(t, a, in)
	mustApply(t, b, in)

	// 05:01 in Berlin: 04:01 on the exit gate's UTC clock. Its snapshot reaches the entrance.
	ca.t, cb.t = time.Date(2026, 12, 8, 5, 1, 0, 0, berlin), time.Date(2026, 12, 8, 5, 1, 0, 0, berlin)
	a.Tick(ca.t)
	b.Tick(cb.t)
	if _, err := a.Merge(b.SnapshotOf("exit")); err != nil {
		t.Fatal(err)
	}
	if z := zoneOf(a, "w-1"); z != "site" {
		t.Errorf("at 05:01 Berlin time the entrance (reset_at 04:00 Europe/Berlin) has w-1, who came in at 04:30, in %q: the exit gate on UTC reset the site at its own 04:00", z)
	}
	if v := a.Check("w-1", ca.t, ViewSite); v.Allowed {
		t.Errorf("w-1, inside since 04:30, is let in again at the entrance (hard anti-passback): %+v", v)
	}
}
