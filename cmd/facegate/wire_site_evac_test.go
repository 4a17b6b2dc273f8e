package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

const releaseYAML = entranceYAML + "  evacuation: {release_relay: true}\n"

// fakeRelay counts holds and releases; failRelease and failHold make that
// many fail.
type fakeRelay struct {
	mu                    sync.Mutex
	holds, frees          int
	held                  bool
	failRelease, failHold int
}

func (f *fakeRelay) Hold() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failHold > 0 {
		f.failHold--
		return errors.New("relay line could not be driven inactive")
	}
	f.holds++
	f.held = true
	return nil
}

func (f *fakeRelay) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRelease > 0 {
		f.failRelease--
		return errors.New("gpio: line busy")
	}
	f.frees++
	f.held = false
	return nil
}

func (f *fakeRelay) isHeld() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// relayWire is a started site wire with a kiosk and a fake relay.
func relayWire(t *testing.T, cfg *config.Config, b *mqtt.Client) (*siteWire, *fakeRelay, *alertLog) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRelay{}
	w.relay = r
	pub := &alertLog{}
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: pub,
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, b); err != nil {
		t.Fatal(err)
	}
	w.handle()
	return w, r, pub
}

// Only an evacuation this gate started, or a verified signed command,
// holds the relay; one learnt from the unsigned retained state or a
// snapshot refuses sessions but keeps the doors as they are.
func TestSiteWireEvacuationTrustHoldsRelay(t *testing.T) {
	now := time.Now()
	ts := record.Timestamp(now)
	tests := []struct {
		name string
		do   func(t *testing.T, w *siteWire)
		hold bool
	}{
		{"retained", func(t *testing.T, w *siteWire) {
			w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-retained", Since: ts, TS: ts, By: "attacker", Gate: "south"})
		}, false},
		{"snapshot", func(t *testing.T, w *siteWire) {
			peer, err := newSiteWire(siteTestConfig(t, strings.Replace(releaseYAML, "gate: north", "gate: south", 1)), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := peer.Evacuate(true, "panel", "drill"); err != nil {
				t.Fatal(err)
			}
			w.SiteSnapshot("south", peer.Snapshot())
		}, false},
		{"local", func(t *testing.T, w *siteWire) {
			if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"retained, then this gate's fire alarm", func(t *testing.T, w *siteWire) {
			w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-retained", Since: ts, TS: ts, By: "panel", Gate: "south"})
			w.handle()
			if w.held {
				t.Fatal("held for the retained evacuation")
			}
			if e, err := w.Evacuate(true, "fire-alarm@north", "fire alarm input"); err != nil || e.ID != "evac-retained" {
				t.Fatalf("confirm: %+v %v", e, err)
			}
		}, true},
		{"retained, then the signed command sent late", func(t *testing.T, w *siteWire) {
			// The order a gate back from an outage sends them in, at
			// random: the retained state (the real start) may come first,
			// and the command's later ts then changes nothing in the presence.
			w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-late", Since: ts, TS: ts, By: "fire-alarm@south", Gate: "south"})
			w.handle()
			if w.held {
				t.Fatal("held for the retained evacuation")
			}
			w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-late", By: "fire-alarm@south", Issued: now.Add(time.Minute)})
		}, true},
		{"command", func(t *testing.T, w *siteWire) {
			w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-cmd", By: "ops", Issued: now})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, r, _ := relayWire(t, siteTestConfig(t, releaseYAML), nil)
			tt.do(t, w)
			w.handle()
			if e := w.Evacuation(); !e.Active {
				t.Fatalf("evacuation not active: %+v", e)
			}
			if r.isHeld() != tt.hold || w.held != tt.hold {
				t.Fatalf("relay held %v (wire %v), want %v", r.isHeld(), w.held, tt.hold)
			}
			holds := relayHolds(t, w)
			if tt.hold != (len(holds) == 1 && holds[0]) {
				t.Fatalf("audit records of the hold %v, want one held: %v", holds, tt.hold)
			}
		})
	}
}

// relayHolds are the audit log's relay_hold records of w's kiosk, their
// held flags in order (the relay held open for an evacuation, released).
func relayHolds(t *testing.T, w *siteWire) []bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.cfg.StateDir, "audit", "audit.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var held []bool
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		var rec struct {
			Kind         string `json:"kind"`
			Held         bool   `json:"held"`
			EvacuationID string `json:"evacuation_id"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Kind == "relay_hold" {
			if rec.EvacuationID == "" {
				t.Errorf("relay_hold without its evacuation: %s", line)
			}
			held = append(held, rec.Held)
		}
	}
	return held
}

// A restart mid-evacuation holds the relay again for a trusted evacuation
// only.
func TestSiteWireEvacuationTrustSurvivesRestart(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, _, _ := relayWire(t, cfg, nil)
	if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	if err := w.presence.Save(); err != nil {
		t.Fatal(err)
	}
	again, r, _ := relayWire(t, cfg, nil)
	if !again.Evacuation().Active || !r.isHeld() {
		t.Fatalf("restart with a trusted evacuation: active %v, held %v", again.Evacuation().Active, r.isHeld())
	}

	cfg = siteTestConfig(t, releaseYAML)
	w, _, _ = relayWire(t, cfg, nil)
	ts := record.Timestamp(time.Now())
	w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-retained", Since: ts, TS: ts, By: "panel", Gate: "south"})
	if err := w.presence.Save(); err != nil {
		t.Fatal(err)
	}
	again, r, _ = relayWire(t, cfg, nil)
	if !again.Evacuation().Active || r.isHeld() {
		t.Fatalf("restart with a retained-only evacuation: active %v, held %v", again.Evacuation().Active, r.isHeld())
	}
}

// A release that fails keeps the relay counted as held and is tried again.
func TestSiteWireReleaseRetried(t *testing.T) {
	w, r, pub := relayWire(t, siteTestConfig(t, releaseYAML), nil)
	if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	w.handle()
	r.failRelease = 1
	if _, err := w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	// Evacuate releases at once (before it saves anything).
	if !w.held || !w.releaseFailed || !r.isHeld() {
		t.Fatalf("after a failed release: wire held %v, retry %v, relay held %v", w.held, w.releaseFailed, r.isHeld())
	}
	w.handle() // the next pass (or run's timer) tries again
	if w.held || w.releaseFailed || r.isHeld() || r.frees != 1 {
		t.Fatalf("after the retry: wire held %v, retry %v, relay held %v, releases %d", w.held, w.releaseFailed, r.isHeld(), r.frees)
	}
	if got := pub.codes(); !slices.Contains(got, kiosk.ReasonRelayFailed) {
		t.Fatalf("alerts %v: want relay_failed", got)
	}
	if got := relayHolds(t, w); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("audit records of the hold %v, want held then released (the failed release not)", got)
	}
}

// A hold that fails (a relay fault, which the relay clears once its line
// can be driven) is tried again, as a release is: until 2026-12-07 the
// doors stayed locked for the rest of the evacuation.
func TestSiteWireHoldRetried(t *testing.T) {
	w, r, pub := relayWire(t, siteTestConfig(t, releaseYAML), nil)
	r.failHold = 1
	if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	// Evacuate holds at once (before it saves anything).
	if w.held || !w.holdFailed || r.isHeld() {
		t.Fatalf("after a failed hold: wire held %v, retry %v, relay held %v", w.held, w.holdFailed, r.isHeld())
	}
	w.handle() // the next pass (or run's timer) tries again
	if !w.held || w.holdFailed || !r.isHeld() || r.holds != 1 {
		t.Fatalf("after the retry: wire held %v, retry %v, relay held %v, holds %d", w.held, w.holdFailed, r.isHeld(), r.holds)
	}
	if got := pub.codes(); !slices.Contains(got, kiosk.ReasonRelayFailed) {
		t.Fatalf("alerts %v: want relay_failed", got)
	}
	if got := relayHolds(t, w); !slices.Equal(got, []bool{true}) {
		t.Fatalf("audit records of the hold %v, want one held (the failed hold not)", got)
	}
}

// The retained end of a known evacuation keeps who started it and why.
func TestSiteWireEvacuationEndKeepsStart(t *testing.T) {
	w, err := newSiteWire(siteTestConfig(t, entranceYAML), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Minute)
	w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-1", Since: record.Timestamp(since), TS: record.Timestamp(since), By: "panel", Reason: "fire alarm input", Gate: "south"})
	end := record.Timestamp(time.Now())
	w.SiteEvacuation(mqtt.Evacuation{Active: false, ID: "evac-1", Since: record.Timestamp(since), TS: end, By: "marshal", Reason: "all clear", Gate: "south"})
	ev := w.presence.Evacuations()
	if len(ev) != 1 || ev[0].Active() || ev[0].By != "panel" || ev[0].Reason != "fire alarm input" || ev[0].EndedBy != "marshal" {
		t.Fatalf("evacuations %+v", ev)
	}
	// An end of an unknown evacuation still joins, ended.
	w.SiteEvacuation(mqtt.Evacuation{Active: false, ID: "evac-2", Since: end, TS: end, By: "marshal", Gate: "east"})
	if ev := w.presence.Evacuations(); len(ev) != 2 || ev[1].ID != "evac-2" || ev[1].Active() {
		t.Fatalf("evacuations %+v", ev)
	}
}

// Two evacuations in the same instant are two evacuations.
func TestSiteWireEvacuationIDsUnique(t *testing.T) {
	w, err := newSiteWire(siteTestConfig(t, entranceYAML), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return at }
	first, err := w.Evacuate(true, "marshal", "drill")
	if err != nil || !first.Active {
		t.Fatalf("first: %+v %v", first, err)
	}
	if _, err := w.Evacuate(false, "marshal", "false alarm"); err != nil {
		t.Fatal(err)
	}
	second, err := w.Evacuate(true, "panel", "fire alarm input")
	if err != nil || !second.Active || second.ID == first.ID {
		t.Fatalf("second in the same instant: %+v %v (first %s)", second, err, first.ID)
	}
}

// An identity without a user id leaves through an exit door under hard
// anti-passback, and does not enter a full zone.
func TestSiteWireUntrackedOccupancy(t *testing.T) {
	yml := strings.Replace(entranceYAML, "list: [{name: site}", "list: [{name: site, max_occupancy: 1}", 1)
	w, err := newSiteWire(siteTestConfig(t, yml), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, v := w.Check("", now); v.Allowed || v.Code != kiosk.ReasonSiteUnknown {
		t.Fatalf("no user id, hard anti-passback, room inside: %+v", v)
	}
	w.SiteEvent(grantAt("south", 1, "u1", "outside", "site", now.Add(-time.Minute))) // site: 1 of 1
	if _, v := w.Check("", now); v.Allowed || v.Code != site.CodeOccupancyFull {
		t.Fatalf("no user id, full zone: %+v", v)
	}
	soft, err := newSiteWire(siteTestConfig(t, strings.Replace(yml, "anti_passback: {mode: hard}", "anti_passback: {mode: off}", 1)), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	soft.SiteEvent(grantAt("south", 1, "u1", "outside", "site", now.Add(-time.Minute)))
	if _, v := soft.Check("", now); v.Allowed || v.Code != site.CodeOccupancyFull {
		t.Fatalf("no user id, no anti-passback, full zone: %+v", v)
	}
}

// site_unreachable is raised once per outage: a connection seen between
// two outages arms it again even when no check ran meanwhile.
func TestSiteWireUnreachableOncePerOutage(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML+"mqtt:\n  enabled: true\n  urls: [\"tcp://127.0.0.1:1\"]\n")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mo, err := mqttOptions(cfg, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	w0, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	w0.mqttOptions(&mo)
	b, err := mqtt.New(mo) // never run
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	w, _, pub := relayWire(t, cfg, b)
	var mu sync.Mutex
	up := false
	w.connected = func() bool { mu.Lock(); defer mu.Unlock(); return up }
	set := func(v bool) { mu.Lock(); up = v; mu.Unlock() }
	w.Check("u1", time.Now())
	w.Check("u1", time.Now())
	set(true)
	w.handle() // the connection is back; no check meanwhile
	set(false)
	w.Check("u1", time.Now())
	if got := pub.codes(); !slices.Equal(got, []string{kiosk.AlertSiteUnreachable, kiosk.AlertSiteUnreachable}) {
		t.Fatalf("alerts %v, want site_unreachable once per outage (two)", got)
	}
}

// A gate's own evacuation reaches the peers as a verified command: they
// hold their relays for it. A gate without the command secret sends none.
func TestSiteWireEvacuationReachesPeersTrusted(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	north := startSiteBrokerGate(t, mq.URL(), "north", secret)
	east := startSiteBrokerGate(t, mq.URL(), "east", secret)
	south := startSiteBrokerGate(t, mq.URL(), "south", "")
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() && south.b.Connected() },
		5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(1100 * time.Millisecond) // past the replay memory's first second
	e, err := north.w.Evacuate(true, "fire-alarm@north", "fire alarm input")
	if err != nil || !e.Active {
		t.Fatalf("start: %+v %v", e, err)
	}
	require.Eventually(t, func() bool { return east.w.isTrusted(e.ID) && east.w.Evacuation().Active },
		5*time.Second, 5*time.Millisecond, "east trusts north's evacuation")
	// South learns it from the retained state only: active, not trusted.
	require.Eventually(t, func() bool { return south.w.Evacuation().Active }, 5*time.Second, 5*time.Millisecond, "south learns the evacuation")
	if south.w.isTrusted(e.ID) {
		t.Fatal("south trusts an evacuation it only saw retained")
	}
	if _, err := north.w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return !east.w.Evacuation().Active }, 5*time.Second, 5*time.Millisecond, "east ends it")
}

// An evacuation started while the broker is down reaches the peers as a
// verified command once it is back: they trust it (and hold their relays).
// Its end, decided during the next outage, arrives late too, and ends that
// evacuation only, not a newer one the peer learnt meanwhile.
func TestSiteWireEvacuationDuringOutageReachesPeers(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	north := startSiteBrokerGate(t, mq.URL(), "north", secret)
	east := startSiteBrokerGate(t, mq.URL(), "east", secret)
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() },
		5*time.Second, 5*time.Millisecond, "connected")
	down := func() {
		mq.Stop()
		require.Eventually(t, func() bool { return !north.b.Connected() && !east.b.Connected() },
			5*time.Second, 5*time.Millisecond, "disconnected")
	}
	down()
	e, err := north.w.Evacuate(true, "fire-alarm@north", "fire alarm input")
	if err != nil || !e.Active {
		t.Fatalf("start while the broker is down: %+v %v", e, err)
	}
	mq.Restart()
	require.Eventually(t, func() bool { return east.w.isTrusted(e.ID) && east.w.trustedActive() == e.ID },
		10*time.Second, 5*time.Millisecond, "east trusts north's evacuation started during the outage")

	down()
	if _, err := north.w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	// Meanwhile east learns a newer evacuation (a verified command).
	east.w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-newer", By: "site-office", Issued: time.Now()})
	mq.Restart()
	require.Eventually(t, func() bool {
		for _, x := range east.w.presence.Evacuations() {
			if x.ID == e.ID {
				return !x.Active()
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "east ends north's evacuation")
	if got := east.w.trustedActive(); got != "evac-newer" {
		t.Fatalf("east's trusted active evacuation = %q, want evac-newer still on", got)
	}
}

// Trust ends with the evacuation: should it come back (its end pruned
// after a week, the presence lost, a stale retained start), it refuses
// sessions but never holds the relay, also after a restart.
func TestSiteWireEndedEvacuationNeverHoldsAgain(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, r, _ := relayWire(t, cfg, nil)
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-x", By: "ops", Issued: time.Now()})
	w.handle()
	if !r.isHeld() {
		t.Fatal("relay not held for a verified evacuation")
	}
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateEnd, ID: "evac-x", By: "ops", Issued: time.Now()})
	w.handle()
	if r.isHeld() || w.isTrusted("evac-x") {
		t.Fatalf("after the end: relay held %v, trusted %v", r.isHeld(), w.isTrusted("evac-x"))
	}
	// A replayed or late verified start of it changes nothing.
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-x", By: "ops", Issued: time.Now()})
	w.handle()
	if r.isHeld() || w.isTrusted("evac-x") {
		t.Fatalf("a start after the end: relay held %v, trusted %v", r.isHeld(), w.isTrusted("evac-x"))
	}

	// Restart without the presence's end: the evacuation comes back from
	// the retained state, active, and must not find its old trust.
	if err := os.Remove(filepath.Join(cfg.StateDir, "site-presence.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	again, r2, _ := relayWire(t, cfg, nil)
	ts := record.Timestamp(time.Now())
	again.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-x", Since: ts, TS: ts, By: "ops", Gate: "south"})
	again.handle()
	if !again.Evacuation().Active || r2.isHeld() {
		t.Fatalf("the evacuation come back: active %v (want true), relay held %v (want false)", again.Evacuation().Active, r2.isHeld())
	}
}

// A trusted evacuation that ended before the end was handled (the daemon
// stopped within the moment) loses its trust at start.
func TestSiteWireStartForgetsEndedTrust(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, _, _ := relayWire(t, cfg, nil)
	w.trust("evac-y")
	if _, err := w.presence.StartEvacuation(site.Evacuation{ID: "evac-y", Since: time.Now(), Ended: time.Now(), EndedBy: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := w.presence.Save(); err != nil {
		t.Fatal(err)
	}
	again, _, _ := relayWire(t, cfg, nil)
	if again.isTrusted("evac-y") {
		t.Fatal("an ended evacuation still trusted after a restart")
	}
	notTrustedOnDisk(t, again, "evac-y")
}

// An operator's start and end are on disk before their command is queued:
// a kill -9 right after leaves the presence and the command queue alike.
func TestSiteWireEvacuateSavesAtOnce(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, _, _ := relayWire(t, cfg, nil)
	stored := func() []site.Evacuation {
		t.Helper()
		p, err := site.New(site.Options{Site: cfg.Site, Gate: cfg.Gate, StatePath: filepath.Join(cfg.StateDir, "site-presence.json"),
			Zones: w.presence.Zones(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return p.Evacuations()
	}
	e, err := w.Evacuate(true, "marshal", "drill")
	if err != nil {
		t.Fatal(err)
	}
	if got := stored(); len(got) != 1 || got[0].ID != e.ID || !got[0].Active() {
		t.Fatalf("on disk after the start: %+v, want %s active", got, e.ID)
	}
	if _, err := w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	if got := stored(); len(got) != 1 || got[0].Active() {
		t.Fatalf("on disk after the end: %+v, want it ended", got)
	}
}

// Trust follows the presence, not its end notices: a verified start racing
// an end (the end joined before the start, so no "ended" notice ever
// comes) leaves no ended evacuation trusted, in memory or on disk.
func TestSiteWireEndedTrustForgotten(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, r, _ := relayWire(t, cfg, nil)
	// SiteCommand's start found evac-z not over and trusted it; the
	// operator's end came in between, before the start joined.
	w.trust("evac-z")
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateEnd, ID: "evac-z", By: "ops", Issued: time.Now()})
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-z", By: "ops", Issued: time.Now().Add(-time.Second)})
	w.handle()
	if w.isTrusted("evac-z") || r.isHeld() {
		t.Fatalf("ended evac-z: trusted %v, relay held %v", w.isTrusted("evac-z"), r.isHeld())
	}
	notTrustedOnDisk(t, w, "evac-z")
}

// An operator's end ends the evacuations it listed, each by its id: one a
// peer started meanwhile goes on (no retained end, no end command was
// published for it).
func TestSiteWireOperatorEndEndsWhatItListed(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, _, _ := relayWire(t, cfg, nil)
	mine, err := w.Evacuate(true, "marshal", "drill")
	if err != nil {
		t.Fatal(err)
	}
	w.listedForEnd = func() {
		ts := record.Timestamp(time.Now())
		w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-peer", Since: ts, TS: ts, By: "fire-alarm@south", Gate: "south"})
	}
	if _, err := w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	if !w.presence.EvacuationEnded(mine.ID) {
		t.Fatalf("%s not ended", mine.ID)
	}
	if w.presence.EvacuationEnded("evac-peer") {
		t.Fatal("the peer's evacuation, started after the operator's end listed them, was ended too")
	}
}

// A queued evacuate command the broker drops unsent raises outbox_corrupt
// (mqtt.SiteOptions.CommandDropped).
func TestSiteWireDroppedCommandAlerts(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML)
	w, _, pub := relayWire(t, cfg, nil)
	var mo mqtt.Options
	w.mqttOptions(&mo)
	if mo.Zones.CommandDropped == nil {
		t.Fatal("mqttOptions sets no CommandDropped")
	}
	mo.Zones.CommandDropped(mqtt.EvacuateEnd, strings.Repeat("x", 300), mqtt.ErrMalformed)
	mo.Zones.CommandDropped("", "", errors.New("unexpected end of JSON input"))
	pub.mu.Lock()
	defer pub.mu.Unlock()
	var msgs []string
	for _, a := range pub.alerts {
		if a.Code == kiosk.AlertOutboxCorrupt {
			msgs = append(msgs, a.Message)
		}
	}
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "site command queue "+mqtt.SiteCommandsFileName+": evacuate end xxx") ||
		!strings.Contains(msgs[1], "a record that cannot be read dropped unsent") || len(msgs[0]) > 1024 {
		t.Fatalf("outbox_corrupt alerts %q", msgs)
	}
}

// notTrustedOnDisk fails the test if w's trust file still names id.
func notTrustedOnDisk(t *testing.T, w *siteWire, id string) {
	t.Helper()
	raw, err := os.ReadFile(w.trustPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), id) {
		t.Fatalf("trust file still holds the ended evacuation %s: %s", id, raw)
	}
}

// With the real relay (not fakeRelay, which keeps itself held after a
// failed release), the site wire's release retry after an evacuation must
// leave the line inactive before it records the relay released. Today the
// first failed Release clears the relay's hold, so the retry's Release is a
// no-op that returns nil: the wire stops retrying, the audit log says
// held:false, and the line stays energised (gate unlocked) until restart.
func TestSiteWireReleaseRetriedWithTheRealRelay(t *testing.T) {
	w, _, _ := relayWire(t, siteTestConfig(t, releaseYAML), nil)
	out := &gatetest.Output{}
	relay := gate.NewRelay(out, gate.RelayOptions{Clock: gatetest.NewClock()})
	w.relay = relay

	if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	w.handle()
	if !w.held || !out.Active() {
		t.Fatalf("test premise: held %v, line %v", w.held, out.Active())
	}
	out.SetErr(errors.New("EIO")) // a transient GPIO error at the release
	if _, err := w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	w.handle()
	if !w.releaseFailed {
		t.Fatal("test premise: the release should have failed")
	}
	out.SetErr(nil) // the line can be driven again
	w.handle()      // the retry (run's 5 s ticker calls the same)
	if out.Active() {
		t.Fatalf("after the release retry the relay line is still energised (wire held %v, retry pending %v, relay state %v, audit holds %v): "+
			"the gate stays unlocked, and no retry is left", w.held, w.releaseFailed, relay.State(), relayHolds(t, w))
	}
	if got := relayHolds(t, w); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("audit relay_hold records %v", got)
	}
}

// The evacuation alert (and the screen) is told once per start and once
// per end: not again at each retry of a hold that fails, nor by both the
// operator's Evacuate and the presence's notice of it.
func TestEvacuationAlertOncePerChange(t *testing.T) {
	w, r, pub := relayWire(t, siteTestConfig(t, releaseYAML), nil)
	r.failHold = 2
	if _, err := w.Evacuate(true, "marshal", "drill"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.handle()
	}
	if _, err := w.Evacuate(false, "marshal", "all clear"); err != nil {
		t.Fatal(err)
	}
	w.handle()
	n := 0
	for _, c := range pub.codes() {
		if c == kiosk.AlertEvacuation {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("evacuation alerts %d (%v), want one at the start and one at the end", n, pub.codes())
	}
}
