package capture

import (
	"context"
	"errors"
	"image"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/syncbuf"
)

// autoClock fires every After at once and moves time forward by its
// duration; it records the durations asked for.
type autoClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newAutoClock() *autoClock { return &autoClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *autoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *autoClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *autoClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *autoClock) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// fakeReader is a scripted frameReader: frame i is filled with value
// fill(i); fail(i) makes read i fail. Each read takes 1/15 s of clock time.
type fakeReader struct {
	clock      *autoClock
	n          *atomic.Int64
	fill       func(i int64) float64
	fail       func(i int64) bool
	failErr    error         // what a failed read returns (default: a select() error)
	block      chan struct{} // when set, reads after the first blockAfter wait on it
	blockAfter int64
	entered    chan struct{} // when set, gets a value as read starts
	closed     atomic.Bool
}

func (r *fakeReader) read(dst *gocv.Mat) error {
	if r.entered != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
	}
	if r.block != nil && r.n.Load() >= r.blockAfter {
		<-r.block
	}
	i := r.n.Add(1)
	if r.clock != nil {
		r.clock.advance(time.Second / 15)
	}
	if r.fail != nil && r.fail(i) {
		if r.failErr != nil {
			return r.failErr
		}
		return errors.New("select() failed")
	}
	v := float64(i % 250)
	if r.fill != nil {
		v = r.fill(i)
	}
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), 48, 64, gocv.MatTypeCV8UC3)
	m.CopyTo(dst)
	m.Close()
	return nil
}

func (r *fakeReader) nominalFPS() float64 { return 15 }
func (r *fakeReader) close()              { r.closed.Store(true) }

// quiet keeps test output free of the camera's logs.
func quiet() CameraOption { return WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func TestCameraHandsOutFreshFrames(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	var opens atomic.Int32
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "/dev/video10"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			opens.Add(1)
			return &fakeReader{clock: clock, n: &n}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := cam.Next(ctx, 0, &dst)
	if err != nil {
		t.Fatal(err)
	}
	second, err := cam.Next(ctx, first.Seq, &dst)
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq <= first.Seq || !second.At.After(first.At) {
		t.Fatalf("second frame %+v not newer than %+v", second, first)
	}
	if dst.Cols() != 64 || dst.Rows() != 48 {
		t.Fatalf("frame %dx%d", dst.Cols(), dst.Rows())
	}
	// The reader runs ahead: a later Next skips the frames nobody took.
	require.Eventually(t, func() bool { return n.Load() > int64(second.Seq)+5 }, 5*time.Second, time.Millisecond, "reader to run ahead")
	third, err := cam.Next(ctx, second.Seq, &dst)
	if err != nil {
		t.Fatal(err)
	}
	if third.Seq < second.Seq+5 {
		t.Fatalf("got frame %d, want the freshest (reader at %d)", third.Seq, n.Load())
	}
	h := cam.Health()
	if h.State != StateUp || h.FPS < 14 || h.FPS > 16 {
		t.Fatalf("health %+v, want up at 15 fps", h)
	}
	if h.Frames < third.Seq {
		t.Fatalf("health counts %d frames, %d were read", h.Frames, third.Seq)
	}
	if opens.Load() != 1 {
		t.Fatalf("opened %d times", opens.Load())
	}
}

// A few failed reads in a row are retried on the same open device. That
// includes a V4L2 read returning no frame, which OpenCV reports as the end
// of the stream: only files end.
func TestCameraRetriesTransientReadFailures(t *testing.T) {
	for _, tc := range []struct {
		name, source string
		failErr      error
	}{
		{"select() errors", "0", nil},
		{"device read without a frame", "/dev/video10", ErrEndOfStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newAutoClock()
			var n atomic.Int64
			var opens atomic.Int32
			cam, err := OpenCamera(context.Background(), CameraConfig{Source: tc.source}, WithClock(clock), quiet(),
				withOpener(func() (frameReader, error) {
					opens.Add(1)
					// Reads 2-4 fail (fewer than maxReadFailures in a row).
					return &fakeReader{clock: clock, n: &n, failErr: tc.failErr,
						fail: func(i int64) bool { return i >= 2 && i <= 4 }}, nil
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer cam.Close()
			dst := gocv.NewMat()
			defer dst.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var seq uint64
			for seq < 3 {
				info, err := cam.Next(ctx, seq, &dst)
				if err != nil {
					t.Fatal(err)
				}
				seq = info.Seq
			}
			if opens.Load() != 1 {
				t.Fatalf("reopened after %d failed reads (%d opens)", maxReadFailures-2, opens.Load())
			}
		})
	}
}

func TestCameraReopensWithBackoff(t *testing.T) {
	clock := newAutoClock()
	var opens atomic.Int32
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "/dev/video10"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			opens.Add(1)
			return nil, ErrOpen
		}))
	if err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return opens.Load() >= 8 }, 5*time.Second, time.Millisecond, "8 opens")
	h := cam.Health()
	cam.Close()
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	got := clock.waited()
	if len(got) < len(want) {
		t.Fatalf("waits %v", got)
	}
	for i, w := range want {
		if got[i] != w*time.Second {
			t.Fatalf("backoff %v, want %v…", got[:len(want)], want)
		}
	}
	if h.State != StateDown || h.LastError == "" || h.Reopens < 7 {
		t.Fatalf("health %+v, want down with an error and reopens", h)
	}
}

func TestCameraReopensAfterRepeatedReadFailures(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	var opens atomic.Int32
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "0"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			opens.Add(1)
			return &fakeReader{clock: clock, n: &n, fail: func(int64) bool { return true }}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	require.Eventually(t, func() bool { return opens.Load() >= 2 }, 5*time.Second, time.Millisecond, "a reopen")
	if h := cam.Health(); h.State != StateDown {
		t.Fatalf("health %+v, want down", h)
	}
}

func TestCameraFrozen(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	var opens atomic.Int32
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "0", FrozenAfter: 2 * time.Second}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			opens.Add(1)
			return &fakeReader{clock: clock, n: &n, fill: func(int64) float64 { return 77 }}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	require.Eventually(t, func() bool { return cam.Health().State == StateFrozen }, 5*time.Second, time.Millisecond, "frozen")
	require.Eventually(t, func() bool { return opens.Load() >= 2 }, 5*time.Second, time.Millisecond, "a reopen of the frozen camera")
	// Neither the frames from before the freeze nor those identical to
	// the frozen one are handed out.
	dst := gocv.NewMat()
	defer dst.Close()
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if info, err := cam.Next(short, 0, &dst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("frozen camera: Next gave frame %d, %v; want a deadline", info.Seq, err)
	}
	if h := cam.Health(); h.State != StateFrozen || h.LastChange.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

func TestCameraCloseDoesNotWaitForAStuckRead(t *testing.T) {
	block := make(chan struct{})
	var n atomic.Int64
	r := &fakeReader{n: &n, block: block, entered: make(chan struct{}, 1)}
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "0"}, quiet(),
		withOpener(func() (frameReader, error) { return r, nil }))
	if err != nil {
		t.Fatal(err)
	}
	cam.closeWait = 50 * time.Millisecond
	<-r.entered
	start := time.Now()
	if err := cam.Close(); err == nil {
		t.Fatal("Close reported a clean stop while the read was stuck")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %s", d)
	}
	close(block) // the read returns; the reader releases everything
	require.Eventually(t, r.closed.Load, 5*time.Second, time.Millisecond, "reader to close the source")
	dst := gocv.NewMat()
	defer dst.Close()
	require.Eventually(t, func() bool {
		_, err := cam.Next(context.Background(), 0, &dst)
		return errors.Is(err, ErrClosed)
	}, 5*time.Second, time.Millisecond, "camera closed")
}

func TestCameraBadSource(t *testing.T) {
	if _, err := OpenCamera(context.Background(), CameraConfig{Source: "ftp://x"}); !errors.Is(err, ErrBadSource) {
		t.Fatalf("err %v, want ErrBadSource", err)
	}
}

// TestCameraImageAndVideoFiles opens real files through OpenCV: a still
// image and a video written at run time.
// The deadline is generous: under qemu-user (make test-arm64) opening and
// decoding take seconds, and the camera closes itself when ctx ends.
func TestCameraImageAndVideoFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	video := writeTestVideo(t, 30, 640, 360, 60)
	for _, src := range []string{gocvImage(t, "face.jpg"), video} {
		cam, err := OpenCamera(ctx, CameraConfig{Source: src, FPS: 100}, quiet())
		if err != nil {
			t.Fatal(err)
		}
		dst := gocv.NewMat()
		var seq uint64
		for i := 0; i < 40; i++ { // more than the video's frames: it loops
			info, err := cam.Next(ctx, seq, &dst)
			if err != nil {
				t.Fatalf("%s: frame %d: %v (health %+v)", src, i, err, cam.Health())
			}
			seq = info.Seq
		}
		if dst.Empty() || cam.Health().State != StateUp {
			t.Fatalf("%s: no frame or not up: %+v", src, cam.Health())
		}
		dst.Close()
		if err := cam.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCameraMissingFileIsDown(t *testing.T) {
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: t.TempDir() + "/missing.mp4"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	require.Eventually(t, func() bool { return cam.Health().LastError != "not opened yet" }, 5*time.Second, time.Millisecond, "open error")
	if h := cam.Health(); h.State != StateDown {
		t.Fatalf("health %+v", h)
	}
}

// writeTestVideo writes an MJPG AVI of n frames: face.jpg sliding in from
// the left, so frames differ. Returns its path.
func writeTestVideo(t testing.TB, n, w, h int, fps float64) string {
	t.Helper()
	path := t.TempDir() + "/clip.avi"
	vw, err := gocv.VideoWriterFile(path, "MJPG", fps, w, h, true)
	if err != nil {
		t.Fatalf("video writer: %v", err)
	}
	defer vw.Close()
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	for i := 0; i < n; i++ {
		f := compose(photo, w, h, w/2, image.Pt(i*w/(2*n), h/8))
		if err := vw.Write(f); err != nil {
			f.Close()
			t.Fatal(err)
		}
		f.Close()
	}
	return path
}

// TestCameraGStreamerPipeline reads GStreamer's test source through the
// pipeline path (the one a Pi CSI camera's libcamerasrc takes).
func TestCameraGStreamerPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cam, err := OpenCamera(ctx, CameraConfig{Source: "videotestsrc ! video/x-raw,width=320,height=240"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	m := gocv.NewMat()
	defer m.Close()
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	if _, err := cam.Next(fctx, 0, &m); err != nil {
		t.Skipf("GStreamer videotestsrc unavailable here (%v; camera %+v)", err, cam.Health())
	}
	if m.Cols() != 320 || m.Rows() != 240 || m.Channels() != 3 {
		t.Fatalf("frame %dx%d/%d", m.Cols(), m.Rows(), m.Channels())
	}
	if h := cam.Health(); h.State != StateUp || h.LastError != "" {
		t.Fatalf("health %+v", h)
	}
}

// A camera that went down hands out no frame until it is back: its last
// picture may show whoever stood there minutes ago.
func TestCameraDownHandsOutNoOldFrame(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	var opens atomic.Int32
	var unplugged, back atomic.Bool
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "/dev/video10"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) {
			switch {
			case opens.Add(1) == 1: // delivers frames until unplugged
				return &fakeReader{clock: clock, n: &n, fail: func(int64) bool { return unplugged.Load() }}, nil
			case !back.Load(): // unplugged
				return nil, ErrOpen
			}
			return &fakeReader{clock: clock, n: &n}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := cam.Next(ctx, 0, &dst)
	if err != nil {
		t.Fatal(err)
	}
	unplugged.Store(true)
	require.Eventually(t, func() bool { return opens.Load() >= 2 }, 5*time.Second, time.Millisecond, "a failed reopen")
	if h := cam.Health(); h.State != StateDown {
		t.Fatalf("health %+v, want down", h)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if info, err := cam.Next(short, 0, &dst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("down camera: Next gave frame %d (%v); want a deadline", info.Seq, err)
	}
	back.Store(true)
	again, err := cam.Next(ctx, 0, &dst)
	if err != nil {
		t.Fatalf("camera back: %v (health %+v)", err, cam.Health())
	}
	if again.Seq <= first.Seq || !again.At.After(first.At) {
		t.Fatalf("after the outage frame %+v, before %+v", again, first)
	}
	if h := cam.Health(); h.State != StateUp {
		t.Fatalf("health %+v, want up", h)
	}
}

// A reader stuck in a read (a hung driver) leaves an ever older frame: after
// staleAfter it is not handed out, as Health already says down.
func TestCameraStuckReadHandsOutNoOldFrame(t *testing.T) {
	clock := newAutoClock()
	var n atomic.Int64
	block := make(chan struct{})
	r := &fakeReader{clock: clock, n: &n, block: block, blockAfter: 1}
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: "/dev/video10"}, WithClock(clock), quiet(),
		withOpener(func() (frameReader, error) { return r, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(block)
		cam.Close()
	}()
	dst := gocv.NewMat()
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cam.Next(ctx, 0, &dst); err != nil {
		t.Fatal(err)
	}
	// The reader cannot deliver frame 2: its next read blocks.
	clock.advance(staleAfter + time.Second)
	if h := cam.Health(); h.State != StateDown {
		t.Fatalf("health %+v, want down", h)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if info, err := cam.Next(short, 0, &dst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck camera: Next gave frame %d (%v) %s old; want a deadline", info.Seq, err, clock.Now().Sub(info.At))
	}
}

// TestCameraLogsHideStreamPasswords: a camera URL with a login or a token
// is opened as given, and logged and reported (Health) masked.
func TestCameraLogsHideStreamPasswords(t *testing.T) {
	var logs syncbuf.Buffer
	src := "rtsp://admin:cam-pw-1@127.0.0.1:1/stream?token=cam-pw-2"
	cam, err := OpenCamera(context.Background(), CameraConfig{Source: src}, WithClock(newAutoClock()),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="camera open failed"`) }, 5*time.Second, time.Millisecond, "open failure logged")
	h := cam.Health()
	cam.Close()
	if strings.Contains(logs.String()+h.LastError, "cam-pw") {
		t.Fatalf("a password from the camera URL was shown:\n%s\nhealth: %s", logs.String(), h.LastError)
	}
	if !strings.Contains(logs.String(), "rtsp://xxxxx@127.0.0.1:1/stream?token=xxxxx") {
		t.Errorf("the source is not logged (masked):\n%s", logs.String())
	}
	for _, s := range []string{
		"rtspsrc location=rtsp://admin:cam-pw-3@cam/s user-pw=cam-pw-4 ! decodebin",
		"https://cam/snap?user=a&password=cam-pw-5",
	} {
		p, err := ParseSource(s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p.String(), "cam-pw") {
			t.Errorf("String() = %q", p.String())
		}
	}
	if _, err := ParseSource("rtsp://admin:cam-pw-6@cam/a b"); err == nil || strings.Contains(err.Error(), "cam-pw") {
		t.Errorf("ParseSource error %v", err)
	}
}
