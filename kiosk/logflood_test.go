package kiosk

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// warnCounter counts the log records at warn level or above.
type warnCounter struct {
	mu    sync.Mutex
	warns int
	first []string
}

func (h *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		if len(h.first) < 3 {
			h.first = append(h.first, r.Message)
		}
		h.mu.Unlock()
	}
	return nil
}
func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnCounter) WithGroup(string) slog.Handler      { return h }

func (h *warnCounter) count() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns, h.first
}

// hostileBudget is what a steady flood of refused requests from one
// kind of hostile client may cost the journal: the first and a few
// periodic summaries.
const hostileBudget = 20

// TestLogRemoteOpenFromTheLANIsNotALineEach: with kiosk.allow_remote
// (the site page needs it) any machine of the LAN can post /api/open in
// a loop. The refusal ("not from this machine") is right, but it is a
// warn line per request with no rate limit at all (the wrong-token path
// from this machine has openGuesses; this one has nothing): a scanner or
// a hostile client at a few hundred requests a second writes a million
// lines an hour to the card's journal.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogRemoteOpenFromTheLANIsNotALineEach(t *testing.T) {
	k := webRig(t, func(c *Options) {
		c.Page.Open.Enabled = true
		c.Page.Open.Token = openToken
		c.Page.Open.PerMinute = 6
	}, nil)
	logs := &warnCounter{}
	k.log = slog.New(logs)
	h := k.Handler()
	const n = 2000
	for range n {
		req := localRequest("POST", "/api/open", strings.NewReader(`{"by":"x"}`))
		req.RemoteAddr = "192.168.1.66:40000"
		req.Header.Set("Authorization", "Bearer guess")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("LAN open: %d", rec.Code)
		}
	}
	if w, first := logs.count(); w > hostileBudget {
		t.Fatalf("%d refused LAN opens made %d warn lines (want at most %d), e.g. %q", n, w, hostileBudget, first)
	}
}

// TestLogSitePageTokenGuessesAreNotALineEach: /site?token=… from the
// LAN with a wrong token is a warn line per request, and (unlike the
// open and admin tokens, which have a window for wrong guesses) nothing
// limits the guesses either.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogSitePageTokenGuessesAreNotALineEach(t *testing.T) {
	k, _ := siteWebRig(t)
	logs := &warnCounter{}
	k.log = slog.New(logs)
	h := k.Handler()
	const n = 2000
	answered := 0
	for range n {
		rec := siteGet(h, "/site?token=guess", "192.168.1.66:40000", nil)
		switch rec.Code {
		case http.StatusUnauthorized:
			answered++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("wrong token: %d", rec.Code)
		}
	}
	if answered > sitePageGuessesPerMinute {
		t.Errorf("%d of %d wrong site page tokens in a minute were answered (want at most %d, then 429)", answered, n, sitePageGuessesPerMinute)
	}
	if w, first := logs.count(); w > hostileBudget {
		t.Fatalf("%d wrong site page tokens made %d warn lines (want at most %d), e.g. %q", n, w, hostileBudget, first)
	}
}

// TestLogSiteAdminFromTheLANIsNotALineEach: POST /api/site/correct
// from another machine: a warn line per request, no limit.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogSiteAdminFromTheLANIsNotALineEach(t *testing.T) {
	k, _ := siteWebRig(t)
	logs := &warnCounter{}
	k.log = slog.New(logs)
	h := k.Handler()
	const n = 2000
	for range n {
		req := localRequest("POST", "/api/site/correct", strings.NewReader(`{}`))
		req.RemoteAddr = "192.168.1.66:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("LAN admin: %d", rec.Code)
		}
	}
	if w, first := logs.count(); w > hostileBudget {
		t.Fatalf("%d refused LAN admin requests made %d warn lines (want at most %d), e.g. %q", n, w, hostileBudget, first)
	}
}

// TestLogCameraDownOnASingleUserKioskIsNotALineEachRetry: a
// single-user kiosk (identity.fixed) watches for a face while idle. With
// the camera unplugged for a weekend, each watch ends with the
// selector's camera-down error after its frame timeout (3 s) and is tried
// again 2 s later, each time with a warn line ("camera failed while
// waiting for a face"): ~720 lines an hour, for a fault the camera health
// check already reports once (self-test check failing + alert).
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogCameraDownOnASingleUserKioskIsNotALineEachRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Identity.Fixed = FixedIdentity{SubmissionID: "sub-single", UserID: "u-single"}
		r := newRig(t, cfg)
		sel := &rtDownSelector{}
		r.k.deps.Selector = sel
		logs := &warnCounter{}
		r.k.log = slog.New(logs)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.k.Run(ctx) }()
		time.Sleep(time.Hour)
		cancel()
		<-done
		synctest.Wait()
		if w, first := logs.count(); w > hostileBudget {
			t.Fatalf("an hour of a camera down made %d warn lines on a single-user kiosk (want at most %d), e.g. %q", w, hostileBudget, first)
		}
	})
}

// rtDownSelector is capture's selector with the camera unplugged: no
// frame, so no progress, then its camera-down error after FrameTimeout.
type rtDownSelector struct {
	mu    sync.Mutex
	calls int
}

func (s *rtDownSelector) SelectFace(ctx context.Context, _ func(Progress)) (Face, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if err := sleepCtx(ctx, 3*time.Second); err != nil {
		return Face{}, err
	}
	return Face{}, errors.New("capture: camera down: no frame for 3s")
}

// TestLogBrokerDownForAnHourIsNotALineEachSelfTest: the broker is
// unreachable (a week's outage). The self-test's broker check is
// degraded, and setHealth writes "self-test check failing" at warn level
// at every self-test (kiosk.health_interval, 30 s by default), for every
// check that fails, for as long as the fault lasts: 120 lines an hour
// per failing check (the camera, the API and the broker down together
// are 360), on top of mqtt's own "connect failed" at each retry. A
// change of health is already logged once ("health changed"); the rest
// is repetition.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogBrokerDownForAnHourIsNotALineEachSelfTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil) // health_interval 30s, the default
		r.brk.mu.Lock()
		r.brk.connected = false
		r.brk.mu.Unlock()
		logs := &warnCounter{}
		r.k.log = slog.New(logs)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.k.Run(ctx) }()
		time.Sleep(time.Hour)
		cancel()
		<-done
		synctest.Wait()
		if w, first := logs.count(); w > hostileBudget {
			t.Fatalf("an hour of the broker down made %d warn lines (want at most %d), e.g. %q", w, hostileBudget, first)
		}
	})
}
