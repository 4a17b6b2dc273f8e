package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
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
	if !v.Allowed || p != (kiosk.SitePassage{From: "outside", To: "site", Direction: "entry"}) || v.View != "local" {
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
	if err := w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "yard"}); !errors.Is(err, kiosk.ErrSiteRequest) {
		t.Fatalf("unknown zone: %v", err)
	}
	if err := w.Correct(kiosk.SiteCorrection{UserID: "u1", Zone: "outside", By: "marshal", Reason: "left through the fire exit"}); err != nil {
		t.Fatal(err)
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

var _ = http.StatusOK
var _ = json.Marshal
var _ = slices.Contains[[]string]
