package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestCropRefusesFIFOsAndHugeImages: a FIFO is refused at once (it used to
// block in OpenCV's open, deaf to SIGTERM), and an image whose header
// declares more pixels than --max-pixels is refused before decoding.
func TestCropRefusesFIFOsAndHugeImages(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() { // releases an open stuck waiting for a writer
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	big := filepath.Join(dir, "big.png")
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[16:20], 20000) // IHDR width, height and CRC
	binary.BigEndian.PutUint32(b[20:24], 20000)
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	if err := os.WriteFile(big, b, 0o600); err != nil {
		t.Fatal(err)
	}
	face := gocvSample(t, "face.jpg")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fifo image", []string{"--image", fifo}, fifo + " is not a regular file (a FIFO)"},
		{"fifo video", []string{"--video", fifo}, fifo + " is not a regular file (a FIFO)"},
		{"device", []string{"--image", "/dev/zero"}, "/dev/zero is not a regular file (a character device)"},
		{"20000x20000 png", []string{"--image", big}, "is 20000x20000, 400.0 megapixels, above the limit of 40.0 megapixels"},
		{"below --max-pixels", []string{"--image", face, "--max-pixels", "1000"}, "is 640x480, 0.3 megapixels, above the limit of 1000 pixels"},
		{"bad --max-pixels", []string{"--image", face, "--max-pixels", "0"}, "--max-pixels 0 must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				code   int
				stderr string
			}
			done := make(chan result, 1)
			go func() {
				code, _, stderr := cropCmd(t, append(tc.args, "--out", filepath.Join(dir, "c.jpg"))...)
				done <- result{code, stderr}
			}()
			select {
			case r := <-done:
				if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
					t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("crop blocked")
			}
		})
	}
}

// TestCropStopsWhenInterrupted: SIGINT/SIGTERM (the context) end a crop of
// a long video at once.
func TestCropStopsWhenInterrupted(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "long.avi")
	photo := gocv.IMRead(gocvSample(t, "face.jpg"), gocv.IMReadColor)
	defer photo.Close()
	vw, err := gocv.VideoWriterFile(clip, "MJPG", 15, 640, 480, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ { // several seconds of analysis
		vw.Write(photo)
	}
	vw.Close()
	cfg := filepath.Join(dir, "empty.yaml")
	os.WriteFile(cfg, nil, 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"crop", "--config", cfg, "--video", clip, "--out", filepath.Join(dir, "c.jpg")},
			map[string]string{}, strings.NewReader(""), &stdout, &stderr)
	}()
	select {
	case code := <-done:
		t.Fatalf("400 frames analysed before the interrupt (exit %d): make the clip longer", code)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	interrupted := time.Now()
	select {
	case code := <-done:
		if code != exitError || !strings.Contains(stderr.String(), "facegate crop: interrupted") {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		t.Logf("stopped %v after the interrupt", time.Since(interrupted).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatal("crop went on for 2 s after the interrupt")
	}
}
