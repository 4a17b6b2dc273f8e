package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
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
