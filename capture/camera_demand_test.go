package capture

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"
)

// grabbingReader is a fakeReader that can grab without decoding (a V4L2
// camera); it counts decodes. Frame i holds the value i%250.
type grabbingReader struct {
	*fakeReader
	decodes atomic.Int64
}

func (r *grabbingReader) grab() {
	r.n.Add(1)
	if r.clock != nil {
		r.clock.advance(time.Second / 15)
	}
}

func (r *grabbingReader) read(dst *gocv.Mat) error {
	r.decodes.Add(1)
	return r.fakeReader.read(dst)
}

func openGrabbing(t *testing.T, cfg CameraConfig, fill func(int64) float64) (*Camera, *grabbingReader, *autoClock) {
	t.Helper()
	clock := newAutoClock()
	r := &grabbingReader{fakeReader: &fakeReader{clock: clock, n: new(atomic.Int64), fill: fill}}
	cam, err := OpenCamera(context.Background(), cfg, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) { return r, nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam, r, clock
}

func TestCameraDecodesOnlyOnDemand(t *testing.T) {
	cam, r, clock := openGrabbing(t, CameraConfig{Source: "0"}, nil)
	// Nobody asks: about one decode per second of frames (15 grabs).
	require.Eventually(t, func() bool { return r.n.Load() >= 300 }, 5*time.Second, time.Millisecond, "300 frames taken")
	n, d := r.n.Load(), r.decodes.Load()
	if d < n/20 || d > n/10 {
		t.Fatalf("%d decodes for %d frames, want about one in 15", d, n)
	}
	h := cam.Health()
	if h.State != StateUp || h.FPS < 14 || h.FPS > 16 || h.DecodedFPS < 0.9 || h.DecodedFPS > 1.1 {
		t.Fatalf("health %+v, want up, 15 fps taken, 1 fps decoded", h)
	}

	// A waiting consumer gets a frame taken after it asked: the freshest.
	dst := gocv.NewMat()
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cam.Next(ctx, 0, &dst) // the frame already there
	if err != nil {
		t.Fatal(err)
	}
	// Frames decoded for nobody (the once-a-second floor) are stale once
	// newer ones were taken.
	dd := r.decodes.Load()
	require.Eventually(t, func() bool { return r.decodes.Load() >= dd+2 }, 5*time.Second, time.Millisecond, "two more decodes")
	asked := clock.Now() // the clock moves one frame per frame taken
	info, err = cam.Next(ctx, info.Seq, &dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.At.Before(asked) {
		t.Fatalf("handed out a frame read at %v, before the request at %v", info.At, asked)
	}

	// While a selection demands every frame, every frame is decoded.
	release := cam.DemandEveryFrame()
	require.Eventually(t, func() bool { return r.decodes.Load() > d+20 }, 5*time.Second, time.Millisecond, "demand to apply")
	n0, d0 := r.n.Load(), r.decodes.Load()
	require.Eventually(t, func() bool { return r.n.Load() >= n0+60 }, 5*time.Second, time.Millisecond, "60 more frames")
	n1, d1 := r.n.Load(), r.decodes.Load()
	if dn, dd := n1-n0, d1-d0; dd < dn-2 {
		t.Fatalf("%d decodes for %d frames under demand", dd, dn)
	}
	release()
	release() // idempotent
	n2, d2 := r.n.Load(), r.decodes.Load()
	require.Eventually(t, func() bool { return r.n.Load() >= n2+150 }, 5*time.Second, time.Millisecond, "150 more frames")
	if dd, dn := r.decodes.Load()-d2, r.n.Load()-n2; dd*10 > dn {
		t.Fatalf("%d decodes in %d frames after the demand ended", dd, dn)
	}
}

func TestCameraOnDemandStillSeesFrozen(t *testing.T) {
	cam, r, _ := openGrabbing(t, CameraConfig{Source: "0", FrozenAfter: 3 * time.Second},
		func(int64) float64 { return 77 })
	require.Eventually(t, func() bool { return cam.Health().State == StateFrozen }, 5*time.Second, time.Millisecond, "frozen")
	if d, n := r.decodes.Load(), r.n.Load(); d*10 > n {
		t.Fatalf("%d decodes for %d frames", d, n)
	}
}

func TestSelectorDemandsEveryFrame(t *testing.T) {
	src := &demandSource{}
	a := newHaar(t, AnalyzerConfig{})
	s := NewSelector(src, a, SelectorConfig{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.SelectFace(ctx, nil)
	if src.raised != 1 || src.released != 1 {
		t.Fatalf("demand raised %d, released %d times; want 1 and 1", src.raised, src.released)
	}
}

// demandSource has no frames; it counts DemandEveryFrame calls.
type demandSource struct{ raised, released int }

func (s *demandSource) Next(ctx context.Context, _ uint64, _ *gocv.Mat) (FrameInfo, error) {
	<-ctx.Done()
	return FrameInfo{}, ctx.Err()
}

func (s *demandSource) DemandEveryFrame() func() {
	s.raised++
	return func() { s.released++ }
}
