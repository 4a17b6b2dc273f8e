package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/record"
)

// siteReplayAudit appends records to the gate's audit log as the kiosk
// writes them (one JSON object a line, fsynced before the relay moves).
func siteReplayAudit(t *testing.T, stateDir string, recs ...any) {
	t.Helper()
	dir := filepath.Join(stateDir, "audit")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "audit.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
}

// A kill -9 within the presence's save interval after a grant: at the
// restart the gate remembers that it let the worker in. Until 2026-12-08
// it did not (wire_site.go said the outboxes' replay and the peers'
// snapshots restore a crash's loss; neither holds a gate's own passage:
// the broker took the event, its echo was acknowledged, and each peer's
// snapshot carries the peer's facts): the same badge got in again at the
// same gate through hard anti-passback, and this gate's snapshot never
// carried the passage (a gate joining later, or a muster list built
// there, never learnt the worker was on site).
func TestOwnGrantRememberedAfterACrashWithinTheSaveInterval(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		name      string
		savedOnce bool // the gate ran long enough to save its state
	}{
		{"after a save", true},
		{"before the first save", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			north := siteTestConfig(t, entranceYAML)
			south := siteTestConfig(t, strings.Replace(entranceYAML, "gate: north", "gate: south", 1))
			wn, err := newSiteWire(north, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			ws, err := newSiteWire(south, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if c.savedOnce {
				if err := wn.presence.Save(); err != nil {
					t.Fatal(err)
				}
			}
			ev := grantAt("north", 1, "u1", "outside", "site", now)
			// A grant whose relay never energised is taken back.
			back := grantAt("north", 2, "u2", "outside", "site", now.Add(time.Millisecond))
			notOpened := record.PulseResult{Kind: record.PulseKind, EventID: back.EventID, TS: record.Timestamp(now.Add(2 * time.Millisecond)),
				Site: "plant", Gate: "north", Relay: record.RelayNotEnergised, Reason: "stale_approval"}
			siteReplayAudit(t, north.StateDir, ev, back, notOpened) // the write-ahead: the audit log first
			wn.Record(ev)
			wn.Record(back)
			wn.RecordRelay(notOpened)
			wn.SiteEvent(ev) // the broker's echo, acknowledged when queued
			ws.SiteEvent(ev) // the peer has it live
			// kill -9 now: the periodic save (every 10 s) has not run.

			wn2, err := newSiteWire(north, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			// What a restarted gate gets at connect: every peer's retained
			// snapshot, and its own as it republished it.
			wn2.SiteSnapshot("south", ws.Snapshot())
			wn2.SiteSnapshot("north", wn2.Snapshot())
			if _, v := wn2.Check("u1", now.Add(2*time.Second)); v.Allowed || v.Code != kiosk.ReasonPassbackSameZone {
				t.Errorf("after a kill -9 within the save interval, the gate that let u1 in lets u1 in again: %+v", v)
			}
			if !strings.Contains(string(wn2.Snapshot()), `"u1"`) {
				t.Errorf("this gate's snapshot lacks its own passage: a gate joining later never learns u1 is on site")
			}
			if _, v := wn2.Check("u2", now.Add(2*time.Second)); !v.Allowed {
				t.Errorf("u2's grant never opened (not_energised in the audit log), yet u2 is refused: %+v", v)
			}
		})
	}
}

// The audit log is read from its end, at most siteReplayBudget bytes, and
// from a line before the state file's save: a 1 GiB audit file
// (audit.max_size_mb up to 1024) read whole held the start past
// systemd's start timeout (found by a review, 4.9 s for 100 MB here).
func TestReplayReadsTheAuditLogFromItsEnd(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	north := siteTestConfig(t, entranceYAML)
	w, err := newSiteWire(north, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []any
	for i := range 5000 { // a day of other decisions, long before
		recs = append(recs, grantAt("north", uint64(i+1), fmt.Sprintf("old-%d", i), "outside", "site", now.Add(-24*time.Hour+time.Duration(i)*time.Second)))
	}
	recent := grantAt("north", 6000, "u1", "outside", "site", now)
	recs = append(recs, recent)
	siteReplayAudit(t, north.StateDir, recs...)
	path := filepath.Join(north.StateDir, "audit", "audit.jsonl")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		since       time.Time
		budget      int64
		mostApplied int
	}{
		{"since the last save", now.Add(-time.Minute), siteReplayBudget, 1},
		{"no state file, a small budget", time.Time{}, 4 << 10, 20}, // the records in 4 KiB
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := w.replayAuditFile(path, c.since, c.budget)
			if err != nil {
				t.Fatal(err)
			}
			if r.applied < 1 || r.applied > c.mostApplied || r.whole {
				t.Errorf("%+v: want at most %d records applied (the recent grant among them), the file not read whole", r, c.mostApplied)
			}
			if r.read > min(c.budget, 4*(256<<10)) || r.read >= st.Size() {
				t.Errorf("read %d of %d bytes", r.read, st.Size())
			}
		})
	}
	if _, v := w.Check("u1", now.Add(time.Second)); v.Allowed {
		t.Errorf("u1's recent grant not replayed: %+v", v)
	}
}
