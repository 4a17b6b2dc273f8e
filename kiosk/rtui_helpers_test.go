package kiosk

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/cdp"
)

// rtuiShots is where the red-team UI tests keep their screenshots.
func rtuiShots(t *testing.T) string {
	dir := os.Getenv("FACEGATE_ARTIFACTS")
	if dir == "" {
		dir = "/tmp/rt-ui"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rtuiPage serves the kiosk page of a kiosk built from cfg with a stand-in
// event stream and opens it in headless Chromium at 800x480 (the Pi's
// touchscreen, device scale 1).
func rtuiPage(t *testing.T, cfg *Options) (context.Context, *cdp.Browser, *stateFeed, *Kiosk, *httptest.Server) {
	t.Helper()
	feed := &stateFeed{changed: make(chan struct{})}
	ctx, b, k, srv := rtuiPageWith(t, cfg, feed)
	return ctx, b, feed, k, srv
}

// rtuiPageWith is rtuiPage with events serving /events.
func rtuiPageWith(t *testing.T, cfg *Options, events http.Handler) (context.Context, *cdp.Browser, *Kiosk, *httptest.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cdp.ChromiumPath(t)
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Preview: &fakePreview{frames: [][]byte{testJPEG(t, 1280, 720), testJPEG(t, 1280, 720), testJPEG(t, 1280, 720)}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", events)
	mux.Handle("/", k.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b := cdp.Start(t, ctx)
	if err := b.SetViewport(ctx, 800, 480); err != nil {
		t.Fatal(err)
	}
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	return ctx, b, k, srv
}

// rtuiShow sets s on the stand-in stream and waits for the page to show it.
func rtuiShow(t *testing.T, ctx context.Context, b *cdp.Browser, feed *stateFeed, s pageStatusJSON) layout {
	t.Helper()
	feed.set(s, false)
	var l layout
	deadline := time.Now().Add(10 * time.Second)
	for {
		l = probeLayout(t, ctx, b)
		if l.State == string(s.State) && (l.Message == s.Message || (l.Result && resultText(l) == s.Message)) {
			time.Sleep(100 * time.Millisecond)
			return probeLayout(t, ctx, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %q (state %s), want %q", l.Message, l.State, s.Message)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func rtuiShot(t *testing.T, ctx context.Context, b *cdp.Browser, name string) string {
	t.Helper()
	p := filepath.Join(rtuiShots(t), name+".png")
	if err := b.Screenshot(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}
