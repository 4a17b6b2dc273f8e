package liveness

import (
	"os"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness/synth"
)

// BenchmarkAddFrame is the CPU cost of one analysed 1280x720 frame
// (budget: 15 ms on the target machine); BenchmarkResult the one-off
// analysis at the end of a challenge.
func BenchmarkAddFrame(b *testing.B) {
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
	for i := 0; i < b.N; i++ {
		if len(c.frames) > 40 { // a challenge is ~40 frames; keep memory flat
			c.frames = c.frames[:1]
		}
		if err := c.Add(frames[i%2], nil, time.Duration(i+1)*time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResult(b *testing.B) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
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
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Result(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinderLandmarks is what the check adds per frame with YuNet:
// one detection for the landmarks (Haar adds nothing: it has none). It
// needs ../shared's model and skips without it.
func BenchmarkFinderLandmarks(b *testing.B) {
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
