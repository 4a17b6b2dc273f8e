package kiosk

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWrongTokensDoNotLockOutTheOperator: POST /api/open and POST
// /api/liveness/unlock counted requests with a wrong token in the same
// per_minute window as the operator's (until 2026-12-07; they have a
// window of their own now). Whoever can reach the endpoint from
// loopback without the token can keep them at 429 for ever: a web page the
// kiosk's own Chromium (or any browser behind the documented TLS proxy)
// visits sends fetch("http://127.0.0.1:8080/api/open", {method: "POST",
// mode: "no-cors"}) — a simple request, no preflight, Host 127.0.0.1 is
// allowed — six times a minute; another user on the Pi does it with curl.
// Home Assistant's opens and the site office's unlock of a locked-out
// worker are then refused, and the attacker needs no secret at all.
func TestWrongTokensDoNotLockOutTheOperator(t *testing.T) {
	r, advance := openRig(t)
	h := r.k.Handler()
	post := func(path, auth, body string) *httptest.ResponseRecorder {
		req := localRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // what a no-cors fetch sends
		req.Header.Set("Origin", "https://evil.example")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// The hostile page: no token, six times a minute.
	for i := range r.cfg.Page.Open.PerMinute {
		if rec := post("/api/open", "", "x"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attacker request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if n := len(r.events()); n != 0 {
		t.Fatalf("the attacker's requests opened: %d events", n)
	}
	// The operator, with the right token, a second later.
	advance(time.Second)
	rec := post("/api/liveness/unlock", "Bearer "+openToken, `{"badge_id":"B0001","by":"site-office","reason":"checked in person"}`)
	if rec.Code == http.StatusTooManyRequests {
		t.Errorf("the operator's unlock is refused (429) because of requests without the token: %s", rec.Body)
	}
	rec = post("/api/open", "Bearer "+openToken, `{"by":"home-assistant"}`)
	if rec.Code != http.StatusAccepted {
		t.Errorf("the operator's open with the right token: %d %s, want 202 (only requests without the token were made)", rec.Code, rec.Body)
	}
}

// remoteFrom serves h as if every connection came from addr (a host on
// the LAN): httptest servers listen on loopback.
func remoteFrom(h http.Handler, addr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = addr
		h.ServeHTTP(w, r)
	})
}

// TestRemoteEventStreamsDoNotShutOutTheKioskPage: /events took at most
// maxSSEClients streams, first come first served, from anyone (no token,
// no per-address bound). A host on the LAN (kiosk.allow_remote) opened 32
// and kept them (the heartbeat every 15 s keeps each alive): the kiosk
// page's own EventSource got 503, and the screen showed "Gate offline" —
// no instruction, no challenge arrow (the worker does not know which way
// to turn, fails the liveness check and is locked out), no result. Other
// machines now take at most maxRemoteSSE slots, maxSSEPerHost each.
func TestRemoteEventStreamsDoNotShutOutTheKioskPage(t *testing.T) {
	k := webRig(t, nil, nil)
	h := k.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Hosts on the LAN open all the streams they can (at most
	// maxSSEPerHost each, maxRemoteSSE together).
	held := 0
	for host := range 8 {
		attacker := httptest.NewServer(remoteFrom(h, fmt.Sprintf("192.168.1.%d:40000", 60+host)))
		defer attacker.Close()
		for range maxSSEClients {
			req, _ := http.NewRequestWithContext(ctx, "GET", attacker.URL+"/events", nil)
			req.Host = "192.168.1.20:8080" // the gate's address: allowed
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				held++
			}
		}
	}
	if held != maxRemoteSSE {
		t.Errorf("hosts on the LAN hold %d streams, want %d", held, maxRemoteSSE)
	}
	// The kiosk's own browser, on loopback, as the page connects.
	page := httptest.NewServer(h)
	defer page.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	req, _ := http.NewRequestWithContext(pctx, "GET", page.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the kiosk page's event stream: %d, want 200 (%d streams from the LAN)", resp.StatusCode, held)
	}
}

// TestEventStreamDoesNotTellWhoPassed: the page's "decision" event is the
// whole record.Event — user_id, submission_id (plain or its hash), the
// zones the person left and entered, the scores — sent to every /events
// client without a token. The page itself reads only seq and decision
// (kiosk.js). With kiosk.allow_remote any host on the LAN (and on the Pi
// any user) follows who passes which gate into which zone, live, while
// /site.json refuses other machines without zones.page_token and
// kiosk.show_name keeps even the name off the page.
func TestEventStreamDoesNotTellWhoPassed(t *testing.T) {
	cfg := testConfig(t)
	cfg.Policy.Cooldown = 0
	r := newRig(t, cfg)
	stop := r.start(t)
	defer stop()
	srv := httptest.NewServer(remoteFrom(r.k.Handler(), "192.168.1.66:40000"))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	req.Host = "192.168.1.20:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/events from the LAN: %d", resp.StatusCode)
	}
	r.identify(t, Identity{SubmissionID: "sub-3f9c2a7e", UserID: "emp-1042", Source: SourceMQTT}, 1)
	rd := bufio.NewReader(resp.Body)
	var event string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no decision event on the stream: %v", err)
		}
		if strings.HasPrefix(line, "event: ") {
			event = strings.TrimSpace(line[len("event: "):])
			continue
		}
		if event == "decision" && strings.HasPrefix(line, "data: ") {
			for _, who := range []string{"emp-1042", "sub-3f9c2a7e", `"user_id"`, `"submission_id"`} {
				if strings.Contains(line, who) {
					t.Errorf("a host on the LAN, without any token, reads %s of the worker who passed: %s", who, strings.TrimSpace(line))
				}
			}
			return
		}
	}
}

// TestWrongTokensDoNotBlockTheEvacuation: POST /api/site/evacuation and
// /api/site/correct share siteAdminPerMinute (30) between right and wrong
// tokens, so whoever reaches them from loopback without the admin token
// (another user on the Pi; a page in the kiosk's browser, as above) keeps
// the marshal from starting an evacuation — or from correcting the
// record of someone who left through the fire exit — for as long as he
// sends 30 requests a minute.
func TestWrongTokensDoNotBlockTheEvacuation(t *testing.T) {
	k, site := siteWebRig(t)
	h := k.Handler()
	post := func(token, body string) *httptest.ResponseRecorder {
		req := localRequest("POST", "/api/site/evacuation", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range siteAdminPerMinute {
		if rec := post("", "x"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attacker request %d: %d", i, rec.Code)
		}
	}
	rec := post(siteAdminToken, `{"action":"start","by":"marshal","reason":"fire in zone-b"}`)
	if rec.Code != http.StatusOK {
		t.Errorf("the marshal's evacuation with the admin token: %d %s, want 200 (only requests without the token were made)", rec.Code, rec.Body)
	}
	if len(site.evacs) != 1 {
		t.Errorf("evacuations started: %v", site.evacs)
	}
}
