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

// pageShots is where the live page tests keep their screenshots.
func pageShots(t *testing.T) string { return artifactsDir(t, "kiosk-page") }

// artifactsDir is sub of $FACEGATE_ARTIFACTS, else of test/artifacts,
// made.
func artifactsDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("FACEGATE_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(wd, "..", "test", "artifacts")
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// livePage serves the kiosk page of a kiosk built from cfg with a stand-in
// event stream and opens it in headless Chromium at 800x480 (the Pi's
// touchscreen, device scale 1).
func livePage(t *testing.T, cfg *Options) (context.Context, *cdp.Browser, *stateFeed, *Kiosk, *httptest.Server) {
	t.Helper()
	feed := &stateFeed{changed: make(chan struct{})}
	ctx, b, k, srv := livePageWith(t, cfg, feed)
	return ctx, b, feed, k, srv
}

// livePageWith is livePage with events serving /events.
func livePageWith(t *testing.T, cfg *Options, events http.Handler) (context.Context, *cdp.Browser, *Kiosk, *httptest.Server) {
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

// showStatus sets s on the stand-in stream and waits for the page to show it.
func showStatus(t *testing.T, ctx context.Context, b *cdp.Browser, feed *stateFeed, s pageStatusJSON) layout {
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

func pageShot(t *testing.T, ctx context.Context, b *cdp.Browser, name string) string {
	t.Helper()
	p := filepath.Join(pageShots(t), name+".png")
	if err := b.Screenshot(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}
