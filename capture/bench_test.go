package capture

import (
	"image"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/cputime"
)

// TestMain runs the package's tests and benchmarks with OpenCV's threads
// set as the daemon sets them.
func TestMain(m *testing.M) {
	SetOpenCVThreads(DefaultOpenCVThreads)
	os.Exit(m.Run())
}

// benchScene is a w x h frame of a real, textured scene with nobody in it
// (gocv's fisheye_sample.jpg, a 2592x1944 photo, scaled): a detector works
// harder on texture than on a plain wall, so the numbers are not flattered.
func benchScene(b testing.TB, w, h int) gocv.Mat {
	photo := readTestImage(b, gocvImage(b, "fisheye_sample.jpg"))
	defer photo.Close()
	scene := gocv.NewMat()
	gocv.Resize(photo, &scene, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	return scene
}

// benchFrame is face.jpg (the person: head and shoulders) composed into
// benchScene, the photo half the frame wide, the face about 3/8 of the
// frame height.
func benchFrame(b testing.TB, w, h int) gocv.Mat {
	scene := benchScene(b, w, h)
	defer scene.Close()
	person := readTestImage(b, gocvImage(b, "face.jpg"))
	defer person.Close()
	return composeOn(scene, person, w/2, image.Pt(w/4, h/8))
}

// composeOn copies photo, scaled to photoW wide, onto a copy of scene at at.
func composeOn(scene, photo gocv.Mat, photoW int, at image.Point) gocv.Mat {
	out := scene.Clone()
	scaled := gocv.NewMat()
	defer scaled.Close()
	gocv.Resize(photo, &scaled, image.Pt(photoW, photo.Rows()*photoW/photo.Cols()), 0, 0, gocv.InterpolationArea)
	dst := image.Rect(at.X, at.Y, at.X+scaled.Cols(), at.Y+scaled.Rows()).Intersect(image.Rect(0, 0, out.Cols(), out.Rows()))
	if dst.Empty() {
		return out
	}
	part := scaled.Region(dst.Sub(at))
	defer part.Close()
	region := out.Region(dst)
	defer region.Close()
	part.CopyTo(&region)
	return out
}

func newBenchAnalyzer(b *testing.B, det string) *Analyzer {
	cfg := AnalyzerConfig{Detector: det}
	if det == DetectorYuNet {
		cfg.Model = yunetModel(b)
	}
	a, err := NewAnalyzer(cfg)
	if err != nil {
		b.Skipf("detector %s: %v", det, err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// benchAnalyze is the cold case: every frame is analysed as the first
// one (no learnt empty scene, no tracked face), so the whole frame is
// searched.
func benchAnalyze(b *testing.B, det string, w, h int) {
	a := newBenchAnalyzer(b, det)
	frame := benchFrame(b, w, h)
	defer frame.Close()
	an, err := a.Analyze(frame)
	if err != nil || an.Best < 0 {
		b.Fatalf("benchmark frame has no acceptable face: %v %+v", err, an)
	}
	ct := cputime.Start(b)
	for i := 0; i < b.N; i++ {
		a.Reset()
		if _, err := a.Analyze(frame); err != nil {
			b.Fatal(err)
		}
	}
	ct.ReportPerOp()
}

// BenchmarkAnalyzeFrame is one analysed frame (detection, confirmation,
// measurements) with a face in view, searched whole: the first frame
// after start or after a camera reconnect.
func BenchmarkAnalyzeFrame(b *testing.B) {
	for _, det := range []string{DetectorHaar, DetectorYuNet} {
		for _, sz := range []image.Point{{640, 480}, {1280, 720}, {1920, 1080}} {
			b.Run(det+"/"+itoa(sz.X)+"x"+itoa(sz.Y), func(b *testing.B) { benchAnalyze(b, det, sz.X, sz.Y) })
		}
	}
}

// perDetector runs body for each detector on a 1280x720 empty scene and
// the same scene with a person in it.
func perDetector(b *testing.B, body func(b *testing.B, a *Analyzer, scene, person gocv.Mat)) {
	for _, det := range []string{DetectorHaar, DetectorYuNet} {
		b.Run(det, func(b *testing.B) {
			a := newBenchAnalyzer(b, det)
			scene := benchScene(b, 1280, 720)
			defer scene.Close()
			person := benchFrame(b, 1280, 720)
			defer person.Close()
			body(b, a, scene, person)
		})
	}
}

// learnScene analyses the empty scene until it is learnt.
func learnScene(b testing.TB, a *Analyzer, scene gocv.Mat) {
	for i := 0; i < bgEmptyFrames; i++ {
		a.forgetFaces() // analyse the scene, never skip it
		if an, err := a.Analyze(scene); err != nil || len(an.Candidates) > 0 {
			b.Fatalf("scene is not empty: %v %+v", err, an)
		}
	}
}

// BenchmarkArrivalFrame is the analysed 1280x720 frame in which a person
// appears in front of the gate: the empty scene has been seen (and
// learnt), the person covers a quarter of the frame.
func BenchmarkArrivalFrame(b *testing.B) {
	perDetector(b, func(b *testing.B, a *Analyzer, scene, person gocv.Mat) {
		learnScene(b, a, scene)
		ct := cputime.Start(b)
		for i := 0; i < b.N; i++ {
			a.forgetFaces()
			if an, err := a.Analyze(person); err != nil || an.Best < 0 {
				b.Fatalf("no acceptable face: %v %+v", err, an)
			}
		}
		ct.ReportPerOp()
	})
}

// BenchmarkTrackedFrame is an analysed 1280x720 frame while a face is
// tracked (detection near the last face, a periodic full scan for a
// second person amortised in); with YuNet, the coarse network input.
func BenchmarkTrackedFrame(b *testing.B) {
	perDetector(b, func(b *testing.B, a *Analyzer, _, person gocv.Mat) {
		ct := cputime.Start(b)
		for i := 0; i < b.N; i++ {
			if _, err := a.Analyze(person); err != nil {
				b.Fatal(err)
			}
		}
		ct.ReportPerOp()
	})
}

// BenchmarkSessionFrames is what one person costs, frame by frame, where
// the selection watches the scene between people (a fixed identity): the
// empty scene (learnt, then skipped), then the 9 frames of a 600 ms window
// at 15 fps with the person in view (an arrival, then tracked frames). It
// reports the mean and the largest CPU time of the person's frames, timed
// on the calling thread (OpenCV runs on it: one thread).
func BenchmarkSessionFrames(b *testing.B) {
	perDetector(b, func(b *testing.B, a *Analyzer, scene, person gocv.Mat) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var sum, most time.Duration
		n := 0
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.forgetFaces()
			for j := 0; j < bgEmptyFrames+2; j++ {
				if _, err := a.Analyze(scene); err != nil {
					b.Fatal(err)
				}
			}
			for j := 0; j < 9; j++ {
				t0 := threadCPU()
				an, err := a.Analyze(person)
				d := threadCPU() - t0
				if err != nil || an.Best < 0 {
					b.Fatalf("frame %d of the person: %v %+v", j, err, an)
				}
				sum += d
				most = max(most, d)
				n++
			}
		}
		b.ReportMetric(float64(sum)/float64(time.Millisecond)/float64(n), "mean-cpu-ms/frame")
		b.ReportMetric(float64(most)/float64(time.Millisecond), "max-cpu-ms/frame")
	})
}

// threadCPU is the calling thread's CPU time (lock the goroutine to it).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
	ct := cputime.Start(b)
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
	ct.ReportPerOp()
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
			ct := cputime.Start(b)
			for i := 0; i < b.N; i++ {
				if _, _, err := c.crop(frame, face); err != nil {
					b.Fatal(err)
				}
			}
			ct.ReportPerOp()
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

// BenchmarkBadgeSessionFrames is one person's selection started by a badge
// read with the person already in view, the 9 frames of a 600 ms window.
// cold: nothing watched the scene before (the selection's first frame is a
// whole-frame scan); watched: Selector.Watch learnt the empty scene and
// analysed the person's arrival before the badge was read (that arrival is
// reported apart, as watch-arrival, and in the mean with it), so the
// selection starts tracked. Thread CPU: mean and first frame of the
// selection.
func BenchmarkBadgeSessionFrames(b *testing.B) {
	perDetector(b, func(b *testing.B, a *Analyzer, scene, person gocv.Mat) {
		for _, watched := range []bool{false, true} {
			b.Run(map[bool]string{false: "cold", true: "watched"}[watched], func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var sum, first, arrival time.Duration
				n := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					a.Reset()
					if watched {
						learnScene(b, a, scene)
						a.forgetFaces()
						t0 := threadCPU()
						if _, err := a.Analyze(person); err != nil {
							b.Fatal(err)
						}
						arrival += threadCPU() - t0
					}
					for j := 0; j < 9; j++ {
						t0 := threadCPU()
						an, err := a.Analyze(person)
						d := threadCPU() - t0
						if err != nil || an.Best < 0 {
							b.Fatalf("frame %d of the person: %v %+v", j, err, an)
						}
						if j == 0 {
							first += d
						}
						sum += d
						n++
					}
				}
				ms := func(d time.Duration, k int) float64 { return float64(d) / float64(time.Millisecond) / float64(k) }
				b.ReportMetric(ms(sum, n), "mean-cpu-ms/frame")
				b.ReportMetric(ms(first, b.N), "first-cpu-ms")
				if watched {
					b.ReportMetric(ms(arrival, b.N), "watch-arrival-cpu-ms")
					b.ReportMetric(ms(sum+arrival, n+b.N), "mean-with-arrival-cpu-ms/frame")
				}
			})
		}
	})
}
