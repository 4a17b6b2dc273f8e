package kiosk

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzSitePageAuth (red-team, rt-fuzz): the site page's guard (siteRead)
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
