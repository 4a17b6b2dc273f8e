package kiosk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/cdp"
	"github.com/facegate/facegate/record"
)

// TestPageHungDaemonDoesNotKeepGranted: the daemon hangs while the result
// of a grant is on screen (SIGSTOP, a frozen cgroup, a session stuck on a
// stuck card: systemd's watchdog takes 16-31 s to notice a hung process
// and up to 70 s more to kill it, docs/operations.md). Its event stream
// stays open and carries at most the ": keepalive" comments the real
// /events sends, which the page's script never sees; a new stream is
// accepted by the kernel and never answered. The page must not go on
// showing the green "Welcome" and "health: ok" for ever: once two
// heartbeats (sseHeartbeat, 15 s) have passed without a word from the
// daemon it should say the gate is offline, as after a broken stream.
func TestPageHungDaemonDoesNotKeepGranted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Page.ShowName = true
	granted := pageStatusJSON{Status: Status{State: StateGranted, Message: "Welcome", Decision: record.DecisionGranted,
		Name: "Ana Díaz", Health: HealthOK, Since: time.Now().UTC()}}
	hung := make(chan struct{})
	var streams atomic.Int32
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streams.Add(1) > 1 {
			// A new stream to a hung daemon: the kernel takes the
			// connection, nobody answers.
			select {
			case <-hung:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "retry: 2000\n\n")
		_, _ = w.Write(sseMessage("state", granted))
		w.(http.Flusher).Flush()
		tick := time.NewTicker(sseHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_, _ = io.WriteString(w, ": keepalive\n\n")
				w.(http.Flusher).Flush()
			case <-hung:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	ctx, b, _, _ := livePageWith(t, cfg, events)
	t.Cleanup(func() { close(hung) })
	start := time.Now()
	var l layout
	for {
		l = probeLayout(t, ctx, b)
		if l.Result && resultText(l) == "Welcome" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the page never showed the grant: %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The daemon says nothing more (but keepalives) for 2 heartbeats + 10 s.
	limit := 2*sseHeartbeat + 10*time.Second
	for time.Since(start) < limit {
		time.Sleep(time.Second)
	}
	l = probeLayout(t, ctx, b)
	shot := pageShot(t, ctx, b, "hung-daemon-still-granted")
	if l.Result && resultText(l) == "Welcome" {
		t.Errorf("%s after the daemon stopped answering the page still shows the green %q (header %q, state %q; %s)",
			limit, resultText(l), l.Health, l.State, shot)
	}
	if l.Health == "health: ok" {
		t.Errorf("the header still says %q about a daemon that has not answered for %s", l.Health, limit)
	}
}

// TestPageIdlePageStaysConnected: a real kiosk idle for longer than the
// page's silence limit (35 s) is not taken for a hung daemon: its
// heartbeat is an event the page sees.
func TestPageIdlePageStaysConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	cfg := testConfig(t)
	cfg.Page.HealthInterval = 10 * time.Minute // no status change while idle
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(rctx) }()
	t.Cleanup(func() { rcancel(); <-done })
	var streams2 atomic.Int32
	h := k.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			streams2.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := cdp.Start(t, ctx)
	if err := b.SetViewport(ctx, 800, 480); err != nil {
		t.Fatal(err)
	}
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 50*time.Second {
		time.Sleep(time.Second)
		l := probeLayout(t, ctx, b)
		if time.Since(start) > 10*time.Second && l.Message != msgIdle {
			t.Fatalf("after %s idle the page shows %q (header %q)", time.Since(start).Round(time.Second), l.Message, l.Health)
		}
	}
	if n := streams2.Load(); n != 1 {
		t.Errorf("the page opened %d event streams in 50 s idle: it took the idle daemon for a hung one (and blinked \"Gate offline\")", n)
	}
}

// TestPageReloadsAfterAnUpgrade: a kiosk browser runs for months, and the
// page's script and style are those it loaded. When the daemon comes back
// as another version (an upgrade), the page reloads itself; a title
// changed by a reload is shown at once. Until 2026-12-07 the old page ran
// on until Chromium was restarted.
func TestPageReloadsAfterAnUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	cfg := testConfig(t)
	deps := func(version string) *Kiosk {
		k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
			Logger: quietLogger(), Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	before, after := deps("1.0.0"), deps("1.1.0")
	var upgraded atomic.Bool
	flip, retitle := make(chan struct{}), make(chan struct{})
	idle := pageStatusJSON{Status: Status{State: StateIdle, Message: msgIdle, Health: HealthOK, Since: time.Now().UTC()}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		version := "1.0.0"
		if upgraded.Load() {
			version = "1.1.0"
		}
		_, _ = io.WriteString(w, "retry: 500\n\n")
		_, _ = w.Write(sseMessage("state", idle))
		_, _ = w.Write(sseMessage("page", pageInfo{Version: version, Title: "Face check"}))
		w.(http.Flusher).Flush()
		if version == "1.0.0" {
			select {
			case <-flip: // the daemon stops; it comes back upgraded
			case <-r.Context().Done():
			}
			return
		}
		select {
		case <-retitle: // kiosk.title changed by a reload
			_, _ = w.Write(sseMessage("page", pageInfo{Version: version, Title: "North turnstile"}))
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
		<-r.Context().Done()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if upgraded.Load() {
			after.Handler().ServeHTTP(w, r)
		} else {
			before.Handler().ServeHTTP(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b := cdp.Start(t, ctx)
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	eval := func(expr string) string {
		var s string
		if err := b.Eval(ctx, expr, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitFor := func(what, expr, want string) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got string
			err := b.Eval(ctx, expr, &got) // fails while the page is (re)loading
			if err == nil && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s is %q (%v), want %q", what, expr, got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("loaded", `document.getElementById("conn").textContent`, "connected")
	eval(`(window.loadedBefore = "yes", "")`)
	upgraded.Store(true)
	close(flip)
	waitFor("after the upgrade", `document.body.dataset.version`, "1.1.0")
	if got := eval(`String(window.loadedBefore)`); got != "undefined" {
		t.Fatalf("the page was not loaded again (marker %q)", got)
	}
	waitFor("connected again", `document.getElementById("conn").textContent`, "connected")

	// A new title (a reload of kiosk.title) is shown without a new page.
	eval(`(window.loadedBefore = "yes", "")`)
	close(retitle)
	waitFor("new title", `document.getElementById("title").textContent`, "North turnstile")
	if got := eval(`String(window.loadedBefore)`); got != "yes" {
		t.Fatal("a page event of the same version reloaded the page")
	}
}
