//go:build hil

package hil

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/capture"
)

// What capture promises (camera.go), restated so that the bounds below say
// where they come from.
const (
	// readTimeout: one V4L2 read of a silent camera gives up after this
	// (capture sets OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT=2; the test sets the
	// same value in case it runs first).
	readTimeout = 2 * time.Second
	// maxReadFailures consecutive failed reads close the device.
	maxReadFailures = 5
	// staleAfter: Health reports down when no frame came for this long.
	staleAfter = 2 * time.Second
	// backoffMax caps the wait between two opens.
	backoffMax = 30 * time.Second
	// closeWait: Close gives up waiting for the reader after this.
	closeWait = 3 * time.Second
	// tcgSlack covers a TCG guest on a shared host: a V4L2 open, an
	// OpenCV format negotiation and a few decodes take seconds there.
	tcgSlack = 15 * time.Second
)

// TestGuestCameraComesBack takes the v4l2loopback camera away while capture
// reads it, as when a USB webcam hangs and is then unplugged, and plugs it
// back:
//
//  1. camfeed runs: Health is up, SelectFace finds the face;
//  2. camfeed is killed (the camera hangs): Health leaves up within
//     staleAfter; a selection fails within its deadline (it is given no
//     picture from before the outage); the reader itself gives the device
//     up after maxReadFailures reads of readTimeout (not stuck in OpenCV);
//  3. the module is removed (unplugged: /dev/video10 disappears) and capture
//     keeps retrying, down;
//  4. the module is loaded and camfeed starts again (plugged back, same
//     format): Health is up again within one backoff step (at most
//     backoffMax) and SelectFace finds the face;
//  5. Close returns at once, the reader having exited (no error).
//
// Why the module goes: v4l2loopback 0.12.7 with exclusive_caps=1 and a
// write() producer such as camfeed ends up, once the producer and every
// reader have closed it, announcing neither capture nor output, and a new
// producer's VIDIOC_S_FMT fails with EINVAL until the module is reloaded. A
// reload is also what an unplugged USB camera looks like: its node goes and
// comes back. Unlike v4l2loopback, a hung or unplugged USB camera usually
// fails reads at once (ENODEV) instead of after readTimeout, and may come
// back under another number: configure /dev/v4l/by-id/... on a gate.
func TestGuestCameraComesBack(t *testing.T) {
	guest(t)
	face := os.Getenv("FACEGATE_HIL_FACE")
	if face == "" {
		t.Skip("FACEGATE_HIL_FACE is not set: TestHIL sets it to gocv's images/face.jpg")
	}
	if v := os.Getenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT"); v != "" && v != "2" {
		t.Fatalf("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT=%s: the bounds below assume capture's 2 s", v)
	}
	os.Setenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", "2")
	loopback := loopbackModule(t)
	const w, h = 640, 480

	feed := startFeed(t, face, w, h)
	t.Cleanup(func() { feed.stop() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cam, err := capture.OpenCamera(ctx, capture.CameraConfig{Source: loopbackDev, Width: w, Height: h, FPS: 15,
		FourCC: "BGR3", FrozenAfter: 10 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", loopbackDev, err)
	}
	closed := false
	defer func() {
		if !closed {
			cam.Close()
		}
	}()
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	sel := capture.NewSelector(cam, an, capture.SelectorConfig{FrameTimeout: 20 * time.Second})
	defer sel.Close()

	selectFace := func(phase string) {
		t.Helper()
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		got, err := sel.SelectFace(sctx, nil)
		if err != nil {
			t.Fatalf("%s: SelectFace: %v (camera health %+v)", phase, err, cam.Health())
		}
		t.Logf("%s: face %v, score %.2f, %d frames in %s", phase, got.Face, got.Score, got.Frames,
			time.Since(start).Round(10*time.Millisecond))
	}

	// 1. Up, with a face.
	waitHealth(t, cam, "up at first", startTimeout, func(h capture.Health) bool { return h.State == capture.StateUp })
	selectFace("before the outage")
	before := cam.Health()

	// 2. The producer dies: no more frames.
	feed.stop()
	killed := time.Now()
	down := waitHealth(t, cam, "not up after the feeder died", staleAfter+tcgSlack,
		func(h capture.Health) bool { return h.State != capture.StateUp })
	hl := cam.Health()
	t.Logf("down detected %s after the kill (last frame %s before it): %s (%s)", down.Round(10*time.Millisecond),
		killed.Sub(hl.LastFrame).Round(10*time.Millisecond), hl.State, hl.LastError)

	// A consumer is not held, and not given the last picture.
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	start := time.Now()
	_, err = sel.SelectFace(sctx, nil)
	scancel()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("SelectFace succeeded with no producer (health %+v)", cam.Health())
	}
	if took > 3*time.Second+closeWait {
		t.Errorf("SelectFace with a 3 s deadline returned after %s: %v", took.Round(10*time.Millisecond), err)
	}
	t.Logf("SelectFace during the outage: %v, after %s", err, took.Round(10*time.Millisecond))

	// The reader is not stuck in a read: it fails maxReadFailures reads (one
	// grab before them) and closes the device.
	waitHealth(t, cam, "the reader giving the device up", time.Duration(maxReadFailures+1)*readTimeout+tcgSlack,
		func(h capture.Health) bool { return h.Reopens > before.Reopens })
	hl = cam.Health()
	t.Logf("reader gave the device up %s after the kill: %s (%s)", time.Since(killed).Round(10*time.Millisecond), hl.State, hl.LastError)
	if hl.State == capture.StateUp {
		t.Fatalf("up again with no producer: %+v", hl)
	}

	// 3. Unplugged: the node goes; capture keeps trying, down.
	unplug(t, loopback)
	// Reopens counts up before each wait: two more mean an open that
	// started after the unplug has failed.
	unplugged := cam.Health().Reopens
	waitHealth(t, cam, "an open of the missing device", backoffMax+tcgSlack,
		func(h capture.Health) bool { return h.Reopens > unplugged+1 })
	if hl = cam.Health(); hl.State == capture.StateUp || hl.LastError == "" {
		t.Fatalf("unplugged camera: health %+v, want down with the open error", hl)
	}
	t.Logf("unplugged: %s (%s), %d reopens", hl.State, hl.LastError, hl.Reopens)

	// 4. Plugged back. The backoff doubles from 1 s up to backoffMax: the
	// next open comes at most (time since the reader gave up) + 1 s later.
	plug(t, loopback)
	feed = startFeed(t, face, w, h)
	outage := time.Since(killed)
	wait := (min(outage+time.Second, backoffMax) + tcgSlack).Round(time.Second)
	back := waitHealth(t, cam, "up again after the camera came back", wait,
		func(h capture.Health) bool { return h.State == capture.StateUp })
	hl = cam.Health()
	t.Logf("back up %s after camfeed's first frame (bound %s; outage %s, %d reopens)",
		back.Round(10*time.Millisecond), wait, time.Since(killed).Round(10*time.Millisecond), hl.Reopens)
	selectFace("after the outage")

	// 5. Nothing is stuck: Close waits for the reader, which exits.
	start = time.Now()
	err = cam.Close()
	closed = true
	took = time.Since(start)
	if err != nil || took >= closeWait {
		t.Errorf("Close: %v after %s, want nil within %s", err, took.Round(10*time.Millisecond), closeWait)
	}
	t.Logf("Close returned in %s", took.Round(time.Millisecond))
	if _, err := cam.Next(ctx, 0, nil); !errors.Is(err, capture.ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
}

// loopbackModule is the v4l2loopback modprobe line of guestModules.
func loopbackModule(t *testing.T) []string {
	t.Helper()
	for _, m := range strings.Split(guestModules, ";") {
		if f := strings.Fields(m); len(f) > 0 && f[0] == "v4l2loopback" {
			return f
		}
	}
	t.Fatalf("no v4l2loopback in guestModules %q", guestModules)
	return nil
}

// unplug removes v4l2loopback, retrying while a reopen attempt holds it.
func unplug(t *testing.T, module []string) {
	t.Helper()
	deadline := time.Now().Add(backoffMax)
	for {
		out, err := exec.Command("rmmod", module[0]).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rmmod %s: %v: %s", module[0], err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The tests after this one need the device, even if this one fails.
	t.Cleanup(func() {
		if _, err := os.Stat(loopbackDev); err != nil {
			exec.Command("modprobe", module...).Run()
		}
	})
	if _, err := os.Stat(loopbackDev); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s after rmmod: %v, want it gone", loopbackDev, err)
	}
}

// plug loads v4l2loopback again and waits for its node. It loads it with
// one buffer: 0.12.7's VIDIOC_REQBUFS, when a reader asks for fewer buffers
// than the device has (capture asks for one), unlinks the others without the
// lock the producer's write() takes, and a write racing it panics the kernel
// (list_del corruption in buffer_written, upstream issue #532). That race
// exists on every first read after a load; with one buffer nothing is
// unlinked.
func plug(t *testing.T, module []string) {
	t.Helper()
	args := append([]string(nil), module...)
	if !strings.Contains(strings.Join(args, " "), "max_buffers=") {
		args = append(args, "max_buffers=1")
	}
	if out, err := exec.Command("modprobe", args...).CombinedOutput(); err != nil {
		t.Fatalf("modprobe %s: %v: %s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(loopbackDev); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s after modprobe: %v", loopbackDev, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// feeder is a running camfeed.
type feeder struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// startFeed runs camfeed on loopbackDev and waits for its first frame
// (readers may open the device only then).
func startFeed(t *testing.T, src string, w, h int) *feeder {
	t.Helper()
	f := &feeder{out: &syncBuffer{}}
	f.cmd = exec.Command(binary(t, "camfeed"), "-dev", loopbackDev, "-src", src,
		"-w", strconv.Itoa(w), "-h", strconv.Itoa(h), "-fps", "15")
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "camfeed output", f.out, "first frame", startTimeout)
	return f
}

// stop kills camfeed (no goodbye frame, as when a camera hangs) and waits
// for it; idempotent.
func (f *feeder) stop() {
	if f.cmd.ProcessState != nil {
		return
	}
	f.cmd.Process.Kill()
	f.cmd.Wait()
}

// waitHealth polls Health until ok and returns how long that took.
func waitHealth(t *testing.T, cam *capture.Camera, what string, timeout time.Duration, ok func(capture.Health) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok(cam.Health()) {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s; health %+v", what, timeout, cam.Health())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}
