package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
)

// The state file was last saved while the clock was ahead (a Pi's clock
// before an NTP step back, an operator's date -s): its mtime is later
// than the grants decided after the step. A kill -9 within the save
// interval of such a grant: replayOwnRecords reads from the mtime less a
// minute, skips the grant, and the gate lets the same badge in again
// through hard anti-passback (the hole TestOwnGrantRememberedAfterACrash-
// WithinTheSaveInterval closed, open again after any backward clock step
// of more than a minute until the next save).
func TestOwnGrantRememberedWhenTheStateFileIsFromAheadOfTheClock(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	north := siteTestConfig(t, entranceYAML)
	wn, err := newSiteWire(north, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wn.presence.Save(); err != nil {
		t.Fatal(err)
	}
	// The save happened at a clock 10 minutes ahead of the one now.
	ahead := time.Now().Add(10 * time.Minute)
	if err := os.Chtimes(filepath.Join(north.StateDir, siteStateName), ahead, ahead); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ev := grantAt("north", 1, "u1", "outside", "site", now)
	siteReplayAudit(t, north.StateDir, ev)
	wn.Record(ev)
	// kill -9 now.
	wn2, err := newSiteWire(north, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, v := wn2.Check("u1", now.Add(2*time.Second)); v.Allowed || v.Code != kiosk.ReasonPassbackSameZone {
		t.Errorf("after a clock step back and a kill -9 within the save interval, the gate that let u1 in lets u1 in again: %+v", v)
	}
}

// A gate moved to another site keeps its state directory: its state file
// (of the old site) is set aside as another site's, and replayOwnRecords
// then reads the two newest audit files whole, whatever site their
// records are of. The old site's passages put its workers inside this
// site: hard anti-passback refuses them at the entrance, they fill
// occupancy, they are missing on the muster list, and a two-way door
// takes their next passage for an exit; this gate's snapshot spreads
// them to every gate of the new site.
func TestReplayTakesNoPassageOfAnotherSite(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := siteTestConfig(t, strings.Replace(entranceYAML, "site: plant", "site: depot", 1))
	wo, err := newSiteWire(old, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ev := grantAt("north", 1, "u1", "outside", "site", now.Add(-time.Hour))
	ev.Site = "depot"
	siteReplayAudit(t, old.StateDir, ev)
	wo.Record(ev)
	if err := wo.presence.Save(); err != nil {
		t.Fatal(err)
	}
	// The same Pi, now a gate of site plant, same state_dir.
	moved := siteTestConfig(t, entranceYAML)
	moved.StateDir = old.StateDir
	wp, err := newSiteWire(moved, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if z := wp.presence.Person("u1").Zone; z != "outside" {
		t.Errorf("u1 passed a gate of site depot; at site plant u1 is recorded in %q", z)
	}
	if _, v := wp.Check("u1", now); !v.Allowed {
		t.Errorf("u1 never entered site plant, yet is refused at its entrance: %+v", v)
	}
}
