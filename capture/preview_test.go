package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func TestPreview(t *testing.T) {
	src := sceneFrames(t, 2, 1) // 640x360 frames
	clock := newAutoClock()
	box := image.Rect(100, 100, 300, 300)
	p := NewPreview(src, PreviewConfig{Width: 320, MaxFPS: 4, Clock: clock, Boxes: func() []image.Rectangle { return []image.Rectangle{box} }})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data, seq, err := p.Next(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 180 {
		t.Fatalf("preview %v, want 320x180", b)
	}
	// The box is drawn (scaled by 1/2): its left edge at x=50 is green.
	r, g, b, _ := img.At(50, 100).RGBA()
	if !(g > 2*r && g > 2*b) {
		t.Fatalf("pixel on the face box is %d,%d,%d, want green", r>>8, g>>8, b>>8)
	}
	// A viewer that has this JPEG waits for the rate limit and a new frame.
	waits := len(clock.waited())
	_, seq2, err := p.Next(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	if seq2 <= seq {
		t.Fatalf("seq %d after %d", seq2, seq)
	}
	if w := clock.waited(); len(w) != waits+1 || w[len(w)-1] != 250*time.Millisecond {
		t.Fatalf("waited %v, want one wait of 250ms (4 fps)", w)
	}
	// Another viewer behind gets the current JPEG at once.
	if _, s, err := p.Next(ctx, 0); err != nil || s != seq2 {
		t.Fatalf("late viewer got seq %d, %v", s, err)
	}
	p.Close()
	if _, _, err := p.Next(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// silentSource is a camera that sends no frame (unplugged) until ctx ends.
type silentSource struct{}

func (silentSource) Next(ctx context.Context, _ uint64, _ *gocv.Mat) (FrameInfo, error) {
	<-ctx.Done()
	return FrameInfo{}, ctx.Err()
}

// A viewer who leaves while the camera sends nothing is let go at once,
// though another viewer is waiting for a frame: each /stream.mjpg viewer
// holds one of the kiosk's few preview slots until Next returns. Until
// 2026-12-07 the others waited on the first one's lock, whatever their
// context said, and stayed counted until a frame came.
func TestPreviewViewerLeavingWhileTheCameraIsDownIsLetGo(t *testing.T) {
	p := NewPreview(silentSource{}, PreviewConfig{})
	defer p.Close()
	first, stopFirst := context.WithCancel(context.Background())
	defer stopFirst()
	go func() { _, _, _ = p.Next(first, 0) }()
	time.Sleep(50 * time.Millisecond) // the first viewer waits for a frame

	second, leave := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := p.Next(second, 0); done <- err }()
	time.Sleep(50 * time.Millisecond)
	leave()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next of a viewer who left: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a viewer who left is still waiting behind the first one")
	}
}
