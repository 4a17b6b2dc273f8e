package capture

import (
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

var (
	gocvDirOnce sync.Once
	gocvDir     string
)

// gocvImage returns the path of one of the gocv module's sample images
// (face.jpg: one frontal man with glasses, 640x480), found at run time.
func gocvImage(t testing.TB, name string) string {
	t.Helper()
	gocvDirOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
		if err == nil {
			gocvDir = strings.TrimSpace(string(out))
		}
	})
	p := filepath.Join(gocvDir, "images", name)
	if gocvDir == "" {
		t.Skipf("gocv module folder not found (go list -m gocv.io/x/gocv failed); needed for %s", name)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("gocv sample image %s missing: %v", p, err)
	}
	return p
}

// sharedDir returns ../shared (beside the repository) or skips.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent (the developer test data lives beside the repository in ../shared): %v", p, err)
	}
	return p
}

// readTestImage decodes path as BGR or fails.
func readTestImage(t testing.TB, path string) gocv.Mat {
	t.Helper()
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		m.Close()
		t.Fatalf("cannot decode %s", path)
	}
	return m
}

// faceFrame composes a w x h frame: a grey background with the photo
// face.jpg scaled to photoW pixels wide, its top-left corner at at.
// The face in face.jpg covers about x 229-469, y 149-389 of its 640x480.
func faceFrame(t testing.TB, w, h, photoW int, at image.Point) gocv.Mat {
	t.Helper()
	src := readTestImage(t, gocvImage(t, "face.jpg"))
	defer src.Close()
	return compose(src, w, h, photoW, at)
}

func compose(photo gocv.Mat, w, h, photoW int, at image.Point) gocv.Mat {
	canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), h, w, gocv.MatTypeCV8UC3)
	defer canvas.Close()
	return composeOn(canvas, photo, photoW, at)
}

// faceIn returns where face.jpg's face lands in a composed frame.
func faceIn(photoW int, at image.Point) image.Rectangle {
	f := float64(photoW) / 640
	return image.Rect(at.X+int(229*f), at.Y+int(149*f), at.X+int(469*f), at.Y+int(389*f))
}

// fakeClock is a manual Clock: After channels fire when Advance passes them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	changed chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), changed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves time and fires due timers.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	c.mu.Unlock()
}

// WaitForWaiter blocks (real time, bounded) until some goroutine waits on
// After, and returns the durations pending.
func (c *fakeClock) WaitForWaiter(t testing.TB) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		if len(c.waiters) > 0 {
			var ds []time.Duration
			for _, w := range c.waiters {
				ds = append(ds, w.at.Sub(c.now))
			}
			c.mu.Unlock()
			return ds
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no goroutine waited on the clock within 5s")
	return nil
}

// yunetModel returns the shared YuNet model path or skips.
func yunetModel(t testing.TB) string {
	t.Helper()
	return filepath.Join(sharedDir(t, "models"), "face_detection_yunet_2023mar.onnx")
}
