package capture

import (
	"context"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// stallReader delivers one frame (a worker's face), then every later read
// blocks until release is closed: a camera (a USB hiccup, a network stream
// that stopped) that stalled right after that worker stood in view.
type stallReader struct {
	clock   *autoClock
	frame   gocv.Mat
	reads   int
	release chan struct{}
}

func (r *stallReader) read(dst *gocv.Mat) error {
	r.reads++
	if r.reads > 1 {
		<-r.release
		return errNoFrame
	}
	r.frame.CopyTo(dst)
	return nil
}

func (r *stallReader) nominalFPS() float64 { return 15 }
func (r *stallReader) close()              {}

// TestSelectFaceTakesNoFrameFromBeforeItStarted: the
// face a selection hands over must have been captured after the selection
// started. Here worker A stood in view, the camera stalled, and 1.5 s
// later a session (another person holding A's badge id, sent by a card
// reader over HTTP/MQTT) starts a selection: the camera still hands out
// A's frame (it is under staleAfter, 2 s), the window ends on the clock
// and A's picture, taken before anyone asked, goes to FaceAuth with a
// capture time well inside policy.max_age (5 s).
func TestSelectFaceTakesNoFrameFromBeforeItStarted(t *testing.T) {
	clock := newAutoClock()
	face := faceFrame(t, 640, 360, 380, image.Pt(320-190, 20))
	defer face.Close()
	r := &stallReader{clock: clock, frame: face, release: make(chan struct{})}
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "/dev/video10"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) { return r, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(r.release)
		cam.Close()
	}()
	dst := gocv.NewMat()
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := cam.Next(ctx, 0, &dst) // A's frame is the camera's newest
	if err != nil {
		t.Fatal(err)
	}
	// A leaves; the camera delivers nothing more. 1.5 s later a session starts.
	clock.advance(1500 * time.Millisecond)
	started := clock.Now()
	a := newHaar(t, AnalyzerConfig{Thresholds: Thresholds{Excellent: 0.99}})
	s := NewSelector(cam, a, SelectorConfig{Window: 600 * time.Millisecond, FrameTimeout: time.Minute, Clock: clock})
	defer s.Close()
	sel, err := s.SelectFace(ctx, nil)
	if err != nil {
		t.Logf("selection failed (%v): no old frame was handed over", err)
		return
	}
	if sel.CapturedAt.Before(started) {
		t.Fatalf("the selection started at %s handed over a face captured %s before it (frame %d, read at %s): "+
			"a picture of whoever stood there before the session began goes to FaceAuth",
			started.Format("15:04:05.000"), started.Sub(sel.CapturedAt), first.Seq, sel.CapturedAt.Format("15:04:05.000"))
	}
}
