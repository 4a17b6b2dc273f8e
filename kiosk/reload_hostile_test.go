package kiosk

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing/synctest"

	"github.com/facegate/facegate/record"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// signalReader is a request body that reports its first Read and then
// reads from a pipe the test fills later (a slow client: headers first,
// body afterwards, within the server's ReadTimeout of 30 s).
type signalReader struct {
	r       *io.PipeReader
	reading chan struct{}
	once    bool
}

func (s *signalReader) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.reading)
	}
	return s.r.Read(p)
}

// TestRotatedOpenTokenRefusedForARequestInFlight: the operator rotates
// kiosk.open.token (a leaked one) or turns kiosk.open off and reloads. A
// POST /api/open whose headers (the old token) arrived before the reload
// and whose body arrives after it must not open the gate: the old token is
// no longer valid when the request is acted on.
func TestRotatedOpenTokenRefusedForARequestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(o *Options)
	}{
		{"token rotated", func(o *Options) { o.Page.Open.Token = "rotated-token-0123456789abcdef" }},
		{"open turned off", func(o *Options) { o.Page.Open.Enabled = false; o.Page.Open.Token = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := openRig(t)
			h := r.k.Handler()
			pr, pw := io.Pipe()
			body := &signalReader{r: pr, reading: make(chan struct{})}
			req := localRequest("POST", "/api/open", body)
			req.Header.Set("Authorization", "Bearer "+openToken)
			rec := httptest.NewRecorder()
			served := make(chan struct{})
			go func() { h.ServeHTTP(rec, req); close(served) }()
			select {
			case <-body.reading: // past the token check, reading the body
			case <-served:
				t.Fatalf("answered before reading the body: %d %s", rec.Code, rec.Body)
			case <-time.After(10 * time.Second):
				t.Fatal("the handler never read the body")
			}
			next := *r.cfg
			tc.mut(&next)
			if err := r.k.Reload(next); err != nil {
				t.Fatal(err)
			}
			_, _ = pw.Write([]byte(`{"by":"leaked-token","reason":"after the rotation"}`))
			_ = pw.Close()
			<-served
			time.Sleep(2 * time.Second) // a queued open would have pulsed by now
			if rec.Code == http.StatusAccepted || r.relay.count() != 0 {
				t.Fatalf("a request made with the old token was accepted after the reload: %d %s, relay pulses %d",
					rec.Code, rec.Body, r.relay.count())
			}
		})
	}
}

// TestRevokedBadgeDoesNotOpenMidSession: a worker scans a roster badge;
// while the gate waits for the face (identity.timeout, up to 10 min) the
// operator removes the badge from the roster and reloads (a worker let go,
// a lost badge). The session must not go on to open for the revoked badge
// (docs/operations.md: the roster is re-read on reload; a revoked fixed
// identity never reaches the API, TestReloadRevokesFixedIdentity).
func TestRevokedBadgeDoesNotOpenMidSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		dir := t.TempDir()
		roster := filepath.Join(dir, "roster.csv")
		const hdr = "badge_id,submission_id,user_id,display_name\n"
		if err := os.WriteFile(roster, []byte(hdr+"B1,sub-ana,u-ana,Ana\nB2,sub-bob,u-bob,Bob\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Identity.RosterFile = roster
		r := newRig(t, cfg)
		r.sel.reasons = slices.Repeat([]string{"no_face"}, 30) // 3 s before the face is in view
		stop := r.start(t)
		if err := r.k.IdentifyQR("FG1:B:B1"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // waiting for the face
		if err := os.WriteFile(roster, []byte(hdr+"B2,sub-bob,u-bob,Bob\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.k.Reload(*cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range r.events() {
			if ev.Decision == record.DecisionGranted {
				t.Errorf("badge B1 was removed from the roster mid-session, yet the session was granted: %+v", ev)
			}
		}
		if n := r.relay.count(); n != 0 {
			t.Errorf("%d relay pulses for a revoked badge", n)
		}
	})
}

// TestBadgeSessionEndsWithItsSourceTurnedOff: a badge sent over
// POST /api/identify (or shown as a QR code) while the operator turns that
// source off (a leaked identify token) must not open; a submission id over
// the same source already did not. Until 2026-12-07 a badge's session knew
// only that it came from the roster.
func TestBadgeSessionEndsWithItsSourceTurnedOff(t *testing.T) {
	for _, src := range []string{SourceHTTP, SourceQR} {
		t.Run(src, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				roster := filepath.Join(t.TempDir(), "roster.csv")
				if err := os.WriteFile(roster, []byte("badge_id,submission_id,user_id,display_name\nB-ANA,kyc-ana,w-ana,Ana\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.Identity.RosterFile = roster
				cfg.Identity.HTTP = HTTPIdentifyOptions{Enabled: true, Token: "0123456789abcdef0123"}
				r := newRig(t, cfg)
				r.sel.reasons = slices.Repeat([]string{"no_face"}, 30) // 3 s before the face is in view
				stop := r.start(t)
				next := *cfg
				var err error
				if src == SourceHTTP {
					err = r.k.IdentifyJSON(SourceHTTP, []byte(`{"badge_id":"B-ANA"}`))
					next.Identity.HTTP = HTTPIdentifyOptions{}
				} else {
					err = r.k.IdentifyQR("FG1:B:B-ANA")
					next.Identity.QR = QROptions{}
				}
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second) // waiting for the face
				if err := r.k.Reload(next); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs := r.events()
				if len(evs) != 1 || evs[0].Decision == record.DecisionGranted || !slices.Contains(evs[0].Reason, ReasonIdentityRevoked) {
					t.Errorf("identify over %s turned off mid-session: events %+v, want one denial %s", src, evs, ReasonIdentityRevoked)
				}
				if n := r.relay.count(); n != 0 {
					t.Errorf("%d relay pulses for a badge whose source was turned off", n)
				}
			})
		})
	}
}

// TestReloadThatGivesTheClaimedUserIDAwayEndsTheSession: a QR code naming
// a user id the roster listed nowhere is taken as it comes; a reload that
// gives that user id to another submission revokes the session under way
// (the roster binds user ids, kiosk.md).
func TestReloadThatGivesTheClaimedUserIDAwayEndsTheSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		roster := filepath.Join(t.TempDir(), "roster.csv")
		const hdr = "badge_id,submission_id,user_id,display_name\n"
		if err := os.WriteFile(roster, []byte(hdr+"B-BOB,kyc-bob,w-bob,Bob\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Identity.RosterFile = roster
		r := newRig(t, cfg)
		r.sel.reasons = slices.Repeat([]string{"no_face"}, 30) // 3 s before the face is in view
		stop := r.start(t)
		if err := r.k.IdentifyQR("FG1:S:kyc-eve:w-ana"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := os.WriteFile(roster, []byte(hdr+"B-BOB,kyc-bob,w-bob,Bob\nB-ANA,kyc-ana,w-ana,Ana\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.k.Reload(*cfg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		evs := r.events()
		if len(evs) != 1 || evs[0].Decision == record.DecisionGranted || !slices.Contains(evs[0].Reason, ReasonIdentityRevoked) {
			t.Errorf("events %+v: want one denial %s", evs, ReasonIdentityRevoked)
		}
	})
}

// TestRevokedFixedIdentityDoesNotOpenMidSession: the single-user kiosk's
// fixed identity is removed by a reload while its session's API call is in
// flight (a capture already made). TestReloadRevokesFixedIdentity covers
// the wait before the session; the session itself must not open either.
func TestRevokedFixedIdentityDoesNotOpenMidSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Identity.Fixed = FixedIdentity{SubmissionID: "solo"}
		r := newRig(t, cfg)
		r.auth.delay = 3 * time.Second
		// Run directly: rig.start waits for an idle state that a fixed
		// kiosk with a face in view leaves at once.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.k.Run(ctx) }()
		stop := func() error { cancel(); return <-done }
		time.Sleep(time.Second) // the face was taken at 0.6 s; the API answers at 3.6 s
		if n := r.auth.calls(); n != 1 {
			t.Fatalf("%d API calls, want the first in flight", n)
		}
		next := *cfg
		next.Identity.Fixed = FixedIdentity{}
		if err := r.k.Reload(next); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range r.events() {
			if ev.Decision == record.DecisionGranted && ev.SubmissionID == "solo" {
				t.Errorf("the fixed identity was removed mid-session, yet its session was granted: %s %v", ev.Decision, ev.Reason)
			}
		}
		if n := r.relay.count(); n != 0 {
			t.Errorf("%d relay pulses for a revoked fixed identity", n)
		}
	})
}

// TestRotatedIdentifyTokenRefusedForARequestInFlight: the same for POST
// /api/identify (reachable from other machines with kiosk.allow_remote):
// a request made with identity.http.token before its rotation starts no
// session once the body arrives after the reload.
func TestRotatedIdentifyTokenRefusedForARequestInFlight(t *testing.T) {
	cfg := testConfig(t)
	cfg.Identity.HTTP = HTTPIdentifyOptions{Enabled: true, Token: testToken}
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	pr, pw := io.Pipe()
	body := &signalReader{r: pr, reading: make(chan struct{})}
	req := localRequest("POST", "/api/identify", body)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	served := make(chan struct{})
	go func() { r.k.Handler().ServeHTTP(rec, req); close(served) }()
	select {
	case <-body.reading:
	case <-served:
		t.Fatalf("answered before reading the body: %d %s", rec.Code, rec.Body)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never read the body")
	}
	next := *cfg
	next.Identity.HTTP.Token = "rotated-identify-token-0123"
	if err := r.k.Reload(next); err != nil {
		t.Fatal(err)
	}
	_, _ = pw.Write([]byte(`{"submission_id":"sub-123"}`))
	_ = pw.Close()
	<-served
	if rec.Code == http.StatusAccepted {
		t.Fatalf("a request made with the old identify token was accepted after the reload: %d %s", rec.Code, rec.Body)
	}
}

// TestReloadKeepsTheSiteTokensApartFromTheOpenToken: zones.page_token is
// given to screens that show who is on site, and must differ from
// kiosk.open.token (config refuses a file where they match,
// TestZonesErrors). The zones section needs a restart, kiosk.open a
// reload: a file that changes the page token and gives the old page token
// to kiosk.open passes config's check, yet the running gate then opens for
// the screens' token. Likewise the admin token and the identify token.
func TestReloadKeepsTheSiteTokensApartFromTheOpenToken(t *testing.T) {
	const pageToken = "site-page-token-0123456789abcdef"
	const adminToken = "site-admin-token-0123456789abcdef"
	cfg := testConfig(t)
	cfg.Page.Open = HTTPOpenOptions{Enabled: true, Token: openToken, PerMinute: 6}
	cfg.Zones = SiteOptions{PageToken: pageToken, AdminToken: adminToken}
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	next := *cfg
	next.Page.Open.Token = pageToken                                       // the running page token
	next.Zones = SiteOptions{PageToken: "new-page-token-0123456789abcdef"} // what the file says now (needs a restart)
	if err := r.k.Reload(next); err == nil {
		req := localRequest("POST", "/api/open", strings.NewReader(`{"by":"a site screen"}`))
		req.Header.Set("Authorization", "Bearer "+pageToken)
		rec := httptest.NewRecorder()
		r.k.Handler().ServeHTTP(rec, req)
		t.Errorf("a reload made kiosk.open.token equal to the running zones.page_token; POST /api/open with the page token: %d %s", rec.Code, rec.Body)
	}
	next = *cfg
	next.Identity.HTTP = HTTPIdentifyOptions{Enabled: true, Token: adminToken}
	if err := r.k.Reload(next); err == nil {
		t.Error("a reload made identity.http.token equal to the running zones.admin_token (badge readers could change the site record)")
	}
}
