package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt"
)

// FuzzPeerTrafficSurvivesTheStateFile (found by a red-team pass): whatever peer
// traffic the MQTT parsers accept (a peer's event, relay result, the
// retained evacuation state, a peer's snapshot) and the site wire applies,
// the presence saves a state file that the next start loads whole, to the
// same snapshot, and that a peer merges. A fact taken in that its own
// state file cannot hold makes the gate start empty (the file set aside)
// after the next restart: passback and occupancy forgotten, and its
// snapshot refused by every peer.
func FuzzPeerTrafficSurvivesTheStateFile(f *testing.F) {
	now := time.Now().UTC()
	ts := now.Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")
	f.Add([]byte(`{"event_id":"south-1","seq":1,"ts":"`+ts+`","site":"plant","gate":"south","decision":"granted","reason":["approved"],"user_id":"u1","zone_from":"outside","zone_to":"site","direction":"entry","relay":"pending"}`),
		[]byte(`{"kind":"relay","event_id":"south-1","ts":"`+ts+`","site":"plant","gate":"south","relay":"not_energised","reason":"relay_failed","duration_ms":0}`),
		[]byte(`{"active":true,"id":"evac-1","since":"`+ts+`","ts":"`+ts+`","by":"ops","reason":"drill","gate":"south"}`), []byte(nil))
	f.Add([]byte(`{"event_id":"m-1","seq":2,"ts":"`+ts+`","site":"plant","gate":"assembly","decision":"granted","user_id":"u1","mode":"muster","evacuation_id":"evac-1"}`),
		[]byte(nil), []byte(`{"active":false,"id":"evac-1","since":"`+ts+`","ts":"`+ts+`","by":"ops"}`),
		[]byte(`{"format":"facegate-site-presence","version":1,"persons":[{"user_id":"u2","zone":"zone-b","ts":"`+ts+`","gate":"south"}]}`))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, event, relay, evac, snap []byte) {
		cfg := siteTestConfig(t, entranceYAML)
		w, err := newSiteWire(cfg, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := mqtt.ParseEvacuation(evac); err == nil {
			w.SiteEvacuation(e)
		}
		if ev, err := mqtt.ParseSiteEvent(event); err == nil && ev.Site == "plant" && ev.Gate != "north" {
			w.SiteEvent(ev)
		}
		if r, err := mqtt.ParseSitePulse(relay); err == nil && r.Site == "plant" && r.Gate != "north" {
			w.SiteRelay(r)
		}
		if len(snap) > 0 {
			w.SiteSnapshot("south", snap)
		}
		if err := w.presence.Save(); err != nil {
			t.Fatal(err)
		}
		again, err := newSiteWire(cfg, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.presence.StateProblem(); err != nil {
			t.Fatalf("the state file saved after peer traffic does not load: %v", err)
		}
		if a, b := string(w.presence.Snapshot()), string(again.presence.Snapshot()); a != b {
			t.Fatalf("state round trip differs:\n%s\n%s", a, b)
		}
		peer, err := newSiteWire(siteTestConfig(t, entranceYAML), log, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peer.presence.Merge(w.presence.Snapshot()); err != nil {
			t.Fatalf("a peer refuses this gate's snapshot after peer traffic: %v", err)
		}
	})
}
