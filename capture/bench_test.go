package capture

import (
	"image"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// benchFrame is face.jpg composed into a w x h frame, face about 3/8 of
// the frame height.
func benchFrame(b *testing.B, w, h int) gocv.Mat {
	photoW := w / 2
	return faceFrame(b, w, h, photoW, image.Pt(w/4, h/8))
}

func benchAnalyze(b *testing.B, det string, w, h int) {
	cfg := AnalyzerConfig{Detector: det}
	if det == DetectorYuNet {
		cfg.Model = yunetModel(b)
	}
	a, err := NewAnalyzer(cfg)
	if err != nil {
		b.Skipf("detector %s: %v", det, err)
	}
	defer a.Close()
	frame := benchFrame(b, w, h)
	defer frame.Close()
	an, err := a.Analyze(frame)
	if err != nil || an.Best < 0 {
		b.Fatalf("benchmark frame has no acceptable face: %v %+v", err, an)
	}
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		a.Reset() // full detection every frame: the analysed-frame cost
		if _, err := a.Analyze(frame); err != nil {
			b.Fatal(err)
		}
	}
	ct.stop(b)
}

// BenchmarkAnalyzeFrame is one analysed frame (detection, confirmation,
// measurements) with a face in view, no tracking shortcut.
func BenchmarkAnalyzeFrame(b *testing.B) {
	for _, det := range []string{DetectorHaar, DetectorYuNet} {
		for _, sz := range []image.Point{{640, 480}, {1280, 720}, {1920, 1080}} {
			b.Run(det+"/"+itoa(sz.X)+"x"+itoa(sz.Y), func(b *testing.B) { benchAnalyze(b, det, sz.X, sz.Y) })
		}
	}
}

// BenchmarkTrackedFrame is an analysed 1280x720 frame while a face is
// tracked (detection near the last face, a full scan every few frames).
func BenchmarkTrackedFrame(b *testing.B) {
	a := newHaar(b, AnalyzerConfig{})
	frame := benchFrame(b, 1280, 720)
	defer frame.Close()
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := a.Analyze(frame); err != nil {
			b.Fatal(err)
		}
	}
	ct.stop(b)
}

// BenchmarkTrackedFrameYuNet is an analysed 1280x720 frame with YuNet
// while a big face stays in view (the coarse network input applies).
func BenchmarkTrackedFrameYuNet(b *testing.B) {
	a, err := NewAnalyzer(AnalyzerConfig{Detector: DetectorYuNet, Model: yunetModel(b)})
	if err != nil {
		b.Skipf("yunet: %v", err)
	}
	defer a.Close()
	frame := benchFrame(b, 1280, 720)
	defer frame.Close()
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := a.Analyze(frame); err != nil {
			b.Fatal(err)
		}
	}
	ct.stop(b)
}

// BenchmarkEmptySceneFrame is a 1280x720 frame of an unchanged scene with
// nobody in it (gocv's space_shuttle.jpg scaled up): mostly the thumbnail
// check, with the full detection every emptyRecheck frames amortised in.
func BenchmarkEmptySceneFrame(b *testing.B) {
	a := newHaar(b, AnalyzerConfig{})
	scene := readTestImage(b, gocvImage(b, "space_shuttle.jpg"))
	defer scene.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.Resize(scene, &frame, image.Pt(1280, 720), 0, 0, gocv.InterpolationLinear)
	if an, err := a.Analyze(frame); err != nil || len(an.Candidates) > 0 {
		b.Fatalf("scene is not empty: %v %+v", err, an)
	}
	ct := startCPU(b)
	skipped := 0
	for i := 0; i < b.N; i++ {
		an, err := a.Analyze(frame)
		if err != nil {
			b.Fatal(err)
		}
		if an.Skipped {
			skipped++
		}
	}
	ct.stop(b)
	b.ReportMetric(float64(skipped)/float64(b.N), "skipped/frame")
}

// BenchmarkCropEncode is the 960x720 crop and its JPEG from a 1280x720 and
// a 1920x1080 frame.
func BenchmarkCropEncode(b *testing.B) {
	for _, sz := range []image.Point{{1280, 720}, {1920, 1080}} {
		b.Run(itoa(sz.X)+"x"+itoa(sz.Y), func(b *testing.B) {
			frame := benchFrame(b, sz.X, sz.Y)
			defer frame.Close()
			face := faceIn(sz.X/2, image.Pt(sz.X/4, sz.Y/8))
			c := newCropper(DefaultJPEGQuality)
			defer c.close()
			ct := startCPU(b)
			for i := 0; i < b.N; i++ {
				if _, _, err := c.crop(frame, face); err != nil {
					b.Fatal(err)
				}
			}
			ct.stop(b)
		})
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

// cpuTimer reports CPU time (user+system, all threads, OpenCV's included)
// per operation as "cpu-ms/op": the budgets are CPU time, and wall time on
// a shared machine says little.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: cpuNow()}
}

func (c *cpuTimer) stop(b *testing.B) {
	used := cpuNow() - c.start
	b.ReportMetric(float64(used)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
