package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
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

// relayBrokerGate is a started site wire with a kiosk, a fake relay and a
// running broker client on cfg's state directory; kill stops the client
// without its clean close (nothing flushed, no offline state).
func relayBrokerGate(t *testing.T, cfg *config.Config) (w *siteWire, relay *fakeRelay, b *mqtt.Client, kill func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	relay = &fakeRelay{}
	w.relay = relay
	mo, err := mqttOptions(cfg, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	w.mqttOptions(&mo)
	mo.Zones.SnapshotWindow = 50 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("FACEGATE_TEST_SITE_RESYNC")); err == nil {
		mo.Zones.Resync = d
	}
	b, err = mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: &alertLog{},
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go b.Run(ctx)
	go func() { defer close(done); w.run(wctx) }()
	var once sync.Once
	kill = func() {
		once.Do(func() {
			cancel()
			dead, c := context.WithCancel(context.Background())
			c()
			_ = b.Close(dead)
			wcancel()
			<-done
		})
	}
	t.Cleanup(kill)
	return w, relay, b, kill
}

// relayHolds reads the relay_hold records of cfg's audit log.
func auditHolds(t *testing.T, stateDir string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(stateDir, "audit", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["kind"] == "relay_hold" {
			out = append(out, m)
		}
	}
	return out
}

// Two gates on one broker, a signed evacuation held at both. North dies
// (kill -9) during the hold; the operator ends the evacuation at east
// while north is down; north restarts. Its relay must end released, and
// its audit log tell: held, interrupted end, and (it cannot know the end
// before the broker tells it) at most a hold again followed by its release.
func TestHoldKilledThenEvacuationEndedWhileTheGateWasDown(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	gateYAML := func(gate string) string {
		return strings.Replace(releaseYAML, "gate: north", "gate: "+gate, 1) +
			"mqtt:\n  enabled: true\n  urls: [\"" + mq.URL() + "\"]\n  commands:\n    open:\n      secret: \"" + secret + "\"\n"
	}
	ncfg, ecfg := siteTestConfig(t, gateYAML("north")), siteTestConfig(t, gateYAML("east"))
	north, nrelay, nb, kill := relayBrokerGate(t, ncfg)
	east, erelay, eb, _ := relayBrokerGate(t, ecfg)
	require.Eventually(t, func() bool { return nb.Connected() && eb.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(1100 * time.Millisecond)
	e, err := north.Evacuate(true, "fire-alarm@north", "fire alarm input")
	if err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return nrelay.isHeld() && erelay.isHeld() }, 5*time.Second, 5*time.Millisecond, "both hold")
	kill()
	// The running mark a kill -9 leaves (the rig never ran the kiosk).
	if err := os.WriteFile(filepath.Join(ncfg.StateDir, "kiosk", "running"), []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := east.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return !erelay.isHeld() }, 5*time.Second, 5*time.Millisecond, "east releases")
	time.Sleep(500 * time.Millisecond)

	north2, nrelay2, nb2, _ := relayBrokerGate(t, ncfg)
	require.Eventually(t, func() bool { return nb2.Connected() }, 5*time.Second, 5*time.Millisecond, "north back")
	require.Eventually(t, func() bool { return !north2.Evacuation().Active }, 5*time.Second, 5*time.Millisecond, "north learns the end")
	require.Eventually(t, func() bool { return !nrelay2.isHeld() }, 5*time.Second, 5*time.Millisecond, "north releases")
	time.Sleep(300 * time.Millisecond)
	if erelay.isHeld() || east.trustedActive() != "" {
		t.Fatalf("east holds its relay again for the evacuation it ended (north's restart re-sent its start?)")
	}
	holds := auditHolds(t, ncfg.StateDir)
	t.Logf("north's relay_hold records: %v (relay holds after restart %d)", holds, nrelay2.holds)
	if len(holds) < 2 || holds[0]["held"] != true || holds[1]["held"] != false || holds[1]["reason"] != "interrupted" {
		t.Fatalf("north's relay_hold records %v: want held, then its interrupted end", holds)
	}
	rest := holds[2:]
	if nrelay2.holds == 0 && len(rest) != 0 || nrelay2.holds > 0 && (len(rest) != 2 || rest[0]["held"] != true || rest[1]["held"] != false) {
		t.Fatalf("after the restart the relay was held %d times; records %v", nrelay2.holds, rest)
	}
	_ = e
}

// The end's sibling of the kill before the command was queued: the
// operator's end is saved (savePresence) and the daemon dies before its
// cmd/evacuate end is queued. The peers still hold their relays for it;
// north's snapshot after its restart carries the end (unsigned ends are
// the safe direction), so they must release.
func TestOwnEvacuationEndReachesPeersAfterAKillBeforeItsCommandWasQueued(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	gateYAML := func(gate string) string {
		return strings.Replace(releaseYAML, "gate: north", "gate: "+gate, 1) +
			"mqtt:\n  enabled: true\n  urls: [\"" + mq.URL() + "\"]\n  commands:\n    open:\n      secret: \"" + secret + "\"\n"
	}
	ncfg, ecfg := siteTestConfig(t, gateYAML("north")), siteTestConfig(t, gateYAML("east"))
	north, _, nb, kill := relayBrokerGate(t, ncfg)
	_, erelay, eb, _ := relayBrokerGate(t, ecfg)
	require.Eventually(t, func() bool { return nb.Connected() && eb.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(1100 * time.Millisecond)
	if _, err := north.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return erelay.isHeld() }, 5*time.Second, 5*time.Millisecond, "east holds")
	kill()
	// The end, saved, its command never queued (no client), then dead.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w2, err := newSiteWire(ncfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	_, _, nb3, _ := relayBrokerGate(t, ncfg)
	require.Eventually(t, func() bool { return nb3.Connected() }, 5*time.Second, 5*time.Millisecond, "north back")
	require.Eventually(t, func() bool { return !erelay.isHeld() }, 10*time.Second, 5*time.Millisecond,
		"east releases its relay for the evacuation north ended before its kill")
}
