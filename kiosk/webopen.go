package kiosk

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/facegate/facegate/internal/jsonobj"
)

// maxOpenBody bounds POST /api/open's body.
const maxOpenBody = 1024

// OpenRequest is the body of POST /api/open; both fields are optional and
// go to the event and the audit log like a signed cmd/open's.
type OpenRequest struct {
	// By names who asked (the event's user_id), e.g. "home-assistant".
	By string `json:"by"`
	// Reason is a free text for the audit log.
	Reason string `json:"reason"`
}

// ParseOpenRequest decodes an /api/open body: empty, or a JSON object with
// only "by" and "reason". Errors match ErrInvalidIdentity.
func ParseOpenRequest(body []byte) (OpenRequest, error) {
	var r OpenRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return r, nil
	}
	if err := jsonobj.Decode(body, &r, jsonobj.DisallowUnknownFields()); err != nil {
		return OpenRequest{}, inputErr(ErrInvalidIdentity, "open body", "", "not a JSON object with by and reason: %v", err)
	}
	return r, nil
}

// serveOpen is POST /api/open: the remote unlock for clients that cannot
// sign cmd/open (Home Assistant's rest_command). It takes the same route
// as cmd/open (RemoteOpen: one session, one relay pulse, one event with
// reason remote_open, audited) with identity_source "http".
//
// The bar against a captured request being replayed: the token is static,
// so it must never cross a network in clear. The endpoint answers only
// connections from this machine — a TLS reverse proxy on the Pi, or a
// client on it — whatever kiosk.listen is.
func (k *Kiosk) serveOpen(w http.ResponseWriter, r *http.Request) {
	body, ok := k.openGuard(w, r, openGuardTexts)
	if !ok {
		return
	}
	req, err := ParseOpenRequest(body)
	if err == nil {
		err = k.RemoteOpen(RemoteOpen{Source: SourceHTTP, By: req.By, Reason: req.Reason})
	}
	k.answerSession(w, err, apiAnswer{Status: "accepted"})
}

// guardTexts are what openGuard says of one endpoint.
type guardTexts struct {
	// what names the request in the log.
	what                   string
	disabled, local, limit string
	// identify: a wrong token counts in facegate_identifications_total
	// (source http, result unauthorized), as it always did for opens.
	identify bool
	// ownRate: the endpoint has its own per_minute window (a read-only
	// list must not use up the opens' and unlocks').
	ownRate bool
}

var (
	openGuardTexts = guardTexts{what: "remote open",
		disabled: "remote open over HTTP is disabled (kiosk.open.enabled)",
		local:    "POST /api/open is accepted from this machine only: put a TLS reverse proxy on the gate in front of it (docs/kiosk.md)",
		limit:    "too many open requests; try again later (kiosk.open.per_minute)", identify: true}
	unlockGuardTexts = guardTexts{what: "liveness unlock",
		disabled: "liveness unlock over HTTP is disabled (kiosk.open.enabled)",
		local:    "POST /api/liveness/unlock is accepted from this machine only (docs/kiosk.md)",
		limit:    "too many open and unlock requests; try again later (kiosk.open.per_minute)"}
)

// openGuard admits a request to the endpoints kiosk.open guards (POST
// /api/open and POST /api/liveness/unlock: one rate, one token; GET
// /api/liveness/lockouts: the token, a rate of its own) and reads its
// body; false when it answered the request itself.
func (k *Kiosk) openGuard(w http.ResponseWriter, r *http.Request, t guardTexts) ([]byte, bool) {
	set := k.settings()
	if !set.kiosk.Open.Enabled {
		writeJSON(w, http.StatusNotFound, apiAnswer{Error: t.disabled})
		return nil, false
	}
	if !fromLoopback(r) {
		k.refusals.Log(k.log, slog.LevelWarn, t.what+"|remote", t.what+" refused: not from this machine", "remote", r.RemoteAddr)
		writeJSON(w, http.StatusForbidden, apiAnswer{Error: t.local})
		return nil, false
	}
	// The token first: requests without it have a window of their own,
	// so that they cannot use up the operator's (six token-less posts a
	// minute from this machine refused every real open and unlock).
	if !tokenOK(r.Header.Get("Authorization"), set.kiosk.Open.Token) {
		if t.identify {
			k.metrics.identify(SourceHTTP, "unauthorized")
		}
		if wait := k.openGuesses.take(k.now(), set.kiosk.Open.PerMinute); wait > 0 {
			tooMany(w, wait, "too many requests with a missing or wrong token; try again later")
			return nil, false
		}
		k.refusals.Log(k.log, slog.LevelWarn, t.what+"|token", t.what+" refused: missing or wrong token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="facegate"`)
		writeJSON(w, http.StatusUnauthorized, apiAnswer{Error: "missing or wrong bearer token"})
		return nil, false
	}
	limit := &k.openLimit
	if t.ownRate {
		limit = &k.lockoutsLimit
	}
	if wait := limit.take(k.now(), set.kiosk.Open.PerMinute); wait > 0 {
		tooMany(w, wait, t.limit)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOpenBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiAnswer{Error: "body larger than 1024 bytes"})
		return nil, false
	}
	// A slow body may arrive after a reload that turned kiosk.open off or
	// rotated its token: the request is acted on under the settings of now.
	if now := k.settings(); !now.kiosk.Open.Enabled || !tokenOK(r.Header.Get("Authorization"), now.kiosk.Open.Token) {
		k.log.Warn(t.what+" refused: token no longer valid after a reload", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="facegate"`)
		writeJSON(w, http.StatusUnauthorized, apiAnswer{Error: "missing or wrong bearer token"})
		return nil, false
	}
	return body, true
}

// tooMany answers 429 with when to try again.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
	writeJSON(w, http.StatusTooManyRequests, apiAnswer{Error: msg})
}

// rateWindow admits at most n requests in any minute (a sliding window).
type rateWindow struct {
	mu    sync.Mutex
	times []time.Time
}

// take admits one request at now, returning 0, or returns how long until
// one would be admitted.
func (l *rateWindow) take(now time.Time, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := 0
	for cut < len(l.times) && now.Sub(l.times[cut]) >= time.Minute {
		cut++
	}
	l.times = l.times[cut:]
	if len(l.times) >= n {
		return time.Minute - now.Sub(l.times[len(l.times)-n])
	}
	l.times = append(l.times, now)
	return 0
}
