package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
)

// A kill -9 (or a power cut) inside the audit log's rotation, after
// kiosk/audit.go rotate renamed audit.jsonl to audit.jsonl.1 and before
// switchFile created the new audit.jsonl: every record, the grant of a
// few seconds ago included, is in audit.jsonl.1 and there is no
// audit.jsonl. The site wire is made (and replays the gate's own records)
// before kiosk.New opens the audit log again, so at the restart
// replayOwnRecords finds no current file and never reads .1: the gate
// forgets its own passage (the same badge gets in again through hard
// anti-passback; the muster list lacks the worker).
func TestOwnGrantRememberedAfterAKillInsideTheAuditRotation(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	north := siteTestConfig(t, entranceYAML)
	wn, err := newSiteWire(north, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := wn.presence.Save(); err != nil { // the last periodic save
		t.Fatal(err)
	}
	ev := grantAt("north", 1, "u1", "outside", "site", now)
	siteReplayAudit(t, north.StateDir, ev) // fsynced before the relay moved
	wn.Record(ev)
	// The grant's pulse result is the write that crosses audit.max_size_mb:
	// rotate renames the current file away, then the daemon dies.
	dir := filepath.Join(north.StateDir, "audit")
	if err := os.Rename(filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "audit.jsonl.1")); err != nil {
		t.Fatal(err)
	}
	// kill -9 here.

	wn2, err := newSiteWire(north, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, v := wn2.Check("u1", now.Add(2*time.Second)); v.Allowed || v.Code != kiosk.ReasonPassbackSameZone {
		t.Errorf("after a kill -9 inside the audit log's rotation, the gate that let u1 in lets u1 in again: %+v", v)
	}
	if !strings.Contains(string(wn2.Snapshot()), `"u1"`) {
		t.Errorf("this gate's snapshot lacks its own passage: the muster list and the peers never learn u1 is on site")
	}
}

// A kill -9 or a power cut during an evacuation start by the fire alarm
// or the admin API, after Evacuate saved the presence (savePresence, with
// the trust file before it) and before the signed cmd/evacuate was queued
// (publishEvacuate): the restarted gate holds its own relay again (the
// evacuation is active and trusted on its disk), but nothing ever queues
// the command: start re-queues nothing, and the fire alarm (or the
// operator) asking again finds the evacuation active and trusted and
// returns without publishing. The peers learn the evacuation only from
// the unsigned snapshot or retained state, which they do not hold their
// relays for: in a fire every other door stays locked.
func TestOwnEvacuationReachesPeersAfterAKillBeforeItsCommandWasQueued(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	yml := releaseYAML + "mqtt:\n  enabled: true\n  urls: [\"" + mq.URL() + "\"]\n  commands:\n    open:\n      secret: \"" + secret + "\"\n"
	cfg := siteTestConfig(t, yml)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// First life: what Evacuate leaves on disk when the daemon dies right
	// after savePresence: the presence and the trust file hold the
	// evacuation, the command queue does not (no broker client yet).
	w1, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := w1.Evacuate(true, "fire-alarm@north", "fire alarm input")
	if err != nil || !e.Active {
		t.Fatalf("start: %+v %v", e, err)
	}
	// kill -9 here.

	east := startSiteBrokerGate(t, mq.URL(), "east", secret)
	relay := &fakeRelay{}
	north, b := runSiteWire(t, cfg, func(mo *mqtt.Options) { mo.Zones.SnapshotWindow = 50 * time.Millisecond }, func(w *siteWire, b *mqtt.Client) {
		w.relay = relay
		k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: &alertLog{},
			Site: w, SiteBoard: w, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.start(k, b); err != nil {
			t.Fatal(err)
		}
		w.handle()
	})
	require.Eventually(t, func() bool { return b.Connected() && east.b.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	if !relay.isHeld() {
		t.Fatal("the restarted gate does not hold its own relay for its evacuation still on")
	}
	// The fire alarm is still active at the restart: it evacuates again.
	if _, err := north.Evacuate(true, "fire-alarm@north", "fire alarm input"); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return east.w.Evacuation().Active }, 5*time.Second, 5*time.Millisecond, "east learns the evacuation")
	time.Sleep(3 * time.Second)
	if !east.w.isTrusted(e.ID) {
		t.Fatalf("east never trusts north's fire-alarm evacuation %s (active there: %v): its relay stays locked in the fire", e.ID, east.w.Evacuation().Active)
	}
}
