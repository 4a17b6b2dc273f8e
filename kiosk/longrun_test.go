package kiosk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A crop saved while the clock was ahead (set wrong by hand, a bad NTP
// answer, an RTC that drifted) carries a modification time in the
// future: prune only deletes what is older than keep, so it stays until
// the clock reaches its date plus audit.crop_days, a year later for a
// clock a year ahead. Liveness clips dated more than a day ahead are
// deleted (docs/kiosk.md); crops, the same biometric data, are not.
func TestCropsDatedAheadOfTheClockArePruned(t *testing.T) {
	dir := t.TempDir()
	c := &cropStore{dir: dir, keep: 7 * 24 * time.Hour}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ahead := now.Add(365 * 24 * time.Hour)
	if err := c.save(ahead, "saved-while-the-clock-was-ahead", []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, ahead.UTC().Format("20060102T150405.000Z")+"_saved-while-the-clock-was-ahead.jpg")
	if err := os.Chtimes(name, ahead, ahead); err != nil {
		t.Fatal(err)
	}
	if _, err := c.prune(now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); err == nil {
		t.Errorf("a crop dated a year ahead of the clock is kept until a year and %s from now", c.keep)
	}
}

// Turning audit.save_crops off again after a debugging session leaves every
// crop saved during it in <state_dir>/crops for good: nothing prunes the
// folder once the setting is off (k.crops is nil). These are photos of
// faces; liveness clips are pruned "also after the trial, with the setting
// turned off again" (docs/kiosk.md), crops are not.
func TestCropsPrunedAfterSaveCropsIsTurnedOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Audit.SaveCrops = false
	dir := filepath.Join(cfg.StateDir, "crops")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "20250101T000000.000Z_019a-old.jpg")
	if err := os.WriteFile(old, []byte("jpeg"), 0o640); err != nil {
		t.Fatal(err)
	}
	month := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(old, month, month); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	if _, err := os.Stat(old); err == nil {
		t.Errorf("a crop 30 days old (audit.crop_days %d) is kept after save_crops was turned off", cfg.Audit.CropDays)
	}
}

// The kiosk's state files are replaced through temporary files beside
// them (atomicfile.Write: ".<name>.tmp<random>"): the event sequence at
// every event, the anti-passback memory at every grant, the lockout memory
// at every liveness failure, the running mark at every start. A power cut
// or kill -9 during one of those writes leaves its temporary file, and no
// start removes it: one more file in <state_dir>/kiosk per such crash, for
// the life of the card.
func TestKioskStartRemovesTornStateWrites(t *testing.T) {
	cfg := testConfig(t)
	kdir := filepath.Join(cfg.StateDir, "kiosk")
	if err := os.MkdirAll(kdir, 0o750); err != nil {
		t.Fatal(err)
	}
	var leftovers []string
	for _, name := range []string{".seq.tmp1234567", ".passback.json.tmp7654321", ".liveness-lockout.json.tmp1111111", ".running.tmp2222222"} {
		p := filepath.Join(kdir, name)
		if err := os.WriteFile(p, []byte("{\"gran"), 0o640); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, p)
	}
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	for _, p := range leftovers {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s, left by a write cut off by a crash, is still there after the next start", filepath.Base(p))
		}
	}
}

// A door contact that chatters (a loose magnet, a door ajar in the wind)
// is a forced opening at every bounce that holds the debounce (50 ms):
// each is an audit line, none is coalesced. The log is bounded by size
// (audit.max_size_mb × audit.max_files), so within hours the flood rotates
// every decision record out of it (about 100 bytes a line) — the grants and their relay results
// included — and nothing records or alerts that history was dropped. Here
// 1 MB × 2 files and 30,000 bounces (100 minutes at 5 a second; with the
// defaults, 10 MB × 5, about a day).
func TestChatteringDoorContactDoesNotRotateGrantsOutOfTheAuditLog(t *testing.T) {
	cfg := testConfig(t)
	cfg.Audit.MaxSizeMB, cfg.Audit.MaxFiles = 1, 2
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	r.identify(t, worker, 1)
	grant := r.events()[0]
	if grant.Decision != "granted" {
		t.Fatalf("first session: %s %v", grant.Decision, grant.Reason)
	}
	at := time.Now()
	for i := range 30_000 {
		r.k.GateInput(InputDoorForced, "", at.Add(time.Duration(i)*200*time.Millisecond))
	}
	dir := filepath.Join(cfg.StateDir, "audit")
	ents, _ := os.ReadDir(dir)
	found := false
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(b), grant.EventID) {
			found = true
		}
	}
	if !found {
		t.Errorf("grant %s is no longer in the audit log (%d files) after 30,000 door-forced lines from one faulty contact", grant.EventID, len(ents))
	}
}
