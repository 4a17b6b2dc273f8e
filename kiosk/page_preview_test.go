package kiosk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/cdp"
)

// TestPagePreviewComesBackAfterADaemonRestart: the daemon restarts under
// the page (every connection is cut, as kill -9 or a stop does, and the
// same address answers again at once). The event stream comes back by
// itself; the preview must too ("the preview reloads after an error",
// docs/kiosk.md), not stay frozen on the last camera frame from before
// the restart while the face box moves over it.
func TestPagePreviewComesBackAfterADaemonRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	cfg := testConfig(t)
	frame := testJPEG(t, 640, 360)
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Preview: &fakePreview{frames: [][]byte{frame, frame, frame}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var previews atomic.Int32
	feed := &stateFeed{changed: make(chan struct{})}
	feed.set(pageStatusJSON{Status: Status{State: StateIdle, Message: msgIdle, Health: HealthOK}}, false)
	h := k.Handler()
	mux := http.NewServeMux()
	var streams atomic.Int32
	mux.Handle("GET /events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { streams.Add(1); feed.ServeHTTP(w, r) }))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream.mjpg" {
			previews.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := cdp.Start(t, ctx)
	if err := b.SetViewport(ctx, 800, 480); err != nil {
		t.Fatal(err)
	}
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	// The page shows the preview.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var w float64
		_ = b.Eval(ctx, `(document.getElementById("preview") || {}).naturalWidth || 0`, &w)
		var c string
		_ = b.Eval(ctx, `document.getElementById("conn").textContent`, &c)
		if w > 0 && previews.Load() == 1 && c == "connected" && streams.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the preview never showed (requests %d)", previews.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The daemon restarts: every connection cut; the server answers again.
	srv.CloseClientConnections()
	deadline = time.Now().Add(15 * time.Second)
	for previews.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	shot := pageShot(t, ctx, b, "preview-frozen-after-restart")
	var conn string
	_ = b.Eval(ctx, `document.getElementById("conn").textContent`, &conn)
	if n := previews.Load(); n < 2 {
		t.Fatalf("15 s after the daemon restarted the page has not asked for the preview again (%d request in all; the event stream says %q, %d event streams): the camera picture on the screen is frozen (%s)", n, conn, streams.Load(), shot)
	}
}
