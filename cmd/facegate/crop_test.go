package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// cropCmd runs `facegate crop` in-process with an empty config file (the
// defaults), so that a /etc/facegate on the machine does not matter.
func cropCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	full := append([]string{"crop", "--config", cfg}, args...)
	code := run(context.Background(), full, map[string]string{}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func gocvSample(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
	if err != nil {
		t.Skipf("gocv module folder not found: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "images", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("gocv sample %s: %v", p, err)
	}
	return p
}

func TestCropImageJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "crop.jpg")
	code, stdout, stderr := cropCmd(t, "--image", gocvSample(t, "face.jpg"), "--json", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %q", stdout)
	}
	for _, k := range []string{"found", "face", "crop", "score", "quality"} {
		if _, ok := r[k]; !ok {
			t.Errorf("key %q missing in %s", k, stdout)
		}
	}
	if _, ok := r["frame"]; ok {
		t.Error("frame given for an image")
	}
	face := r["face"].(map[string]any)
	for _, k := range []string{"x", "y", "w", "h"} {
		if _, ok := face[k]; !ok {
			t.Errorf("face has no %q", k)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds() != image.Rect(0, 0, 960, 720) {
		t.Fatalf("output JPEG: %v %v", err, img)
	}
}

func TestCropVideoJSON(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.avi")
	writeClip(t, clip, gocvSample(t, "face.jpg"))
	code, stdout, stderr := cropCmd(t, "--video", clip, "--json", "--out", filepath.Join(dir, "c.jpg"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Found bool `json:"found"`
		Frame *int `json:"frame"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || !r.Found || r.Frame == nil || *r.Frame < 3 {
		t.Fatalf("%v %s", err, stdout)
	}
}

func TestCropNoFace(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.png")
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 480, 640, gocv.MatTypeCV8UC3)
	gocv.IMWrite(blank, m)
	m.Close()
	code, stdout, _ := cropCmd(t, "--image", blank, "--json", "--out", filepath.Join(dir, "c.jpg"))
	if code != exitNegative {
		t.Fatalf("exit %d, want 1", code)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r["found"] != false || r["reasons"] == nil {
		t.Fatalf("%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.jpg")); err == nil {
		t.Fatal("a crop was written with no face")
	}
}

func TestCropErrors(t *testing.T) {
	notImage := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(notImage, []byte("not a picture"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", nil, "exactly one of --image or --video"},
		{"both", []string{"--image", "a.jpg", "--video", "b.mp4"}, "exactly one"},
		{"missing file", []string{"--image", "/nonexistent/x.jpg"}, "cannot read /nonexistent/x.jpg"},
		{"not an image", []string{"--image", notImage}, "not an image"},
		{"bad detector", []string{"--image", notImage, "--detector", "hog"}, "not auto, haar or yunet"},
		{"yunet without model", []string{"--image", notImage, "--detector", "yunet"}, "needs --model"},
		{"bad model", []string{"--image", notImage, "--model", notImage}, "YuNet model"},
		{"stray argument", []string{"--image", notImage, "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cropCmd(t, tt.args...)
			if code != exitError || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// writeClip writes a short MJPG clip: an empty frame, then the photo.
func writeClip(t *testing.T, path, photoPath string) {
	t.Helper()
	photo := gocv.IMRead(photoPath, gocv.IMReadColor)
	defer photo.Close()
	vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 640, 480, true)
	if err != nil {
		t.Fatal(err)
	}
	defer vw.Close()
	blank := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer blank.Close()
	for i := 0; i < 3; i++ {
		vw.Write(blank)
	}
	for i := 0; i < 3; i++ {
		vw.Write(photo)
	}
}
