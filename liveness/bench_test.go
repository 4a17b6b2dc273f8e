package liveness

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/cputime"
	"github.com/facegate/facegate/liveness/synth"
)

// BenchmarkAddFrame is the CPU cost of one analysed 1280x720 frame
// (budget: 15 ms on the target machine); BenchmarkResult the one-off
// analysis at the end of a challenge.
func BenchmarkAddFrame(b *testing.B) {
	daemonThreads(b)
	img, face := synth.Face(1, 1280, 720)
	defer img.Close()
	turned := gocv.NewMat()
	defer turned.Close()
	synth.Turn(img, &turned, face, 0.2)
	c, err := NewChecker(Config{Window: time.Hour}, ModeChallenge, Left)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(img, face, nil, 0); err != nil {
		b.Fatal(err)
	}
	frames := []gocv.Mat{turned, img}
	b.ResetTimer()
	cpu := cputime.Start(b)
	for i := 0; i < b.N; i++ {
		if len(c.frames) > 40 { // a challenge is ~40 frames; keep memory flat
			for _, f := range c.frames[1:] {
				f.img.Close()
			}
			c.frames = c.frames[:1]
		}
		if err := c.Add(frames[i%2], nil, time.Duration(i+1)*time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
	cpu.ReportPerOp()
}

func BenchmarkResult(b *testing.B) {
	daemonThreads(b)
	c := turnedChecker(b)
	defer c.Close()
	b.ResetTimer()
	cpu := cputime.Start(b)
	for i := 0; i < b.N; i++ {
		c.fits = nil // a verdict measured afresh, as the first one of a check
		if _, err := c.Result(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.ReportPerOp()
}

// turnedChecker is a checker fed a 38-frame synthetic turn at 15 fps (the
// frames of a challenge that ran its whole window).
func turnedChecker(b *testing.B) *Checker {
	b.Helper()
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		b.Fatal(err)
	}
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i < 38; i++ {
		synth.Turn(img, &frame, face, ramp(time.Duration(i)*time.Second/15, 300*time.Millisecond, 600*time.Millisecond, 0.3))
		at := time.Duration(i) * time.Second / 15
		if i == 0 {
			err = c.Start(frame, face, nil, at)
		} else {
			err = c.Add(frame, nil, at)
		}
		if err != nil {
			c.Close()
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkFinderLandmarks is what the check adds per frame with YuNet:
// one detection for the landmarks (Haar adds nothing: it has none). It
// needs ../shared's model and skips without it.
func BenchmarkFinderLandmarks(b *testing.B) {
	daemonThreads(b)
	if _, err := os.Stat(yunetModel); err != nil {
		b.Skipf("no YuNet model: %v", err)
	}
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorYuNet, Model: yunetModel, AllowMultiple: true})
	if err != nil {
		b.Fatal(err)
	}
	defer an.Close()
	img, face := synth.Face(1, 1280, 720)
	defer img.Close()
	f := AnalyzerFinder{An: an, YuNet: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Landmarks(img, face); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRecording is the whole check's CPU per analysed frame
// (face finder, tracking, the early-stop tests and the verdict) on turns
// of the real recording in ../shared (skips without it): the number the
// 15 ms budget is about. Frames are decoded before the timer starts.
func BenchmarkCheckRecording(b *testing.B) {
	daemonThreads(b)
	if _, err := os.Stat(filepath.Join(sharedFaces, "franck_talking_head.mp4")); err != nil {
		b.Skipf("no recording: %v", err)
	}
	// Turn windows found by the evaluation (start s, the side he turned
	// to): three it accepts, one it refuses after watching the whole window.
	windows := []struct {
		at  float64
		dir Direction
	}{{9.5, Right}, {78.4, Left}, {158.2, Right}, {124.4, Right}}
	v, err := OpenVideo(filepath.Join(sharedFaces, "franck_talking_head.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	n := int(DefaultConfig.Window.Seconds()*v.FPS()) + 1
	clips := make([][]gocv.Mat, len(windows))
	for i, w := range windows {
		v.Seek(int(w.at * v.FPS()))
		for len(clips[i]) < n {
			m := gocv.NewMat()
			_, err := v.Next(context.Background(), &m)
			if err != nil {
				m.Close()
				b.Fatal(err)
			}
			clips[i] = append(clips[i], asCameraFrame(m))
			m.Close()
		}
	}
	defer func() {
		for _, c := range clips {
			closeAll(c)
		}
	}()
	for _, det := range []string{capture.DetectorHaar, capture.DetectorYuNet} {
		b.Run(det, func(b *testing.B) {
			finder, done := newFinder(b, det)
			defer done()
			an := finder.(AnalyzerFinder).An
			frames := 0
			b.ResetTimer()
			cpu := cputime.Start(b)
			for i := 0; i < b.N; i++ {
				k := i % len(windows)
				an.Reset()
				src := &MatFrames{Mats: clips[k], FPS: v.FPS()}
				r, err := Check(context.Background(), Config{}, ModeChallenge, windows[k].dir, finder, src)
				if err != nil {
					b.Fatal(err)
				}
				frames += r.Cues.Frames
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(frames), "ms/frame")
			b.ReportMetric(cpu.Milliseconds()/float64(frames), "cpu-ms/frame")
		})
	}
}

// BenchmarkFirstFrame is the check's work on its first frame at a gate,
// where it also compares the face with the chosen one (its detail and
// its texture, 27 boxes): the gate's face finder starting from the chosen
// face (found in the same frame), NewChecker and Start, on a franck frame
// scaled into 1280×720 (skips without ../shared). The budget is its CPU
// (cpu-ms/op), with OpenCV's one thread, on an analyzer reset as the
// daemon resets it before each check.
func BenchmarkFirstFrame(b *testing.B) {
	daemonThreads(b)
	if _, err := os.Stat(filepath.Join(sharedFaces, "franck_talking_head.mp4")); err != nil {
		b.Skipf("no recording: %v", err)
	}
	v, err := OpenVideo(filepath.Join(sharedFaces, "franck_talking_head.mp4"))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	v.Seek(int(9.5 * v.FPS()))
	m := gocv.NewMat()
	defer m.Close()
	if _, err := v.Next(context.Background(), &m); err != nil {
		b.Fatal(err)
	}
	frame := asCameraFrame(m)
	defer frame.Close()
	for _, det := range []string{capture.DetectorHaar, capture.DetectorYuNet} {
		b.Run(det, func(b *testing.B) {
			finder, done := newFinder(b, det)
			defer done()
			chosen, _, ok, err := finder.Face(frame)
			if err != nil || !ok {
				b.Fatalf("no face: %v", err)
			}
			cfg := Config{StartDetail: capture.FaceDetail(frame, chosen), StartFace: capture.FaceSignature(frame, chosen)}
			an := finder.(AnalyzerFinder).An
			cpu := cputime.Start(b)
			for b.Loop() {
				an.Reset() // as the daemon does before each check
				box, lm, ok, err := GateFinder(an, det == capture.DetectorYuNet, chosen).Face(frame)
				if err != nil || !ok {
					b.Fatalf("no face: %v", err)
				}
				c, err := NewChecker(cfg, ModeChallenge, Left)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Start(frame, box, lm, 0); err != nil {
					b.Fatal(err)
				}
				if c.startFaceDistance > maxStartFaceDistance || c.startSharpness < minStartSharpness {
					b.Fatalf("the same face judged changed: distance %.2f, sharpness %.2f", c.startFaceDistance, c.startSharpness)
				}
				c.Close()
			}
			cpu.ReportPerOp()
		})
	}
}

// daemonThreads runs b with OpenCV's threads as the daemon sets them
// (capture.DefaultOpenCVThreads); the tests and the evaluation keep every
// core.
func daemonThreads(b *testing.B) {
	prev := capture.OpenCVThreads()
	capture.SetOpenCVThreads(capture.DefaultOpenCVThreads)
	b.Cleanup(func() { capture.SetOpenCVThreads(prev) })
}

// asCameraFrame scales a 360x288 recording frame by 2.5 into the middle of
// a 1280x720 frame, the size the daemon's camera delivers.
func asCameraFrame(m gocv.Mat) gocv.Mat {
	out := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 720, 1280, m.Type())
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(m, &big, image.Pt(m.Cols()*5/2, m.Rows()*5/2), 0, 0, gocv.InterpolationLinear)
	x := (1280 - big.Cols()) / 2
	roi := out.Region(image.Rect(x, 0, x+big.Cols(), big.Rows()))
	big.CopyTo(&roi)
	roi.Close()
	return out
}

// repeatFrames hands out the same frame forever.
type repeatFrames struct{ m gocv.Mat }

func (r repeatFrames) Next(_ context.Context, dst *gocv.Mat) (time.Duration, error) {
	r.m.CopyTo(dst)
	return 0, nil
}

// BenchmarkClipRecorder is what audit.save_liveness_clips adds to each
// 1280x720 frame of a check: the copy handed to the encoder, and the MJPG
// encoding and write beside the check (the loop runs at the encoder's pace).
func BenchmarkClipRecorder(b *testing.B) {
	daemonThreads(b)
	img, _ := synth.Face(1, 1280, 720)
	defer img.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	rec := NewClipRecorder(repeatFrames{img}, b.TempDir(), 15, Left, time.Now())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rec.Next(context.Background(), &dst); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := rec.Err(); err != nil {
		b.Fatal(err)
	}
	rec.Abort()
}

// BenchmarkTurn is the turn a kiosk's meter shows after each frame
// (CheckWatching), at the end of a 38-frame challenge (the most frames it
// reads): "series" computes the frame's yaw series, as the first of Turn
// and the stop rule (Done) to ask for it does; "shared" is the other,
// which reads it.
func BenchmarkTurn(b *testing.B) {
	daemonThreads(b)
	c := turnedChecker(b)
	defer c.Close()
	for _, fresh := range []bool{true, false} {
		b.Run(map[bool]string{true: "series", false: "shared"}[fresh], func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if fresh {
					c.series = nil // a new frame
				}
				if _, ok := c.Turn(); !ok {
					b.Fatal("no turn")
				}
			}
		})
	}
}

// BenchmarkStartFaceDistance: once per challenge, on its first frame (27
// signatures of a 300 px face in a 1280×720 frame).
func BenchmarkStartFaceDistance(b *testing.B) {
	daemonThreads(b)
	img, face := synth.Face(1, 1280, 720)
	defer img.Close()
	chosen := capture.FaceSignature(img, face)
	for b.Loop() {
		startFaceDistance(img, face, chosen)
	}
}
