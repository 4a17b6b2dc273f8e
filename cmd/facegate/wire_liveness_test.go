package main

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/liveness"
)

// With detector auto (the default), the liveness checker resolves the
// detector as the selector does: YuNet, and its landmarks, once the model
// is installed; Haar without it.
func TestLivenessCheckerFollowsDetectorAuto(t *testing.T) {
	src := filepath.Join(sharedModels, capture.YuNetModelFile)
	model, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("no shared YuNet model (%v)", err)
	}
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.Capture.Detector = capture.DetectorAuto
	check := func(want bool) {
		t.Helper()
		l, err := newLivenessChecker(nil, analyzerOptions(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.yunet != want {
			t.Fatalf("liveness uses YuNet landmarks %v, want %v (analyzer resolved %q)", l.yunet, want, l.an.Detector())
		}
	}
	check(false)
	dest := config.InstalledModelPath(cfg.StateDir)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, model, 0o644); err != nil {
		t.Fatal(err)
	}
	check(true)
}

// fakeFinder answers Face with fixed values.
type fakeFinder struct {
	box image.Rectangle
	ok  bool
	err error
}

func (f fakeFinder) Face(gocv.Mat) (image.Rectangle, *liveness.Landmarks, bool, error) {
	return f.box, nil, f.ok, f.err
}
func (fakeFinder) Landmarks(gocv.Mat, image.Rectangle) (*liveness.Landmarks, error) { return nil, nil }

func TestFallbackFinder(t *testing.T) {
	frame := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer frame.Close()
	chosen, found := image.Rect(100, 100, 300, 320), image.Rect(110, 104, 306, 330)
	for _, tc := range []struct {
		name  string
		inner fakeFinder
		box   image.Rectangle
		want  image.Rectangle
		ok    bool
		err   error
	}{
		{"the detector finds the chosen face", fakeFinder{box: found, ok: true}, chosen, found, true, nil},
		{"the detector finds nothing near it: the chosen box", fakeFinder{}, chosen, chosen, true, nil},
		{"the chosen box is out of the frame", fakeFinder{}, image.Rect(500, 300, 700, 520), image.Rectangle{}, false, nil},
		{"the chosen face is cut by the edge: no fallback", fakeFinder{err: liveness.ErrFaceCut}, chosen, image.Rectangle{}, false, liveness.ErrFaceCut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok, err := fallbackFinder{inner: tc.inner, box: tc.box}.Face(frame)
			if !errors.Is(err, tc.err) || ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("Face = %v, %v, %v; want %v, %v, %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
	// The daemon's finder looks for the chosen face, not the best one.
	f := startFinder(nil, true, chosen)
	if af, ok := f.inner.(liveness.AnalyzerFinder); !ok || af.Near != chosen || f.box != chosen || !af.YuNet {
		t.Fatalf("startFinder = %+v, want an AnalyzerFinder near %v", f, chosen)
	}
}
