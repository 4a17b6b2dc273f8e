package capture

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// phaseSource hands out its current picture as a new frame each time (a
// live camera), 1/15 s apart; the test changes the picture.
type phaseSource struct {
	mu    sync.Mutex
	cur   gocv.Mat
	seq   uint64
	start time.Time
}

func (s *phaseSource) set(m gocv.Mat) {
	s.mu.Lock()
	s.cur = m
	s.mu.Unlock()
}

func (s *phaseSource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return FrameInfo{}, err
	}
	s.seq++
	s.cur.CopyTo(dst)
	return FrameInfo{Seq: s.seq, At: s.start.Add(time.Duration(s.seq) * time.Second / 15)}, nil
}

// TestSelectionAfterWatchSeesTheSecondPerson: the
// tailgating guard (policy.max_faces: 1, and capture.one_person's
// multiple_faces) relies on Selection.Faces, the most faces seen in one
// analysed frame. Watch keeps a worker's face tracked between sessions; a
// selection that starts within a second of its last look keeps that
// tracking, and a tracked Haar frame searches only around the tracked
// face. A second person standing beside the worker when the badge is read
// is then never searched for when the first frame's face is excellent
// (the window ends at once): the selection reports one face and the
// session is not denied as tailgating. A cold selection of the very same
// frame sees both.
func TestSelectionAfterWatchSeesTheSecondPerson(t *testing.T) {
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	scene := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 720, 1280, gocv.MatTypeCV8UC3)
	defer scene.Close()
	alone := composeOn(scene, photo, 850, image.Pt(-200, 0))
	defer alone.Close()
	both := composeOn(alone, photo, 850, image.Pt(560, 0))
	defer both.Close()

	for _, tc := range []struct {
		name  string
		watch bool
	}{{"cold", false}, {"after watch", true}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			src := &phaseSource{cur: alone, start: clock.Now()}
			s := newTestSelector(t, src, SelectorConfig{Clock: clock, FrameTimeout: time.Minute}, Thresholds{})
			if tc.watch {
				// The worker walks up alone; Watch looks every 250 ms.
				watchWorkerWalkUp(t, s, clock)
			}
			// A second person steps in beside the worker; the badge is read.
			src.set(both)
			// Let the window close on the clock if no frame ends it.
			sel, reasons, err := selectOnTheClock(s, clock, 3*time.Second, 20*time.Millisecond)
			t.Logf("%s: err %v, faces %d, frames %d, score %.3f, reasons %q", tc.name, err, sel.Faces, sel.Frames, sel.Score, reasons[:min(len(reasons), 12)])
			if err == nil && sel.Faces < 2 {
				t.Fatalf("%s: the selection handed over a face with Faces=%d from frames showing two people side by side (reasons %v): the tailgating guard does not fire",
					tc.name, sel.Faces, reasons)
			}
		})
	}
}

// watchWorkerWalkUp runs s.Watch for three looks 250 ms apart on clock
// (the worker walking up alone), then stops it.
func watchWorkerWalkUp(t *testing.T, s *Selector, clock *fakeClock) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Watch(ctx, 250*time.Millisecond) }()
	for i := 0; i < 3; i++ {
		clock.WaitForWaiter(t)
		clock.Advance(250 * time.Millisecond)
	}
	clock.WaitForWaiter(t) // the last look is done
	cancel()
	<-done
	if s.watchedAt.IsZero() {
		t.Fatal("Watch analysed nothing")
	}
}

// selectOnTheClock runs s.SelectFace within timeout, moving clock 100 ms
// on every tick of real time until it returns (so that a window no frame
// ends closes on the clock).
func selectOnTheClock(s *Selector, clock *fakeClock, timeout, tick time.Duration) (Selection, []Reason, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var reasons []Reason
	res := make(chan error, 1)
	var sel Selection
	go func() {
		var err error
		sel, err = s.SelectFace(ctx, func(p Progress) { reasons = append(reasons, p.Reason) })
		res <- err
	}()
	for {
		select {
		case err := <-res:
			return sel, reasons, err
		case <-time.After(tick):
			clock.Advance(100 * time.Millisecond)
		}
	}
}
