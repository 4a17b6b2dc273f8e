package capture

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetectorAuto: auto is YuNet only with the pinned model file, Haar
// otherwise, and the log says which and why.
func TestDetectorAuto(t *testing.T) {
	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.onnx")
	if err := os.WriteFile(damaged, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, model, want, why string
	}{
		{"no model path", "", DetectorHaar, "no YuNet model path"},
		{"not installed", filepath.Join(dir, "missing.onnx"), DetectorHaar, "no YuNet model installed (facegate model install yunet)"},
		{"damaged", damaged, DetectorHaar, "11 bytes with SHA-256 "},
	}
	if p := filepath.Join("..", "..", "shared", "models", YuNetModelFile); fileExists(p) {
		tests = append(tests, struct{ name, model, want, why string }{"installed", p, DetectorYuNet, "installed YuNet model verified"})
	} else {
		t.Logf("no shared YuNet model at %s: the YuNet case is skipped", p)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			a, err := NewAnalyzer(AnalyzerConfig{Detector: DetectorAuto, Model: tt.model, Logger: slog.New(slog.NewTextHandler(&log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Detector() != tt.want {
				t.Errorf("detector %s, want %s", a.Detector(), tt.want)
			}
			if !strings.Contains(log.String(), `msg="face detector" detector=`+tt.want+" configured=auto") || !strings.Contains(log.String(), tt.why) {
				t.Errorf("log %q, want detector %s and %q", log.String(), tt.want, tt.why)
			}
		})
	}
}

func TestVerifyYuNetFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), YuNetModelFile)
	if err := VerifyYuNetFile(p); err == nil {
		t.Fatal("a missing file verified")
	}
	if err := os.WriteFile(p, make([]byte, YuNetSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := VerifyYuNetFile(p); err == nil || !strings.Contains(err.Error(), "232589 bytes with SHA-256 ") {
		t.Fatalf("zeros of the right size: %v", err)
	}
}
