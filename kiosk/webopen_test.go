package kiosk

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const openToken = "open-token-0123456789abcdef"

// openRig is a running kiosk with POST /api/open on (token openToken, 6 a
// minute) on a clock of its own, which advance moves.
func openRig(t *testing.T) (r *rig, advance func(time.Duration)) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Policy.Cooldown = 0
	cfg.Page.Open.Enabled = true
	cfg.Page.Open.Token = openToken
	cfg.Page.Open.PerMinute = 6
	r = newRig(t, cfg)
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	r.k.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	stop := r.start(t)
	t.Cleanup(func() { _ = stop() })
	return r, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func TestOpenEndpoint(t *testing.T) {
	r, advance := openRig(t)
	h := r.k.Handler()
	post := func(remote, auth, body string) *httptest.ResponseRecorder {
		req := localRequest("POST", "/api/open", strings.NewReader(body))
		req.RemoteAddr = remote
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const local = "127.0.0.1:5000"
	for _, tc := range []struct {
		name, remote, auth, body string
		want                     int
	}{
		{"from the LAN", "192.168.1.9:5000", "Bearer " + openToken, "", http.StatusForbidden},
		{"no token", local, "", "", http.StatusUnauthorized},
		{"identify token", local, "Bearer " + testToken, "", http.StatusUnauthorized},
		{"wrong token", local, "Bearer " + openToken + "x", "", http.StatusUnauthorized},
		{"unknown field", local, "Bearer " + openToken, `{"by":"ha","door":"all"}`, http.StatusBadRequest},
		{"by too long", local, "Bearer " + openToken, `{"by":"` + strings.Repeat("a", 65) + `"}`, http.StatusBadRequest},
	} {
		if rec := post(tc.remote, tc.auth, tc.body); rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	if n := len(r.events()); n != 0 {
		t.Fatalf("refused opens produced %d events", n)
	}
	// The two with the token so far count against the six a minute (those
	// without it against a window of their own, the LAN one is refused
	// before either); the third opens.
	rec := post(local, "Bearer "+openToken, `{"by":"home-assistant","reason":"opened from Home Assistant"}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("open: %d %s", rec.Code, rec.Body)
	}
	require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
	ev := r.events()[0]
	if ev.Decision != "granted" || ev.IdentitySource != SourceHTTP || ev.UserID != "home-assistant" ||
		len(ev.Reason) != 1 || ev.Reason[0] != ReasonRemoteOpen || r.relay.count() != 1 {
		t.Errorf("event %+v, relay pulses %d", ev, r.relay.count())
	}
	// Three more with the token; the seventh within the minute is refused.
	for range 3 {
		if rec := post(local, "Bearer "+openToken, `{"door":"all"}`); rec.Code != http.StatusBadRequest {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	rec = post(local, "Bearer "+openToken, "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("over the limit: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	advance(time.Minute)
	require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
	if rec := post(local, "Bearer "+openToken, ""); rec.Code != http.StatusAccepted {
		t.Errorf("a minute later: %d %s", rec.Code, rec.Body)
	}
}

func TestOpenEndpointDisabled(t *testing.T) {
	k := webRig(t, nil, nil)
	req := localRequest("POST", "/api/open", nil)
	req.Header.Set("Authorization", "Bearer "+openToken)
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, req)
	// The texts scripts may match are those of before POST
	// /api/liveness/unlock shared the guard.
	if rec.Code != http.StatusNotFound || rec.Body.String() != `{"error":"remote open over HTTP is disabled (kiosk.open.enabled)"}`+"\n" {
		t.Errorf("disabled: %d %s", rec.Code, rec.Body)
	}
}

func TestRateWindow(t *testing.T) {
	var l rateWindow
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if w := l.take(t0.Add(time.Duration(i)*time.Second), 3); w != 0 {
			t.Fatalf("request %d refused", i)
		}
	}
	if w := l.take(t0.Add(10*time.Second), 3); w != 50*time.Second {
		t.Errorf("4th: wait %s, want 50s (until the first leaves the minute)", w)
	}
	if w := l.take(t0.Add(60*time.Second), 3); w != 0 {
		t.Errorf("after the first left the window: wait %s", w)
	}
}

func FuzzParseOpenRequest(f *testing.F) {
	for _, s := range []string{"", "{}", `{"by":"ha","reason":"x"}`, `{"by":1}`, `{} {}`, `[]`, `{"by":"a","x":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseOpenRequest(b)
		if err != nil && (r.By != "" || r.Reason != "") {
			t.Fatalf("error %v with a value %+v", err, r)
		}
	})
}
