package main

// The demo scene's badges must be readable by the daemon's QR scanner.

import (
	"context"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/kiosk"
)

// badgeFrame renders one demo-scene frame with a badge showing payload.
func badgeFrame(t *testing.T, payload string) gocv.Mat {
	t.Helper()
	frame := gocv.NewMat()
	t.Cleanup(func() { frame.Close() })
	scene := demoscene.Scene{Width: 1280, Height: 720, FPS: 15,
		Phases: []demoscene.Phase{{Kind: demoscene.Badge, Payload: payload, Duration: time.Second / 15}}}
	if err := scene.Render(func(m gocv.Mat) error { m.CopyTo(&frame); return nil }); err != nil {
		t.Fatal(err)
	}
	return frame
}

// collect runs a scanner over src for d and returns every payload found.
func collect(t *testing.T, s kiosk.BadgeScanner, d time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var got []string
	if err := s.Run(ctx, func(p string) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}); err != nil {
		t.Fatalf("scanner: %v", err)
	}
	return got
}

func TestQRScannerReadsTheBadgeOnce(t *testing.T) {
	const payload = "FG1:S:demo-worker-0001:worker-0001"
	s := capture.NewQRScanner(&stillSource{frame: badgeFrame(t, payload)}, capture.QRConfig{Every: 20 * time.Millisecond})
	got := collect(t, s, 600*time.Millisecond)
	if len(got) != 1 || got[0] != payload {
		t.Fatalf("found %q, want exactly one %q (repeats are suppressed)", got, payload)
	}
}

func TestQRScannerIgnoresEmptyScene(t *testing.T) {
	frame := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer frame.Close()
	s := capture.NewQRScanner(&stillSource{frame: frame}, capture.QRConfig{Every: 20 * time.Millisecond})
	if got := collect(t, s, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("found %q in an empty frame", got)
	}
}

// stillSource hands out one frame again and again.
type stillSource struct {
	frame gocv.Mat
	seq   uint64
}

func (s *stillSource) Next(ctx context.Context, _ uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	if err := ctx.Err(); err != nil {
		return capture.FrameInfo{}, err
	}
	s.seq++
	s.frame.CopyTo(dst)
	return capture.FrameInfo{Seq: s.seq, At: time.Now()}, nil
}

func TestQRScannerReadsRosterBadge(t *testing.T) {
	const payload = "FG1:B:badge-42"
	s := capture.NewQRScanner(&stillSource{frame: badgeFrame(t, payload)}, capture.QRConfig{Every: 20 * time.Millisecond})
	if got := collect(t, s, 600*time.Millisecond); len(got) == 0 || got[0] != payload {
		t.Fatalf("found %q, want %q", got, payload)
	}
}

// TestQRScannerSleepsOnAStillPicture: a picture that does not change is
// scanned only for ActiveFor after its last change.
func TestQRScannerSleepsOnAStillPicture(t *testing.T) {
	const payload = "FG1:B:badge-7"
	frame := badgeFrame(t, payload)
	for _, tc := range []struct {
		activeFor time.Duration
		atMost    int
		atLeast   int
	}{
		{time.Nanosecond, 1, 1},   // only the first frame (a change from nothing)
		{10 * time.Second, 99, 3}, // still scanning
	} {
		s := capture.NewQRScanner(&stillSource{frame: frame},
			capture.QRConfig{Every: 10 * time.Millisecond, Repeat: time.Nanosecond, ActiveFor: tc.activeFor})
		got := len(collect(t, s, 800*time.Millisecond))
		if got < tc.atLeast || got > tc.atMost {
			t.Errorf("activeFor %s: %d reads, want %d..%d", tc.activeFor, got, tc.atLeast, tc.atMost)
		}
	}
}
