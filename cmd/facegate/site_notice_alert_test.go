package main

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/site"
)

// A peer's clock far ahead, or a peer resetting the site on another
// schedule, is a fault a person must fix on some gate. Until 2026-12-08 it
// was only a line in this gate's journal. It is an operator alert now, at
// most once an hour per kind: every peer snapshot carries it again.
func TestSiteClockSkewAndResetMismatchAreAlerted(t *testing.T) {
	cfg := siteTestConfig(t, entranceYAML)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	at := time.Now()
	w.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	pub := &alertLog{}
	startSiteKiosk(t, cfg, w, pub, log)
	// A peer stamped its passage a day ahead: not applied, clock_skew.
	w.SiteEvent(grantAt("east", 1, "u1", "site", "zone-b", time.Now().Add(24*time.Hour)))
	w.handle()
	w.SiteEvent(grantAt("east", 2, "u2", "site", "zone-b", time.Now().Add(24*time.Hour)))
	w.handle()
	mismatch := site.Notice{Kind: site.NoticeResetMismatch, Message: "a peer reset the site at 2026-12-08T03:00:00Z, not at this gate's reset_at"}
	w.onChange(site.Change{Notices: []site.Notice{mismatch}})
	w.handle()
	w.onChange(site.Change{Notices: []site.Notice{mismatch}})
	w.handle()
	want := []string{kiosk.AlertClockSkew, kiosk.AlertResetMismatch}
	if got := pub.codes(); !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v (once per kind within the hour)", got, want)
	}
	pub.mu.Lock()
	alerts := slices.Clone(pub.alerts)
	pub.mu.Unlock()
	for _, a := range alerts {
		if a.Code == kiosk.AlertClockSkew && !strings.Contains(a.Message, "NTP") {
			t.Errorf("clock_skew alert %q does not say what to check", a.Message)
		}
	}
	mu.Lock()
	at = at.Add(61 * time.Minute)
	mu.Unlock()
	w.onChange(site.Change{Notices: []site.Notice{mismatch}})
	w.handle()
	if got := pub.codes(); !slices.Equal(got, append(want, kiosk.AlertResetMismatch)) {
		t.Fatalf("an hour later: alerts %v, want reset_mismatch again", got)
	}
	for _, c := range want {
		if !slices.Contains(mqtt.AlertCodes, c) {
			t.Errorf("%s is not in mqtt.AlertCodes (Home Assistant's alert event types)", c)
		}
	}
}
