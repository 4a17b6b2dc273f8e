package kiosk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/cdp"
)

// TestSitePageFitsTheTouchscreen renders /site in headless Chromium at the
// Pi's 800x480 (and 480x800) with an evacuation and a long list: nothing
// wider than the screen, text at a readable size.
func TestSitePageFitsTheTouchscreen(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	k, site := siteWebRig(t)
	at := time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC)
	site.report.Evacuation = SiteEvacuation{Active: true, ID: "evac-20260304T073000Z-north", Since: at, Reason: "fire alarm input"}
	m := &SiteMuster{ID: site.report.Evacuation.ID}
	for i := range 25 {
		p := SitePerson{UserID: fmt.Sprintf("worker-with-a-long-id-%02d", i), Zone: "zone-b", Since: at}
		m.Present = append(m.Present, p)
		site.report.Zones[1].People = append(site.report.Zones[1].People, p)
		if i%3 != 0 {
			m.Missing = append(m.Missing, p)
		}
	}
	site.report.Muster = m
	srv := httptest.NewServer(k.Handler())
	t.Cleanup(srv.Close)
	dir := os.Getenv("FACEGATE_ARTIFACTS")
	if dir == "" {
		wd, _ := os.Getwd()
		dir = filepath.Join(wd, "..", "test", "artifacts")
	}
	dir = filepath.Join(dir, "site-page")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := cdp.Start(t, ctx)
	for _, sz := range []struct{ w, h int }{{800, 480}, {480, 800}, {1280, 720}} {
		if err := b.SetViewport(ctx, sz.w, sz.h); err != nil {
			t.Fatal(err)
		}
		if err := b.Navigate(ctx, srv.URL+"/site"); err != nil {
			t.Fatal(err)
		}
		var l struct {
			ScrollW, W float64
			Banner     string
			FontPx     float64
		}
		const probe = `JSON.stringify({ScrollW: document.documentElement.scrollWidth, W: window.innerWidth,
			Banner: (document.querySelector('#evac h1')||{}).textContent || '',
			FontPx: parseFloat(getComputedStyle(document.querySelector('td')).fontSize)})`
		deadline := time.Now().Add(20 * time.Second)
		for {
			var raw string
			if err := b.Eval(ctx, probe, &raw); err == nil && json.Unmarshal([]byte(raw), &l) == nil && l.Banner != "" && int(l.W) == sz.w {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%dx%d: page not ready: %+v", sz.w, sz.h, l)
			}
			time.Sleep(50 * time.Millisecond)
		}
		name := fmt.Sprintf("site-%dx%d", sz.w, sz.h)
		if err := b.Screenshot(ctx, filepath.Join(dir, name+".png")); err != nil {
			t.Fatal(err)
		}
		if l.ScrollW > l.W+0.5 {
			t.Errorf("%s: the page is %v wide on a %v screen", name, l.ScrollW, l.W)
		}
		if l.Banner != "EVACUATION — 16 missing" {
			t.Errorf("%s: banner %q", name, l.Banner)
		}
		if l.FontPx < 15 {
			t.Errorf("%s: table text %vpx", name, l.FontPx)
		}
	}
}
