package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"
)

// fakeSource serves prepared frames one after the other, 1/15 s apart,
// then blocks (a camera that stopped).
type fakeSource struct {
	mu     sync.Mutex
	frames []gocv.Mat
	start  time.Time
	// exhausted, if set, is called when every frame has been handed out.
	exhausted func()
}

func (s *fakeSource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error) {
	s.mu.Lock()
	if int(after) < len(s.frames) {
		s.frames[after].CopyTo(dst)
		s.mu.Unlock()
		return FrameInfo{Seq: after + 1, At: s.start.Add(time.Duration(after) * time.Second / 15)}, nil
	}
	s.mu.Unlock()
	if s.exhausted != nil {
		s.exhausted()
	}
	<-ctx.Done()
	return FrameInfo{}, ctx.Err()
}

func (s *fakeSource) close() {
	for i := range s.frames {
		s.frames[i].Close()
	}
}

// sceneFrames: empty frames, then face.jpg growing (a worker walking up).
func sceneFrames(t *testing.T, empty, faces int) *fakeSource {
	t.Helper()
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	src := &fakeSource{start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := 0; i < empty; i++ {
		src.frames = append(src.frames, gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 360, 640, gocv.MatTypeCV8UC3))
	}
	for i := 0; i < faces; i++ {
		w := 300 + 8*i
		src.frames = append(src.frames, compose(photo, 640, 360, w, image.Pt(320-w/2, 20)))
	}
	t.Cleanup(src.close)
	return src
}

func newTestSelector(t *testing.T, src FrameSource, cfg SelectorConfig, th Thresholds) *Selector {
	t.Helper()
	a := newHaar(t, AnalyzerConfig{Thresholds: th})
	if cfg.Clock == nil {
		cfg.Clock = newFakeClock() // the window is measured on frame times
	}
	s := NewSelector(src, a, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSelectFaceKeepsBestOverWindow(t *testing.T) {
	src := sceneFrames(t, 3, 12)
	s := newTestSelector(t, src, SelectorConfig{Window: 300 * time.Millisecond}, Thresholds{Excellent: 0.99})
	var reasons []Reason
	sel, err := s.SelectFace(context.Background(), func(p Progress) { reasons = append(reasons, p.Reason) })
	if err != nil {
		t.Fatal(err)
	}
	if len(reasons) < 4 || reasons[0] != ReasonNoFace {
		t.Fatalf("progress %v, want no_face first", reasons)
	}
	firstOK := -1
	for i, r := range reasons {
		if r == ReasonNone {
			firstOK = i
			break
		}
	}
	if firstOK < 3 {
		t.Fatalf("progress %v: no acceptable face after the empty frames", reasons)
	}
	// The window is 300 ms from the first acceptable frame: 5 more frames.
	if got, want := len(reasons), firstOK+6; got != want {
		t.Fatalf("analysed %d frames, want %d (window of 300 ms at 15 fps)", got, want)
	}
	first := src.start.Add(time.Duration(firstOK) * time.Second / 15)
	if sel.CapturedAt.Before(first) || sel.CapturedAt.After(first.Add(300*time.Millisecond)) {
		t.Fatalf("captured at %v, outside the window from %v", sel.CapturedAt, first)
	}
	img, err := jpeg.Decode(bytes.NewReader(sel.JPEG))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 960 || img.Bounds().Dy() != 720 {
		t.Fatalf("crop %v", img.Bounds())
	}
	if sel.Faces != 1 || sel.Score <= 0 || !sel.Face.In(sel.Crop) || sel.Frame != image.Pt(640, 360) {
		t.Fatalf("selection %+v", sel)
	}
	// The liveness challenge compares its start with the chosen face.
	chosen := src.frames[int(math.Round(sel.CapturedAt.Sub(src.start).Seconds()*15))]
	if want := FaceDetail(chosen, sel.Face); !(want > 0) || sel.Detail != want {
		t.Fatalf("detail %v, want the chosen face's %v", sel.Detail, want)
	}
	if want := FaceSignature(chosen, sel.Face); want.Valid() != nil || !slices.Equal(sel.Signature, want) {
		t.Fatalf("signature of %d values, want the chosen face's", len(sel.Signature))
	}
	if len(s.Boxes()) != 1 {
		t.Fatalf("preview boxes %v", s.Boxes())
	}
}

func TestSelectFaceStopsEarlyOnExcellentFace(t *testing.T) {
	src := sceneFrames(t, 0, 12)
	s := newTestSelector(t, src, SelectorConfig{Window: 10 * time.Second}, Thresholds{Excellent: 0.01})
	sel, err := s.SelectFace(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Frames != 1 {
		t.Fatalf("analysed %d frames, want 1 (excellent at once)", sel.Frames)
	}
}

func TestSelectFaceNoFace(t *testing.T) {
	src := sceneFrames(t, 5, 0)
	s := newTestSelector(t, src, SelectorConfig{FrameTimeout: time.Minute}, Thresholds{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := s.SelectFace(ctx, nil)
	var nf *NoFaceError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNoFace) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a NoFaceError matching ErrNoFace and the deadline", err)
	}
	if nf.Last != ReasonNoFace || nf.Frames != 5 || nf.Counts[ReasonNoFace] != 5 {
		t.Fatalf("%+v", nf)
	}
}

func TestSelectFaceCameraDown(t *testing.T) {
	src := &fakeSource{} // no frames at all
	s := newTestSelector(t, src, SelectorConfig{FrameTimeout: 30 * time.Millisecond}, Thresholds{})
	if _, err := s.SelectFace(context.Background(), nil); !errors.Is(err, ErrCameraDown) {
		t.Fatalf("err %v, want ErrCameraDown", err)
	}
}

// downSource is a camera that reports itself down and gives no frame.
type downSource struct{ fakeSource }

func (*downSource) Health() Health {
	return Health{State: StateDown, LastError: "open /dev/video0: no such device"}
}

// A caller whose deadline is shorter than FrameTimeout hears that the
// camera is down, not that no face was acceptable; the same deadline on a
// camera that is up but shows nobody is still "no face".
func TestSelectFaceEndedWhileCameraDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src      FrameSource
		want     error
		wantNot  error
		wantText string
	}{
		{"camera down", &downSource{}, ErrCameraDown, ErrNoFace, "no such device"},
		{"camera up, nobody there", &fakeSource{}, ErrNoFace, ErrCameraDown, "no acceptable face"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSelector(t, tc.src, SelectorConfig{FrameTimeout: time.Minute}, Thresholds{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			_, err := s.SelectFace(ctx, nil)
			if !errors.Is(err, tc.want) || errors.Is(err, tc.wantNot) || !errors.Is(err, context.DeadlineExceeded) ||
				!strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err %v, want %v (and the deadline), not %v", err, tc.want, tc.wantNot)
			}
		})
	}
}

// TestSelectFaceWindowEndsWhenCameraStalls: frames stop after the first
// acceptable face; the window still closes on the clock.
func TestSelectFaceWindowEndsWhenCameraStalls(t *testing.T) {
	src := sceneFrames(t, 0, 1)
	clock := newFakeClock()
	s := newTestSelector(t, src, SelectorConfig{Window: time.Second, FrameTimeout: time.Minute, Clock: clock}, Thresholds{Excellent: 0.99})
	done := make(chan error, 1)
	go func() {
		_, err := s.SelectFace(context.Background(), nil)
		done <- err
	}()
	if ds := clock.WaitForWaiter(t); len(ds) != 1 || ds[0] != time.Second {
		t.Fatalf("waiting %v, want the 1s window", ds)
	}
	clock.Advance(time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("window did not end")
	}
}

func TestSelectFaceBusyAndClosed(t *testing.T) {
	src := &fakeSource{}
	s := newTestSelector(t, src, SelectorConfig{FrameTimeout: time.Minute}, Thresholds{})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		close(started)
		s.SelectFace(ctx, nil)
		close(done)
	}()
	<-started
	require.Eventually(t, s.running.Load, 5*time.Second, time.Millisecond, "selection running")
	if _, err := s.SelectFace(context.Background(), nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("second SelectFace: %v, want ErrBusy", err)
	}
	cancel()
	<-done
	s.Close()
	if _, err := s.SelectFace(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
