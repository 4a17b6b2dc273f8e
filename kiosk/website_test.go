package kiosk

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/zonerules"
)

const (
	sitePageToken  = "site-page-token-0123456789"
	siteAdminToken = "site-admin-token-0123456789"
)

func siteWebRig(t *testing.T) (*Kiosk, *fakeSite) {
	t.Helper()
	cfg := siteConfig(t, modeGate)
	cfg.Zones.PageToken = sitePageToken
	cfg.Zones.AdminToken = siteAdminToken
	roster := filepath.Join(t.TempDir(), "roster.csv")
	if err := os.WriteFile(roster, []byte("badge_id,submission_id,user_id,display_name\nB1,s1,u-1,Ana Silva\nB2,s2,u-2,=cmd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Identity.RosterFile = roster
	site := newFakeSite()
	at := time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC)
	site.report = SiteReport{View: "site", At: at, Zones: []SiteZone{
		{Name: "site", Inside: "outside", Occupancy: 3, Max: 200, People: []SitePerson{{UserID: "u-1", Zone: "site", Since: at}}},
		{Name: "zone-b", Inside: "site", Hazardous: true, Occupancy: 2, Max: 2, People: []SitePerson{
			{UserID: "u-2", Zone: "zone-b", Since: at.Add(time.Minute)}, {UserID: "u-3", Zone: "zone-b", Since: at.Add(2 * time.Minute)}}},
	}}
	r := newSiteRig(t, cfg, site)
	return r.k, site
}

func siteGet(h http.Handler, target, remote string, mut func(*http.Request)) *httptest.ResponseRecorder {
	req := localRequest("GET", target, nil)
	req.RemoteAddr = remote
	if mut != nil {
		mut(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSitePageAccess(t *testing.T) {
	k, _ := siteWebRig(t)
	h := k.Handler()
	const lan = "192.168.1.20:5000"
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	for _, tc := range []struct {
		name, target, remote string
		mut                  func(*http.Request)
		want                 int
	}{
		{"this machine", "/site", "127.0.0.1:5000", nil, http.StatusOK},
		{"LAN without token", "/site", lan, nil, http.StatusUnauthorized},
		{"LAN json without token", "/site.json", lan, nil, http.StatusUnauthorized},
		{"LAN csv without token", "/site/muster.csv", lan, nil, http.StatusUnauthorized},
		{"LAN with the admin token", "/site.json", lan, bearer(siteAdminToken), http.StatusUnauthorized},
		{"LAN with the token", "/site.json", lan, bearer(sitePageToken), http.StatusOK},
		{"LAN with the cookie", "/site/muster.csv", lan, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: siteCookie, Value: sitePageToken}) }, http.StatusOK},
		{"LAN with a wrong cookie", "/site", lan, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: siteCookie, Value: "nope"}) }, http.StatusUnauthorized},
		{"wrong token in the URL", "/site?token=nope", lan, nil, http.StatusUnauthorized},
		{"token in the URL sets the cookie", "/site?token=" + sitePageToken, lan, nil, http.StatusSeeOther},
	} {
		rec := siteGet(h, tc.target, tc.remote, tc.mut)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
		if rec.Code == http.StatusSeeOther {
			c := rec.Result().Cookies()
			if len(c) != 1 || c[0].Name != siteCookie || c[0].Value != sitePageToken || !c[0].HttpOnly || rec.Header().Get("Location") != "/site" {
				t.Errorf("%s: cookies %+v location %q", tc.name, c, rec.Header().Get("Location"))
			}
		}
	}
}

func TestSitePageShowsZonesAndNames(t *testing.T) {
	k, site := siteWebRig(t)
	h := k.Handler()
	rec := siteGet(h, "/site", "127.0.0.1:5000", nil)
	body := rec.Body.String()
	for _, want := range []string{"zone-b", "2 / 2", "Ana Silva", "u-3", `class="full"`, "site view"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "EVACUATION") {
		t.Error("evacuation banner without an evacuation")
	}
	site.mu.Lock()
	site.report.View = "local"
	site.report.Evacuation = SiteEvacuation{Active: true, ID: "e1", Since: site.report.At}
	site.report.Muster = &SiteMuster{ID: "e1",
		Present: []SitePerson{{UserID: "u-1", Zone: "site"}, {UserID: "u-2", Zone: "zone-b", MusteredAt: site.report.At}, {UserID: "u-3", Zone: "zone-b"}},
		Missing: []SitePerson{{UserID: "u-1", Zone: "site"}, {UserID: "u-3", Zone: "zone-b"}}}
	site.mu.Unlock()
	body = siteGet(h, "/site", "127.0.0.1:5000", nil).Body.String()
	for _, want := range []string{"EVACUATION — 2 missing", "broker unreachable", "muster.csv"} {
		if !strings.Contains(body, want) {
			t.Errorf("evacuation page lacks %q:\n%s", want, body)
		}
	}
	var rep SiteReport
	if err := json.Unmarshal(siteGet(h, "/site.json", "127.0.0.1:5000", nil).Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Site != "site" || rep.Gate != "gate" || len(rep.Muster.Missing) != 2 || rep.Muster.Missing[0].Name != "Ana Silva" {
		t.Errorf("site.json %+v", rep)
	}
}

func TestMusterCSV(t *testing.T) {
	k, site := siteWebRig(t)
	h := k.Handler()
	at := time.Date(2026, 3, 4, 7, 30, 0, 0, time.UTC)
	site.report.Evacuation = SiteEvacuation{Active: true, ID: "e1"}
	site.report.Muster = &SiteMuster{ID: "e1", Present: []SitePerson{
		{UserID: "u-2", Zone: "zone-b", Since: at, MusteredAt: at.Add(5 * time.Minute)},
		{UserID: "u-3", Zone: "zone-b", Since: at},
		{UserID: "u-1", Zone: "site", Since: at},
	}}
	rec := siteGet(h, "/site/muster.csv", "127.0.0.1:5000", nil)
	if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(rec.Header().Get("Content-Disposition"), "muster-e1.csv") {
		t.Errorf("headers %v", rec.Header())
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"user_id", "name", "zone", "since", "mustered_at"},
		{"u-1", "Ana Silva", "site", "2026-03-04T07:30:00.000Z", ""}, // missing first
		{"u-3", "", "zone-b", "2026-03-04T07:30:00.000Z", ""},
		{"u-2", "'=cmd", "zone-b", "2026-03-04T07:30:00.000Z", "2026-03-04T07:35:00.000Z"}, // a name is never a formula
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("csv\n got  %v\n want %v", rows, want)
	}
}

func TestSiteAdminAPI(t *testing.T) {
	k, site := siteWebRig(t)
	h := k.Handler()
	post := func(path, remote, token, body string) *httptest.ResponseRecorder {
		req := localRequest("POST", path, strings.NewReader(body))
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const local = "127.0.0.1:5000"
	for _, tc := range []struct {
		name, path, remote, token, body string
		want                            int
	}{
		{"from the LAN", "/api/site/correct", "10.0.0.9:5000", siteAdminToken, `{"user_id":"u-1","zone":"outside"}`, http.StatusForbidden},
		{"no token", "/api/site/correct", local, "", `{"user_id":"u-1","zone":"outside"}`, http.StatusUnauthorized},
		{"page token", "/api/site/evacuation", local, sitePageToken, `{"action":"start"}`, http.StatusUnauthorized},
		{"unknown field", "/api/site/correct", local, siteAdminToken, `{"user_id":"u-1","zone":"outside","door":"x"}`, http.StatusBadRequest},
		{"bad user id", "/api/site/correct", local, siteAdminToken, `{"user_id":"u 1","zone":"outside"}`, http.StatusBadRequest},
		{"bad zone", "/api/site/correct", local, siteAdminToken, `{"user_id":"u-1","zone":"a/b"}`, http.StatusBadRequest},
		{"bad action", "/api/site/evacuation", local, siteAdminToken, `{"action":"pause"}`, http.StatusBadRequest},
		{"correct", "/api/site/correct", local, siteAdminToken, `{"user_id":"u-1","zone":"outside","reason":"left through the fire exit","by":"marshal"}`, http.StatusOK},
		{"start", "/api/site/evacuation", local, siteAdminToken, `{"action":"start","by":"marshal","reason":"drill"}`, http.StatusOK},
		{"end", "/api/site/evacuation", local, siteAdminToken, `{"action":"end","by":"marshal"}`, http.StatusOK},
	} {
		if rec := post(tc.path, tc.remote, tc.token, tc.body); rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	if len(site.fixes) != 1 || site.fixes[0] != (SiteCorrection{UserID: "u-1", Zone: "outside", Reason: "left through the fire exit", By: "marshal"}) {
		t.Errorf("corrections %+v", site.fixes)
	}
	if fmt.Sprint(site.evacs) != "[true false]" {
		t.Errorf("evacuations %v", site.evacs)
	}
	// The answer says how the correction reached the other gates.
	for fixed, want := range map[SiteCorrected]string{
		{Broadcast: true}:                 `{"status":"corrected","broadcast":true}`,
		{Detail: "site commands are off"}: `{"status":"corrected","broadcast":false,"detail":"site commands are off"}`,
	} {
		site.fixed = fixed
		rec := post("/api/site/correct", local, siteAdminToken, `{"user_id":"u-2","zone":"outside"}`)
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("answer %d %s, want %s", rec.Code, rec.Body, want)
		}
	}
	site.fixErr = fmt.Errorf("zone %q: %w", "yard", ErrSiteRequest)
	if rec := post("/api/site/correct", local, siteAdminToken, `{"user_id":"u-1","zone":"yard"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("a zone the site refuses: %d", rec.Code)
	}
	site.fixErr = errors.New("disk full")
	if rec := post("/api/site/correct", local, siteAdminToken, `{"user_id":"u-1","zone":"site"}`); rec.Code != http.StatusInternalServerError {
		t.Errorf("a site failure: %d", rec.Code)
	}
}

func TestSiteRoutesOffWithoutSite(t *testing.T) {
	r := newRig(t, nil)
	h := r.k.Handler()
	if rec := siteGet(h, "/site", "127.0.0.1:5000", nil); rec.Code != http.StatusNotFound {
		t.Errorf("/site without zones: %d", rec.Code)
	}
	req := localRequest("POST", "/api/site/evacuation", strings.NewReader(`{"action":"start"}`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("admin API without zones: %d", rec.Code)
	}
}

func FuzzParseSiteRequests(f *testing.F) {
	f.Add([]byte(`{"user_id":"u-1","zone":"outside","reason":"fire exit","by":"m"}`))
	f.Add([]byte(`{"action":"start","by":"panel"}`))
	f.Add([]byte(`{"user_id":"u-1"}{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if c, err := ParseSiteCorrection(body); err == nil {
			if !ValidID(c.UserID) || (c.Zone != config.Outside && !zonerules.ValidName(c.Zone)) {
				t.Fatalf("accepted %+v", c)
			}
		} else if !errors.Is(err, ErrSiteRequest) {
			t.Fatalf("error %v is not ErrSiteRequest", err)
		}
		if e, err := ParseSiteEvacuation(body); err == nil && e.Action != "start" && e.Action != "end" {
			t.Fatalf("accepted %+v", e)
		} else if err != nil && !errors.Is(err, ErrSiteRequest) {
			t.Fatalf("error %v is not ErrSiteRequest", err)
		}
	})
}

func TestSiteMetricsPassPromtool(t *testing.T) {
	k, site := siteWebRig(t)
	k.countVerdict(SiteVerdict{Allowed: false, Code: ReasonPassbackSameZone})
	k.countVerdict(SiteVerdict{Allowed: true, Soft: true, Code: "passback_from_the_future"})
	k.countVerdict(SiteVerdict{Allowed: true})
	site.report.Evacuation = SiteEvacuation{Active: true, ID: "e1"}
	site.report.Muster = &SiteMuster{ID: "e1", Missing: []SitePerson{{UserID: "u-1"}}}
	rec := httptest.NewRecorder()
	k.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	scrape := rec.Body.String()
	for _, want := range []string{
		`facegate_zone_occupancy{zone="site"} 3`,
		`facegate_zone_occupancy{zone="zone-b"} 2`,
		`facegate_zone_max_occupancy{zone="zone-b"} 2`,
		`facegate_site_evacuation 1`,
		`facegate_site_missing 1`,
		`facegate_site_verdicts_total{code="passback_same_zone",result="denied"} 1`,
		`facegate_site_verdicts_total{code="other",result="soft"} 1`,
		`facegate_site_verdicts_total{code="allowed",result="allowed"} 1`,
		`facegate_site_verdicts_total{code="occupancy_full",result="denied"} 0`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus; make deps installs it)")
		}
		t.Skip("promtool is not installed (Debian package prometheus; make deps installs it)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
