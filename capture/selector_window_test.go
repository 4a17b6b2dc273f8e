package capture

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// clockedSource is a live camera on the selector's clock: frame n is
// captured at start + n*every and Next blocks until a frame newer than
// after exists (a real camera at 1/every fps), handing out the newest.
type clockedSource struct {
	clock *fakeClock
	start time.Time
	every time.Duration

	mu  sync.Mutex
	cur gocv.Mat
}

func (s *clockedSource) set(m gocv.Mat) {
	s.mu.Lock()
	s.cur = m
	s.mu.Unlock()
}

func (s *clockedSource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error) {
	for {
		n := uint64(s.clock.Now().Sub(s.start) / s.every)
		if n > after {
			s.mu.Lock()
			s.cur.CopyTo(dst)
			s.mu.Unlock()
			return FrameInfo{Seq: n, At: s.start.Add(time.Duration(n) * s.every)}, nil
		}
		select {
		case <-ctx.Done():
			return FrameInfo{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// TestSelectionEndingOnTheClockSearchedAWholeFrame:
// the fix makes a selection that ends on an excellent face, or on a frame
// past the deadline, search one frame whole first (scanFullNext; continue).
// But the window also ends on its timer (cancelWindow), and the frame read
// then fails: SelectFace returns finish() at once, whole search or not. A
// live camera (5 fps here) and a face that is good but not excellent (the
// usual case: Excellent is 0.85) end the window on the timer, with every
// frame of it searched only near Watch's tracked face: the second person
// beside the worker is never seen and Selection.Faces is 1 (max_faces: 1,
// multiple_faces do not fire).
func TestSelectionEndingOnTheClockSearchedAWholeFrame(t *testing.T) {
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	scene := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 720, 1280, gocv.MatTypeCV8UC3)
	defer scene.Close()
	alone := composeOn(scene, photo, 850, image.Pt(-200, 0))
	defer alone.Close()
	both := composeOn(alone, photo, 850, image.Pt(560, 0))
	defer both.Close()

	clock := newFakeClock()
	src := &clockedSource{clock: clock, start: clock.Now(), every: 200 * time.Millisecond, cur: alone}
	// Excellent out of reach: the window runs its full 600 ms.
	s := newTestSelector(t, src, SelectorConfig{Clock: clock, FrameTimeout: time.Minute}, Thresholds{Excellent: 0.99})

	// The worker walks up alone; Watch looks every 250 ms.
	watchWorkerWalkUp(t, s, clock)

	// A second person steps in beside the worker; the badge is read.
	src.set(both)
	sel, reasons, err := selectOnTheClock(s, clock, 20*time.Second, 60*time.Millisecond)
	t.Logf("err %v, faces %d, frames %d, score %.3f, reasons %q", err, sel.Faces, sel.Frames, sel.Score, reasons)
	if err == nil && sel.Faces < 2 {
		t.Fatalf("the window ended on its timer and handed over a face with Faces=%d from %d frames showing two people side by side, "+
			"none of them searched whole (reasons %q): the tailgating guard does not fire", sel.Faces, sel.Frames, reasons)
	}
}
