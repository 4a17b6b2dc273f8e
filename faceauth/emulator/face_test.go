package emulator

import (
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"
)

var (
	gocvDirOnce sync.Once
	gocvDir     string
)

// gocvImage is the path of a sample picture of the gocv module (a declared
// dependency, so always in the module cache when the tests build).
func gocvImage(t testing.TB, name string) string {
	gocvDirOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
		if err == nil {
			gocvDir = strings.TrimSpace(string(out))
		}
	})
	if gocvDir == "" {
		t.Skip("gocv module directory not found (go list -m gocv.io/x/gocv failed)")
	}
	return filepath.Join(gocvDir, "images", name)
}

// sharedFaces is ../shared/testdata/faces beside the repository, or skips.
func sharedFaces(t testing.TB) string {
	d := filepath.Join("..", "..", "..", "shared", "testdata", "faces")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("developer face set not present (%s): %v", d, err)
	}
	return d
}

// jpegOf re-encodes a region of an image file, optionally scaled and
// rotated, as JPEG.
func jpegOf(t testing.TB, path string, region image.Rectangle, scale, angle float64) []byte {
	t.Helper()
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("cannot read %s", path)
	}
	if region.Empty() {
		region = image.Rect(0, 0, img.Cols(), img.Rows())
	}
	roi := img.Region(region)
	defer roi.Close()
	out := gocv.NewMat()
	defer out.Close()
	roi.CopyTo(&out)
	if scale != 1 {
		gocv.Resize(out, &out, image.Point{}, scale, scale, gocv.InterpolationArea)
	}
	if angle != 0 {
		rotate(out, &out, angle)
	}
	return encodeJPEG(t, out)
}

func encodeJPEG(t testing.TB, m gocv.Mat) []byte {
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, m)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

// blankJPEG is a plain grey picture: an image without a face.
func blankJPEG(t testing.TB, w, h int) []byte {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), h, w, gocv.MatTypeCV8UC3)
	defer m.Close()
	gocv.Circle(&m, image.Pt(w/2, h/2), h/4, color.RGBA{200, 180, 160, 0}, -1)
	return encodeJPEG(t, m)
}

func newTestMatcher(t testing.TB) *matcher {
	m, err := newMatcher("")
	if err != nil {
		t.Skipf("Haar cascades not installed: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

func mustAnalyse(t testing.TB, m *matcher, name string, b []byte, ref bool) *faceFeatures {
	t.Helper()
	f, err := m.analyse(b, ref)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// TestSimilarityGocvImages: the same photo cropped, scaled, shifted or
// rolled scores high; the same man in another photo (face-detect.jpg shows
// him again, in a hoodie) scores high; another man scores low.
func TestSimilarityGocvImages(t *testing.T) {
	m := newTestMatcher(t)
	face := gocvImage(t, "face.jpg")
	ref := mustAnalyse(t, m, "face.jpg", jpegOf(t, face, image.Rectangle{}, 1, 0), true)
	tests := []struct {
		name     string
		img      []byte
		min, max float64
	}{
		{"crop", jpegOf(t, face, image.Rect(120, 60, 580, 470), 1, 0), 90, 100},
		{"rescaled 0.6", jpegOf(t, face, image.Rectangle{}, 0.6, 0), 90, 100},
		{"shifted and enlarged", jpegOf(t, face, image.Rect(40, 20, 640, 480), 1.3, 0), 90, 100},
		{"rolled 25 degrees", jpegOf(t, face, image.Rectangle{}, 1, 25), 80, 100},
		{"same man, other photo", jpegOf(t, gocvImage(t, "face-detect.jpg"), image.Rectangle{}, 1, 0), 75, 100},
		{"another man (distortion.jpg)", jpegOf(t, gocvImage(t, "distortion.jpg"), image.Rectangle{}, 1, 0), 0, 30},
	}
	for _, tc := range tests {
		probe := mustAnalyse(t, m, tc.name, tc.img, false)
		s := similarity(ref, probe)
		t.Logf("face.jpg vs %-30s distance %.3f similarity %5.1f", tc.name, distance(ref, probe), s)
		if s < tc.min || s > tc.max {
			t.Errorf("%s: similarity %.1f not within %g..%g", tc.name, s, tc.min, tc.max)
		}
	}
}

func TestAnalyseAfterClose(t *testing.T) {
	m := newTestMatcher(t)
	m.Close()
	m.Close() // twice is harmless
	if _, err := m.analyse(blankJPEG(t, 320, 240), false); err != errClosed {
		t.Fatalf("err %v", err)
	}
}

func TestAnalyseErrors(t *testing.T) {
	m := newTestMatcher(t)
	for name, tc := range map[string]struct {
		img  []byte
		want error
	}{
		"text":        {[]byte("this is not an image"), errNotImage},
		"empty":       {nil, errNotImage},
		"truncated":   {jpegOf(t, gocvImage(t, "face.jpg"), image.Rectangle{}, 1, 0)[:200], errNotImage},
		"tiny":        {blankJPEG(t, 20, 20), errTooSmall},
		"blank":       {blankJPEG(t, 640, 480), errNoFace},
		"chessboard":  {jpegOf(t, gocvImage(t, "chessboard_4x6.png"), image.Rectangle{}, 1, 0), errNoFace},
		"gocv logo":   {jpegOf(t, gocvImage(t, "gocvlogo.jpg"), image.Rectangle{}, 1, 0), errNoFace},
		"space_shutl": {jpegOf(t, gocvImage(t, "space_shuttle.jpg"), image.Rectangle{}, 1, 0), errNoFace},
	} {
		_, err := m.analyse(tc.img, false)
		if err != tc.want {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
}

// TestSimilaritySharedFaces calibrates on the developer face set: same
// person high, different people low, no face where there is none.
func TestSimilaritySharedFaces(t *testing.T) {
	dir := sharedFaces(t)
	m := newTestMatcher(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	webcam := mustAnalyse(t, m, "webcam", jpegOf(t, p("frontal_webcam_gocv.jpg"), image.Rectangle{}, 1, 0), true)
	obama := mustAnalyse(t, m, "obama", jpegOf(t, p("multi_two_people.jpg"), image.Rect(0, 0, 560, 661), 1, 0), true)
	astronaut := mustAnalyse(t, m, "astronaut", jpegOf(t, p("frontal_astronaut.png"), image.Rectangle{}, 1, 0), true)
	frame := videoFrame(t, p("synthetic_face_sequence_1280x720.avi"), 55)
	pairs := []struct {
		name string
		ref  *faceFeatures
		img  []byte
		same bool
	}{
		{"webcam vs tilted35 (same photo rolled)", webcam, jpegOf(t, p("tilted35_webcam_gocv_DERIVED.jpg"), image.Rectangle{}, 1, 0), true},
		{"webcam vs synthetic video frame 55", webcam, frame, true},
		{"webcam vs astronaut", webcam, jpegOf(t, p("frontal_astronaut.png"), image.Rectangle{}, 1, 0), false},
		{"webcam vs obama", webcam, jpegOf(t, p("multi_two_people.jpg"), image.Rect(0, 0, 560, 661), 1, 0), false},
		{"webcam vs biden", webcam, jpegOf(t, p("multi_two_people.jpg"), image.Rect(560, 0, 1126, 661), 1, 0), false},
		{"webcam vs fisheye office man", webcam, jpegOf(t, p("small_face_fisheye_office.jpg"), image.Rectangle{}, 1, 0), false},
		{"obama vs biden", obama, jpegOf(t, p("multi_two_people.jpg"), image.Rect(560, 0, 1126, 661), 1, 0), false},
		{"obama vs astronaut", obama, jpegOf(t, p("frontal_astronaut.png"), image.Rectangle{}, 1, 0), false},
		{"astronaut vs webcam", astronaut, jpegOf(t, p("frontal_webcam_gocv.jpg"), image.Rectangle{}, 1, 0), false},
	}
	for _, pr := range pairs {
		probe := mustAnalyse(t, m, pr.name, pr.img, false)
		s := similarity(pr.ref, probe)
		t.Logf("%-42s distance %.3f similarity %5.1f", pr.name, distance(pr.ref, probe), s)
		if pr.same && s < 80 {
			t.Errorf("%s: same person scored %.1f (< 80)", pr.name, s)
		}
		if !pr.same && s > 30 {
			t.Errorf("%s: different people scored %.1f (> 30)", pr.name, s)
		}
	}
	for _, name := range []string{"noface_coffee.png", "noface_cat_chelsea.png", "profile_cameraman.png"} {
		if _, err := m.analyse(jpegOf(t, p(name), image.Rectangle{}, 1, 0), false); err != errNoFace {
			t.Errorf("%s: err %v, want no face", name, err)
		}
	}
}

func videoFrame(t testing.TB, path string, n int) []byte {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Skipf("cannot open %s: %v", path, err)
	}
	defer vc.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i <= n; i++ {
		if !vc.Read(&frame) || frame.Empty() {
			t.Skipf("%s: cannot read frame %d", path, i)
		}
	}
	return encodeJPEG(t, frame)
}

func BenchmarkCompare(b *testing.B) {
	m := newTestMatcher(b)
	img := jpegOf(b, gocvImage(b, "face.jpg"), image.Rectangle{}, 1, 0)
	ref := mustAnalyse(b, m, "ref", img, true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		probe, err := m.analyse(img, false)
		if err != nil {
			b.Fatal(err)
		}
		_ = similarity(ref, probe)
	}
}
