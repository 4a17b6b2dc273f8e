package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// writeTurnClip renders a head (synthetic face photo turned by synth.Turn)
// turning by peak radians (positive: nose towards the image's right) and
// writes it as an MJPG AVI at 15 fps.
func writeTurnClip(t *testing.T, peak float64) string {
	t.Helper()
	img, _ := synth.Face(1, 640, 480)
	defer img.Close()
	face := image.Rect(224, 115, 416, 365) // synth.Face's face ellipse (w 192, h 249)
	path := filepath.Join(t.TempDir(), "turn.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 15, 640, 480, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i < 30; i++ {
		x := math.Min(1, math.Max(0, (float64(i)/15-0.3)/0.6))
		synth.Turn(img, &frame, face, peak*(1-math.Cos(math.Pi*x))/2)
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestLivenessCommand(t *testing.T) {
	left := writeTurnClip(t, 20*math.Pi/180)
	tests := []struct {
		name     string
		args     []string
		code     int
		live     bool
		stderrIn string
	}{
		{"turns the asked way", []string{"--video", left, "--challenge", "left", "--json"}, exitOK, true, ""},
		{"turns the other way", []string{"--video", left, "--challenge", "right", "--json"}, exitNegative, false, ""},
		{"no challenge", []string{"--video", left}, exitError, false, "--challenge"},
		{"bad challenge", []string{"--video", left, "--challenge", "up"}, exitError, false, "not left or right"},
		{"no video", []string{"--challenge", "left"}, exitError, false, "--video is required"},
		{"missing file", []string{"--video", filepath.Join(t.TempDir(), "none.avi"), "--challenge", "left"}, exitError, false, "cannot read"},
		{"yunet without model", []string{"--video", left, "--challenge", "left", "--detector", "yunet"}, exitError, false, "needs --model"},
		{"unknown detector", []string{"--video", left, "--challenge", "left", "--detector", "dnn"}, exitError, false, "not haar or yunet"},
		// Until 2026-12-08 the model was ignored without a word.
		{"haar with a model", []string{"--video", left, "--challenge", "left", "--detector", "haar", "--model", "yunet.onnx"}, exitError, false, "--model is YuNet's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"liveness"}, tc.args...), nil, nil, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tc.code, out.String(), errOut.String())
			}
			if tc.stderrIn != "" && !strings.Contains(errOut.String(), tc.stderrIn) {
				t.Fatalf("stderr %q lacks %q", errOut.String(), tc.stderrIn)
			}
			if code == exitError {
				return
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("stdout is not one JSON object: %v: %s", err, out.String())
			}
			for _, k := range []string{"live", "score", "reasons", "cues"} {
				if _, ok := got[k]; !ok {
					t.Fatalf("JSON lacks %q: %s", k, out.String())
				}
			}
			if got["live"] != tc.live {
				t.Fatalf("live = %v, want %v: %s", got["live"], tc.live, out.String())
			}
		})
	}
}
