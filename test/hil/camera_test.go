//go:build hil

package hil

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
)

// loopbackDev is the v4l2loopback node guestModules creates (video_nr=10).
const loopbackDev = "/dev/video10"

// TestGuestCameraFindsFace feeds gocv's images/face.jpg into v4l2loopback and
// lets the capture package read the device like a webcam: it must select the
// face, at the place where the same picture shows it, and crop it to 960x720.
func TestGuestCameraFindsFace(t *testing.T) {
	guest(t)
	face := os.Getenv("FACEGATE_HIL_FACE")
	if face == "" {
		t.Skip("FACEGATE_HIL_FACE is not set: TestHIL sets it to gocv's images/face.jpg")
	}
	const w, h = 640, 480

	feed := exec.Command(binary(t, "camfeed"), "-dev", loopbackDev, "-src", face, "-w", "640", "-h", "480", "-fps", "15")
	var feedOut syncBuffer
	feed.Stdout, feed.Stderr = &feedOut, &feedOut
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { feed.Process.Kill(); feed.Wait() }()
	// Readers must open the device only after the feeder has set the format.
	waitFor(t, "camfeed output", &feedOut, "first frame", startTimeout)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cam, err := capture.OpenCamera(ctx, capture.CameraConfig{Source: loopbackDev, Width: w, Height: h, FPS: 15, FourCC: "BGR3"})
	if err != nil {
		t.Fatalf("open %s: %v", loopbackDev, err)
	}
	defer cam.Close()
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	sel := capture.NewSelector(cam, an, capture.SelectorConfig{FrameTimeout: 20 * time.Second})
	defer sel.Close()

	start := time.Now()
	got, err := sel.SelectFace(ctx, nil)
	if err != nil {
		t.Fatalf("SelectFace on %s: %v (camera health %+v)", loopbackDev, err, cam.Health())
	}
	t.Logf("face %v in a %v frame, score %.2f, %d frames analysed in %s", got.Face, got.Frame, got.Score,
		got.Frames, time.Since(start).Round(10*time.Millisecond))
	if got.Frame != image.Pt(w, h) {
		t.Errorf("frame %v, want %dx%d", got.Frame, w, h)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(got.JPEG))
	if err != nil || cfg.Width != 960 || cfg.Height != 720 {
		t.Errorf("crop JPEG: %dx%d, %v; want 960x720", cfg.Width, cfg.Height, err)
	}

	// The same picture analysed straight from the file, scaled like camfeed
	// does: the device must show the face in the same place.
	want := faceInFile(t, face, w, h)
	if iou := overlap(got.Face, want); iou < 0.5 {
		t.Errorf("face from the device %v, from the file %v: overlap %.2f, want >= 0.5", got.Face, want, iou)
	}
}

func faceInFile(t *testing.T, path string, w, h int) image.Rectangle {
	t.Helper()
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("cannot read %s", path)
	}
	sized := gocv.NewMat()
	defer sized.Close()
	gocv.Resize(img, &sized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	// One frame is enough to locate the face; the quality gates are the
	// selector's business.
	res, err := an.Analyze(sized)
	if err != nil || len(res.Candidates) == 0 {
		t.Fatalf("no face in %s itself: %v %+v", path, err, res)
	}
	return res.Candidates[0].Face.Box
}

// overlap is the intersection over union of two boxes.
func overlap(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := in.Dx() * in.Dy()
	return float64(ia) / float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()-ia)
}
