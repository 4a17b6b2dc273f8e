package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

func siteTestConfig(t *testing.T, yml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("site.yaml", []byte("state_dir: "+t.TempDir()+"\n"+yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const entranceYAML = `site: plant
gate: north
zones:
  enabled: true
  list: [{name: site}, {name: zone-b, inside: site, hazardous: true, max_occupancy: 1}]
  door: {from: outside, to: site, direction: entry}
  anti_passback: {mode: hard}
`

func grantAt(gate string, seq uint64, user, from, to string, at time.Time) record.Event {
	return record.Event{EventID: gate + "-" + user + "-" + at.Format("150405.000"), Seq: seq, TS: record.Timestamp(at), Site: "plant", Gate: gate,
		Decision: record.DecisionGranted, Reason: []string{"approved"}, UserID: user, ZoneFrom: from, ZoneTo: to, Relay: record.RelayPending}
}

// The adapter answers the kiosk from the presence: own grants count at
// once, a relay that never energised takes the grant back, peers' events
// count when the broker delivers them, and without a broker the view is local.
func TestSiteWireGuard(t *testing.T) {
	w, err := newSiteWire(siteTestConfig(t, entranceYAML), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, v := w.Check("u1", now)
	if !v.Allowed || p != (kiosk.SitePassage{From: "outside", To: "site", Direction: "entry"}) || v.View != "local" || p.Exit {
		t.Fatalf("first entry: %+v %+v", p, v)
	}
	ev := grantAt("north", 1, "u1", p.From, p.To, now)
	w.Record(ev)
	if _, v := w.Check("u1", now.Add(time.Second)); v.Allowed || v.Code != kiosk.ReasonPassbackSameZone {
		t.Fatalf("second entry: %+v", v)
	}
	w.RecordRelay(record.PulseResult{Kind: record.PulseKind, EventID: ev.EventID, TS: record.Timestamp(now.Add(time.Second)), Site: "plant", Gate: "north", Relay: record.RelayNotEnergised})
	if _, v := w.Check("u1", now.Add(2*time.Second)); !v.Allowed {
		t.Fatalf("after a relay that never energised: %+v", v)
	}
	// A peer's exit, delivered by the broker.
	w.SiteEvent(grantAt("south", 1, "u2", "outside", "site", now))
	w.SiteEvent(grantAt("south", 2, "u2", "site", "outside", now.Add(time.Minute)))
	if _, v := w.Check("u2", now.Add(2*time.Minute)); !v.Allowed {
		t.Fatalf("after a peer's exit: %+v", v)
	}
	// No user id: untracked, refused under hard anti-passback.
	if p, v := w.Check("", now); v.Allowed || v.Code != kiosk.ReasonSiteUnknown || p.To != "site" {
		t.Fatalf("no user id: %+v %+v", p, v)
	}
	rep := w.Report()
	if len(rep.Zones) != 2 || rep.Zones[0].Name != "site" || rep.Zones[1].Max != 1 || rep.View != "local" || rep.Muster != nil {
		t.Fatalf("report %+v", rep)
	}
}

func TestSiteWireEvacuationAndCommands(t *testing.T) {
	w, err := newSiteWire(siteTestConfig(t, entranceYAML), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	w.Record(grantAt("north", 1, "u1", "outside", "site", now.Add(-time.Hour)))
	w.SiteEvent(grantAt("east", 1, "u2", "site", "zone-b", now.Add(-time.Minute)))
	if _, err := w.Evacuate(false, "m", ""); !errors.Is(err, kiosk.ErrSiteRequest) {
		t.Fatalf("ending no evacuation: %v", err)
	}
	e, err := w.Evacuate(true, "marshal", "drill")
	if err != nil || !e.Active || !strings.HasPrefix(e.ID, "evac-") || !strings.HasSuffix(e.ID, "-north") {
		t.Fatalf("start: %+v %v", e, err)
	}
	if again, _ := w.Evacuate(true, "panel", "alarm"); again.ID != e.ID {
		t.Fatalf("a second start is the same emergency: %+v", again)
	}
	// A muster kiosk's check-in, delivered by the broker.
	w.SiteEvent(record.Event{EventID: "m-1", Seq: 1, TS: record.Timestamp(now), Site: "plant", Gate: "assembly", Decision: record.DecisionGranted,
		Reason: []string{"mustered"}, UserID: "u2", Mode: record.ModeMuster, EvacuationID: e.ID})
	rep := w.Report()
	if rep.Muster == nil || len(rep.Muster.Present) != 2 || len(rep.Muster.Missing) != 1 || rep.Muster.Missing[0].UserID != "u1" {
		t.Fatalf("muster %+v", rep.Muster)
	}
	views := w.Views()
	if views.Muster == nil || !views.Muster.Active || views.Muster.Present != 2 || len(views.Muster.Missing) != 1 || len(views.Muster.Mustered) != 1 ||
		views.Occupancy.Zones["site"].Count != 2 || views.Occupancy.Zones["zone-b"] != (mqtt.ZoneCount{Count: 1, Max: 1}) {
		t.Fatalf("views %+v %+v", views.Muster, views.Occupancy)
	}
	// A correction (the admin API), then the end.
	if _, err := w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "yard"}); !errors.Is(err, kiosk.ErrSiteRequest) {
		t.Fatalf("unknown zone: %v", err)
	}
	// Without a broker it stays this gate's fact, and the answer says so.
	if done, err := w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "outside", By: "marshal", Reason: "left through the fire exit"}); err != nil || done.Broadcast || done.Detail == "" {
		t.Fatalf("correction without a broker: %+v %v", done, err)
	}
	if rep := w.Report(); len(rep.Muster.Missing) != 0 {
		t.Fatalf("after the correction: missing %+v", rep.Muster.Missing)
	}
	if e, err := w.Evacuate(false, "marshal", "all clear"); err != nil || e.Active {
		t.Fatalf("end: %+v %v", e, err)
	}
	// The signed commands apply the same way on every gate.
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: "evac-cmd", By: "ops", Issued: now.Add(time.Second)})
	if e := w.Evacuation(); !e.Active || e.ID != "evac-cmd" {
		t.Fatalf("after cmd/evacuate: %+v", e)
	}
	w.SiteCommand(mqtt.Correct{UserID: "u2", Zone: "outside", By: "ops", Issued: now.Add(2 * time.Second)})
	w.SiteCommand(mqtt.Evacuate{Action: mqtt.EvacuateEnd, ID: "evac-cmd", By: "ops", Issued: now.Add(3 * time.Second)})
	if e := w.Evacuation(); e.Active {
		t.Fatalf("after the end command: %+v", e)
	}
	if occ := w.presence.Occupancy(); occ["site"] != 0 {
		t.Fatalf("occupancy after the corrections: %v", occ)
	}
	// The retained state of another gate's evacuation joins too.
	ts := record.Timestamp(now.Add(4 * time.Second))
	w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-retained", Since: ts, TS: ts, By: "panel", Gate: "south"})
	if e := w.Evacuation(); !e.Active || e.ID != "evac-retained" {
		t.Fatalf("after the retained state: %+v", e)
	}
}

// The state survives a restart (the state file in state_dir).
func TestSiteWireStatePersists(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Record(grantAt("north", 1, "u1", "outside", "site", time.Now()))
	if err := w.presence.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "site-presence.json")); err != nil {
		t.Fatal(err)
	}
	w2, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, v := w2.Check("u1", time.Now()); v.Allowed {
		t.Fatalf("after a restart: %+v", v)
	}
}

// TestRunSiteGate runs the daemon with zones: its own grant counts at once
// (a second entry is denied, hard), the fire-alarm input evacuates (relay
// held, alert, retained state, muster list, sessions refused) until the
// admin API ends it (relay released).
func TestRunSiteGate(t *testing.T) {
	r := newRig(t, 0)
	const adminToken = "site-admin-token-0123456789"
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  fire_alarm: {line: GPIO9}\n  leds:\n", 1) + `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
  anti_passback: {mode: hard}
  evacuation: {release_relay: true}
  admin_token: ` + adminToken + "\n")
	evac := make(chan mqtt.Evacuation, 10)
	if err := r.broker.Subscribe("facegate/test/evacuation", func(_ string, payload []byte, _ bool) {
		if e, err := mqtt.ParseEvacuation(payload); err == nil {
			evac <- e
		}
	}); err != nil {
		t.Fatal(err)
	}
	r.start()
	idle := func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }
	require.Eventually(t, idle, 10*time.Second, 20*time.Millisecond, "idle")
	events := func() []record.Event {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Clone(r.bl.events)
	}
	r.identify()
	require.Eventually(t, func() bool { return r.bl.granted() == 1 }, 30*time.Second, 20*time.Millisecond, "a granted event")
	if ev := events()[0]; ev.ZoneFrom != "outside" || ev.ZoneTo != "site" || ev.Direction != "entry" || ev.SiteView != "site" {
		t.Fatalf("granted event without its zones: %+v", ev)
	}
	require.Eventually(t, idle, 10*time.Second, 20*time.Millisecond, "idle again")
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 2 }, 30*time.Second, 20*time.Millisecond, "a second event")
	if ev := events()[1]; ev.Decision != record.DecisionDenied || !slices.Contains(ev.Reason, kiosk.ReasonPassbackSameZone) {
		t.Fatalf("second entry: %s %v", ev.Decision, ev.Reason)
	}
	var rep kiosk.SiteReport
	code, body := r.get("/site.json")
	if err := json.Unmarshal([]byte(body), &rep); code != http.StatusOK || err != nil || len(rep.Zones) != 1 ||
		len(rep.Zones[0].People) != 1 || rep.Zones[0].People[0].UserID != "worker-1" {
		t.Fatalf("/site.json: %d %v %s", code, err, body)
	}

	// The fire alarm.
	if err := r.d.p.gate.Sim().SetInput("fire_alarm", true); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return r.d.p.gate.Relay.Held() && r.d.p.gate.Sim().Level("relay") }, 10*time.Second, 20*time.Millisecond, "the relay held open")
	select {
	case e := <-evac:
		if !e.Active || e.Gate != "door1" || !strings.HasPrefix(e.ID, "evac-") {
			t.Fatalf("retained evacuation %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retained evacuation state")
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.ContainsFunc(r.bl.alerts, func(a mqtt.Alert) bool { return a.Code == kiosk.AlertEvacuation })
	}, 10*time.Second, 20*time.Millisecond, "the evacuation alert")

	_, body = r.get("/site.json")
	rep = kiosk.SiteReport{}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || !rep.Evacuation.Active || rep.Muster == nil ||
		len(rep.Muster.Missing) != 1 || rep.Muster.Missing[0].UserID != "worker-1" {
		t.Fatalf("/site.json during the evacuation: %v %s", err, body)
	}
	if code, body := r.get("/site/muster.csv"); code != http.StatusOK || !strings.Contains(body, "worker-1,") {
		t.Fatalf("/site/muster.csv: %d %s", code, body)
	}
	require.Eventually(t, idle, 10*time.Second, 20*time.Millisecond, "idle")
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 3 }, 30*time.Second, 20*time.Millisecond, "a third event")
	if ev := events()[2]; ev.Decision != record.DecisionDenied || !slices.Contains(ev.Reason, kiosk.ReasonEvacuation) || ev.EvacuationID != rep.Evacuation.ID {
		t.Fatalf("during the evacuation: %+v", ev)
	}
	if err := r.d.p.gate.Sim().SetInput("fire_alarm", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !r.d.p.gate.Relay.Held() {
		t.Fatal("the alarm clearing ended the evacuation: only an operator may")
	}

	// The operator ends it.
	req, _ := http.NewRequest("POST", "http://"+r.d.addrString()+"/api/site/evacuation", strings.NewReader(`{"action":"end","by":"marshal"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("end: %d", resp.StatusCode)
	}
	require.Eventually(t, func() bool { return !r.d.p.gate.Relay.Held() && !r.d.p.gate.Sim().Level("relay") }, 10*time.Second, 20*time.Millisecond, "the relay released")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.cfgPath), "state", "site-presence.json")); err != nil {
		t.Fatalf("presence not saved at shutdown: %v", err)
	}
}

// TestShutdownDuringAnEvacuationRecordsTheRelease stops the daemon while
// its relay is held for an evacuation: halting drives the line inactive,
// and the audit log must say so (until 2026-12-07 its last relay_hold
// said held:true while the door was locked again).
func TestShutdownDuringAnEvacuationRecordsTheRelease(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  fire_alarm: {line: GPIO9}\n  leds:\n", 1) + `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
  evacuation: {release_relay: true}
`)
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	require.NoError(t, r.d.p.gate.Sim().SetInput("fire_alarm", true))
	require.Eventually(t, func() bool { return r.d.p.gate.Relay.Held() && r.d.p.gate.Sim().Level("relay") }, 10*time.Second, 20*time.Millisecond, "the relay held open")
	require.Equal(t, exitOK, r.stop(), r.logs.String())
	require.False(t, r.d.p.gate.Sim().Level("relay"), "the relay line is inactive after shutdown")

	b, err := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
	require.NoError(t, err)
	var holds []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec["kind"] == "relay_hold" {
			holds = append(holds, rec)
		}
	}
	require.Len(t, holds, 2, "a hold and its release: %s", b)
	require.Equal(t, true, holds[0]["held"])
	require.Equal(t, false, holds[1]["held"])
	require.Equal(t, kiosk.ReasonShutdown, holds[1]["reason"])
	require.Equal(t, holds[0]["evacuation_id"], holds[1]["evacuation_id"])
}

// The zones and the mode are read at start: a reload says they wait.
func TestRestartNeededForZones(t *testing.T) {
	a, b := config.Default(), config.Default()
	b.Mode = config.ModeMuster
	b.Zones.Enabled = true
	b.Zones.List = []config.Zone{{Name: "site"}}
	if got := strings.Join(restartNeeded(a, b), ","); got != "mode,zones" {
		t.Fatalf("got %q", got)
	}
}

// nopSelector, nopAuth and nopRelay make a kiosk that never runs a session.
type nopSelector struct{}

func (nopSelector) SelectFace(ctx context.Context, _ func(kiosk.Progress)) (kiosk.Face, error) {
	<-ctx.Done()
	return kiosk.Face{}, ctx.Err()
}

type nopAuth struct{}

func (nopAuth) Authenticate(context.Context, faceauth.Request) (*faceauth.Result, error) {
	return nil, errors.New("no API in this test")
}

type nopRelay struct{}

func (nopRelay) Pulse(context.Context, time.Duration, func()) error {
	return errors.New("no relay in this test")
}

// alertLog is a kiosk.Publisher that keeps the alerts.
type alertLog struct {
	mu     sync.Mutex
	alerts []kiosk.Alert
}

func (a *alertLog) PublishEvent(record.Event) error       { return nil }
func (a *alertLog) PublishPulse(record.PulseResult) error { return nil }
func (a *alertLog) PublishState(kiosk.Status) error       { return nil }
func (a *alertLog) PublishHealth(kiosk.Health) error      { return nil }
func (a *alertLog) PublishAlert(al kiosk.Alert) error {
	a.mu.Lock()
	a.alerts = append(a.alerts, al)
	a.mu.Unlock()
	return nil
}
func (a *alertLog) codes() (out []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.alerts {
		out = append(out, al.Code)
	}
	return out
}

// Checks on the gate's own copy while the broker is away say so once per
// outage (site_unreachable) and mark the verdicts local.
func TestSiteWireUnreachableAlertsOnce(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML+"mqtt:\n  enabled: true\n  urls: [\"tcp://127.0.0.1:1\"]\n")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	mo, err := mqttOptions(cfg, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	w.mqttOptions(&mo)
	b, err := mqtt.New(mo) // never run: never connected
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	pub := &alertLog{}
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: pub,
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, b); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, v := w.Check("u1", time.Now()); v.View != "local" {
			t.Fatalf("view %q while disconnected", v.View)
		}
	}
	if got := pub.codes(); !slices.Equal(got, []string{kiosk.AlertSiteUnreachable}) {
		t.Fatalf("alerts %v, want one site_unreachable", got)
	}
}

// BenchmarkSiteWireCheck is the site's part of a session's policy tail with
// 10,000 people on site: the kiosk's Check through the adapter.
func BenchmarkSiteWireCheck(b *testing.B) {
	cfg, err := config.Parse("site.yaml", []byte("state_dir: "+b.TempDir()+"\n"+entranceYAML), nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := newSiteWire(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 10000 {
		w.SiteEvent(grantAt("south", uint64(i+1), "u"+strconv.Itoa(i), "outside", "site", now.Add(-time.Hour)))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.Check("u"+strconv.Itoa(i%20000), now)
	}
}

// An exit door, and a two-way door taken outwards, are exits: the kiosk
// keeps them open during an evacuation.
func TestSiteWireExits(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	exit, err := newSiteWire(siteTestConfig(t, strings.Replace(entranceYAML, "{from: outside, to: site, direction: entry}", "{from: site, to: outside, direction: exit}", 1)), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, v := exit.Check("u1", time.Now()); !p.Exit || !v.Allowed || p.To != "outside" {
		t.Fatalf("exit door: %+v %+v", p, v)
	}
	if p, v := exit.Check("", time.Now()); !p.Exit || !v.Allowed {
		t.Fatalf("exit door without a user id, hard anti-passback: %+v %+v", p, v)
	}
	both, err := newSiteWire(siteTestConfig(t, strings.Replace(entranceYAML, "direction: entry", "direction: both", 1)), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if p, _ := both.Check("u1", now); p.Exit || p.To != "site" {
		t.Fatalf("two-way door inwards: %+v", p)
	}
	both.Record(grantAt("north", 1, "u1", "outside", "site", now))
	if p, v := both.Check("u1", now.Add(time.Second)); !p.Exit || p.To != "outside" || !v.Allowed {
		t.Fatalf("two-way door outwards: %+v %+v", p, v)
	}
}

// siteBrokerGate is a site wire with a running broker client.
type siteBrokerGate struct {
	w *siteWire
	b *mqtt.Client
}

func startSiteBrokerGate(t *testing.T, url, gate, secret string) siteBrokerGate {
	t.Helper()
	yml := strings.Replace(entranceYAML, "gate: north", "gate: "+gate, 1) +
		"mqtt:\n  enabled: true\n  urls: [\"" + url + "\"]\n  commands:\n    open:\n      secret: \"" + secret + "\"\n"
	w, b := runSiteWire(t, siteTestConfig(t, yml), func(mo *mqtt.Options) {
		// Snapshots only just after connect: what arrives later came as a command.
		mo.Zones.SnapshotWindow = 50 * time.Millisecond
	}, func(w *siteWire, b *mqtt.Client) { w.brokerP.Store(b) })
	return siteBrokerGate{w: w, b: b}
}

// runSiteWire builds cfg's site wire and broker client (tune adjusts the
// client's options), hands both to ready, then runs the client until the
// test ends.
func runSiteWire(t *testing.T, cfg *config.Config, tune func(*mqtt.Options), ready func(*siteWire, *mqtt.Client)) (*siteWire, *mqtt.Client) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	mo, err := mqttOptions(cfg, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	w.mqttOptions(&mo)
	tune(&mo)
	b, err := mqtt.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	ready(w, b)
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	t.Cleanup(func() { cancel(); b.Close(context.Background()) })
	return w, b
}

// inZone is when the person was put in zone by the presence (zero: not
// there).
func inZone(p map[string][]site.Person, zone, user string) time.Time {
	for _, x := range p[zone] {
		if x.ID == user {
			return x.Since
		}
	}
	return time.Time{}
}

// A correction through the admin API reaches every connected gate at once
// (the signed cmd/correct), and every gate writes the same register; with
// the site commands off it stays this gate's fact until the snapshots, and
// the answer says so.
func TestSiteWireCorrectionReachesPeersAtOnce(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const secret = "site-secret-0123456789"
	north := startSiteBrokerGate(t, mq.URL(), "north", secret)
	east := startSiteBrokerGate(t, mq.URL(), "east", secret)
	south := startSiteBrokerGate(t, mq.URL(), "south", "")
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() && south.b.Connected() },
		5*time.Second, 5*time.Millisecond, "connected")
	// Past the replay memory's first second and the snapshot windows.
	time.Sleep(1100 * time.Millisecond)
	in := grantAt("east", 1, "u1", "site", "zone-b", time.Now().Add(-time.Minute))
	for _, g := range []siteBrokerGate{north, east, south} {
		g.w.SiteEvent(in)
	}
	if _, err := north.w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "yard"}); !errors.Is(err, kiosk.ErrSiteRequest) {
		t.Fatalf("unknown zone: %v", err)
	}
	done, err := north.w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "site", By: "marshal", Reason: "came back from zone B unseen"})
	if err != nil || !done.Broadcast || done.Detail != "" {
		t.Fatalf("correction with site commands: %+v %v", done, err)
	}
	at := inZone(north.w.presence.Inside(), "site", "u1")
	if at.IsZero() || at.Nanosecond() != 0 {
		t.Fatalf("north: u1 put in site at %v, want the signed ts (whole seconds)", at)
	}
	require.Eventually(t, func() bool { return !inZone(east.w.presence.Inside(), "site", "u1").IsZero() },
		5*time.Second, 5*time.Millisecond, "east applied the correction")
	if got := east.w.presence.Inside()["site"]; len(got) != 1 || !got[0].Since.Equal(at) || got[0].Gate != cmdGate {
		t.Fatalf("east's register %+v, north's since %v: the gates wrote different facts", got, at)
	}
	if got := north.w.presence.Inside()["site"]; len(got) != 1 || got[0].Gate != cmdGate {
		t.Fatalf("north's register %+v", got)
	}
	// South has no command secret: not subscribed, and its own correction
	// is not sent either.
	if !inZone(south.w.presence.Inside(), "site", "u1").IsZero() {
		t.Fatal("south applied a command it does not accept")
	}
	done, err = south.w.Correct(kiosk.SiteCorrection{UserID: "u2", Zone: "site"})
	if err != nil || done.Broadcast || !strings.Contains(done.Detail, "site commands are off") {
		t.Fatalf("correction without site commands: %+v %v", done, err)
	}
}

// startSiteKiosk makes the kiosk of cfg on w with pub and starts w on
// it, without a broker.
func startSiteKiosk(t *testing.T, cfg *config.Config, w *siteWire, pub kiosk.Publisher, log *slog.Logger) *kiosk.Kiosk {
	t.Helper()
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: pub,
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, nil); err != nil {
		t.Fatal(err)
	}
	return k
}

// A zone at its maximum raises occupancy_reached and, when it falls below
// again, occupancy_below.
func TestSiteWireOccupancyAlerts(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := &alertLog{}
	startSiteKiosk(t, cfg, w, pub, log)
	now := time.Now()
	w.SiteEvent(grantAt("east", 1, "u1", "site", "zone-b", now.Add(-2*time.Minute))) // zone-b: 1 of 1
	w.handle()
	w.SiteEvent(grantAt("east", 2, "u1", "zone-b", "site", now.Add(-time.Minute))) // 0 of 1
	w.handle()
	if got := pub.codes(); !slices.Equal(got, []string{kiosk.AlertOccupancyReached, kiosk.AlertOccupancyBelow}) {
		t.Fatalf("alerts %v", got)
	}
	if !slices.Contains(mqtt.AlertCodes, kiosk.AlertOccupancyBelow) {
		t.Fatal("occupancy_below is not in mqtt.AlertCodes (Home Assistant's alert event types)")
	}
}

// zones.time_zone is the zone reset_at is read in; without it the
// machine's own (a gate left on another zone than its peers would reset
// at its own hour: their merges now ignore such a reset, site/snapshot.go).
func TestPresenceOptionsTimeZone(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML+"  reset_at: \"04:00\"\n  time_zone: Pacific/Kiritimati\n")
	o, err := presenceOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Equal(t, "Pacific/Kiritimati", o.Location.String())
	require.Equal(t, "04:00", o.ResetAt)

	var logs bytes.Buffer
	cfg = siteTestConfig(t, entranceYAML+"  reset_at: \"04:00\"\n")
	o, err = presenceOptions(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.Equal(t, time.Local, o.Location)
	require.Contains(t, logs.String(), "set zones.time_zone alike on every gate")
}

// A failed periodic save of the site state raises state_dir (site.Options
// SaveFailed): until 2026-12-07 it was only a log line.
func TestSiteStateSaveFailureIsAlerted(t *testing.T) {
	w, _, pub := relayWire(t, siteTestConfig(t, entranceYAML), nil)
	w.saveFailed(errors.New("no space left on device"))
	require.Eventually(t, func() bool { return slices.Contains(pub.codes(), "state_dir") }, 5*time.Second, 10*time.Millisecond,
		"no state_dir alert: %v", pub.codes())
}
