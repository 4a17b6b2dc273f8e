package kiosk

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// rtWarnCounter counts the log records at warn level or above.
type rtWarnCounter struct {
	mu    sync.Mutex
	warns int
	first []string
}

func (h *rtWarnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *rtWarnCounter) Handle(_ context.Context, r slog.Record) error {
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
func (h *rtWarnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *rtWarnCounter) WithGroup(string) slog.Handler      { return h }

func (h *rtWarnCounter) count() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns, h.first
}

// rtHostileBudget is what a steady flood of refused requests from one
// kind of hostile client may cost the journal: the first and a few
// periodic summaries.
const rtHostileBudget = 20

// TestRtLogsRemoteOpenFromTheLANIsNotALineEach: with kiosk.allow_remote
// (the site page needs it) any machine of the LAN can post /api/open in
// a loop. The refusal ("not from this machine") is right, but it is a
// warn line per request with no rate limit at all (the wrong-token path
// from this machine has openGuesses; this one has nothing): a scanner or
// a hostile client at a few hundred requests a second writes a million
// lines an hour to the card's journal.
func TestRtLogsRemoteOpenFromTheLANIsNotALineEach(t *testing.T) {
	k := webRig(t, func(c *Options) {
		c.Page.Open.Enabled = true
		c.Page.Open.Token = openToken
		c.Page.Open.PerMinute = 6
	}, nil)
	logs := &rtWarnCounter{}
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
	if w, first := logs.count(); w > rtHostileBudget {
		t.Fatalf("%d refused LAN opens made %d warn lines (want at most %d), e.g. %q", n, w, rtHostileBudget, first)
	}
}

// TestRtLogsSitePageTokenGuessesAreNotALineEach: /site?token=… from the
// LAN with a wrong token is a warn line per request, and (unlike the
// open and admin tokens, which have a window for wrong guesses) nothing
// limits the guesses either.
func TestRtLogsSitePageTokenGuessesAreNotALineEach(t *testing.T) {
	k, _ := siteWebRig(t)
	logs := &rtWarnCounter{}
	k.log = slog.New(logs)
	h := k.Handler()
	const n = 2000
	for range n {
		rec := siteGet(h, "/site?token=guess", "192.168.1.66:40000", nil)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", rec.Code)
		}
	}
	if w, first := logs.count(); w > rtHostileBudget {
		t.Fatalf("%d wrong site page tokens made %d warn lines (want at most %d), e.g. %q", n, w, rtHostileBudget, first)
	}
}

// TestRtLogsSiteAdminFromTheLANIsNotALineEach: POST /api/site/correct
// from another machine: a warn line per request, no limit.
func TestRtLogsSiteAdminFromTheLANIsNotALineEach(t *testing.T) {
	k, _ := siteWebRig(t)
	logs := &rtWarnCounter{}
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
	if w, first := logs.count(); w > rtHostileBudget {
		t.Fatalf("%d refused LAN admin requests made %d warn lines (want at most %d), e.g. %q", n, w, rtHostileBudget, first)
	}
}
