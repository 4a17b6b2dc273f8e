package kiosk

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzSitePageAuth (found by a red-team pass): the site page's guard (siteRead)
// parses a query string, an Authorization header and a cookie from any
// machine. From another machine, whatever the three hold, the page, its
// JSON and the muster list are served (200) or a cookie set (303) only
// when one of them carries zones.page_token, and a refusal shows none of
// the site (names, zones) and sets no cookie.
func FuzzSitePageAuth(f *testing.F) {
	for _, s := range [][4]string{
		{"/site", sitePageToken, "", ""},
		{"/site.json", "", "Bearer " + sitePageToken, ""},
		{"/site/muster.csv", "", "", sitePageToken},
		{"/site", "nope", "Bearer nope", "nope"},
		{"/site", " " + sitePageToken + " ", "bearer " + sitePageToken, `"` + sitePageToken + `"`},
		{"/site.json", "", "Bearer " + siteAdminToken, ""},
		{"/site", "", "Bearer  " + sitePageToken + "\t", sitePageToken + ";x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, path, query, auth, cookie string) {
		switch path {
		case "/site", "/site.json", "/site/muster.csv":
		default:
			path = "/site"
		}
		target := path
		if query != "" {
			target += "?" + url.Values{"token": {query}}.Encode()
		}
		k, _ := siteWebRig(t)
		rec := siteGet(k.Handler(), target, "192.0.2.7:5000", func(r *http.Request) {
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			if cookie != "" {
				r.Header.Set("Cookie", siteCookie+"="+cookie)
			}
		})
		right := func(s string) bool { return strings.TrimSpace(s) == sitePageToken }
		var sent string
		if c, err := (&http.Request{Header: http.Header{"Cookie": {siteCookie + "=" + cookie}}}).Cookie(siteCookie); err == nil && cookie != "" {
			sent = c.Value
		}
		bearer, isBearer := strings.CutPrefix(auth, "Bearer ")
		ok := (query != "" && path == "/site" && right(query)) || (isBearer && right(bearer)) || (cookie != "" && right(sent))
		switch rec.Code {
		case http.StatusOK, http.StatusSeeOther:
			if !ok {
				t.Fatalf("%s from another machine without the page token (query %q, auth %q, cookie %q): %d", path, query, auth, cookie, rec.Code)
			}
		default:
			if body := rec.Body.String(); strings.Contains(body, "zone-b") || strings.Contains(body, "Ana Silva") {
				t.Fatalf("a refusal (%d) shows the site: %q", rec.Code, body)
			}
		}
		if rec.Code != http.StatusSeeOther && len(rec.Result().Cookies()) > 0 {
			t.Fatalf("%d sets a cookie: %v", rec.Code, rec.Result().Cookies())
		}
		if rec.Code == http.StatusSeeOther {
			for _, c := range rec.Result().Cookies() {
				if c.Name == siteCookie && !right(c.Value) {
					t.Fatalf("cookie %q set for query %q: not the page token", c.Value, query)
				}
			}
		}
	})
}

// FuzzSiteAdminAuth (found by a red-team pass): the site admin API (siteAdmin)
// parses the remote address, the Authorization header and a JSON body. A
// correction or an evacuation (start: relays released) reaches the site
// only from this machine with zones.admin_token as the bearer, and with a
// body that names exactly what it reached the site with.
func FuzzSiteAdminAuth(f *testing.F) {
	f.Add(true, "127.0.0.1:5000", "Bearer "+siteAdminToken, `{"action":"start","by":"marshal","reason":"drill"}`)
	f.Add(false, "127.0.0.1:5000", "Bearer "+siteAdminToken, `{"user_id":"u-1","zone":"outside"}`)
	f.Add(true, "10.0.0.9:5000", "Bearer "+siteAdminToken, `{"action":"start"}`)
	f.Add(false, "[::1]:5000", "Bearer "+sitePageToken, `{"user_id":"u-1","zone":"site"}`)
	f.Add(true, "[::ffff:127.0.0.1]:1", "bearer "+siteAdminToken+" ", `{"action":"end"}`)
	f.Fuzz(func(t *testing.T, evac bool, remote, auth, body string) {
		k, site := siteWebRig(t)
		path := "/api/site/correct"
		if evac {
			path = "/api/site/evacuation"
		}
		req := localRequest("POST", path, strings.NewReader(body))
		req.RemoteAddr = remote
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		k.Handler().ServeHTTP(rec, req)
		site.mu.Lock()
		reached := len(site.fixes) + len(site.evacs)
		site.mu.Unlock()
		if reached == 0 {
			if rec.Code == http.StatusOK {
				t.Fatalf("200 without reaching the site: %s", rec.Body)
			}
			return
		}
		ap, err := netip.ParseAddrPort(remote)
		bearer, isBearer := strings.CutPrefix(auth, "Bearer ")
		if err != nil || !ap.Addr().Unmap().IsLoopback() || !isBearer || strings.TrimSpace(bearer) != siteAdminToken {
			t.Fatalf("%s reached the site from %q with %q", path, remote, auth)
		}
		if evac {
			e, err := ParseSiteEvacuation([]byte(body))
			if err != nil || len(site.evacs) != 1 || site.evacs[0] != (e.Action == "start") {
				t.Fatalf("evacuation %v from body %q (%v)", site.evacs, body, err)
			}
		} else {
			c, err := ParseSiteCorrection([]byte(body))
			if err != nil || len(site.fixes) != 1 || site.fixes[0] != c {
				t.Fatalf("correction %+v from body %q (%v)", site.fixes, body, err)
			}
		}
	})
}
