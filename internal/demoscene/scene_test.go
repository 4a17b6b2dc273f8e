package demoscene

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

const cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

func imagesDir(t testing.TB) string {
	t.Helper()
	dir, err := ImagesDir(os.Getenv)
	if err != nil {
		t.Skipf("gocv sample images not found: %v", err)
	}
	return dir
}

func TestImagesDirFindsBothPhotos(t *testing.T) {
	dir := imagesDir(t)
	for _, f := range []string{WorkerPhoto, VisitorPhoto} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"gocv.io/x/gocv":             "gocv.io/x/gocv",
		"github.com/BurntSushi/toml": "github.com/!burnt!sushi/toml",
		"v0.0.0-20200101-ABCdef":     "v0.0.0-20200101-!a!b!cdef",
	} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvalidScenes(t *testing.T) {
	ok := Phase{Kind: Empty, Duration: time.Second}
	for _, tc := range []struct {
		name  string
		scene Scene
		want  string
	}{
		{"tiny", Scene{Width: 100, Height: 100, FPS: 15, Phases: []Phase{ok}}, "frame size"},
		{"fps", Scene{Width: 640, Height: 480, FPS: 0, Phases: []Phase{ok}}, "fps"},
		{"no phases", Scene{Width: 640, Height: 480, FPS: 15}, "no phases"},
		{"badge without payload", Scene{Width: 640, Height: 480, FPS: 15, Phases: []Phase{{Kind: Badge}}}, "QR payload"},
		{"face without image", Scene{Width: 640, Height: 480, FPS: 15, Phases: []Phase{{Kind: Face}}}, "needs an image"},
		{"unknown kind", Scene{Width: 640, Height: 480, FPS: 15, Phases: []Phase{{Kind: Kind(9)}}}, "unknown kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.scene.Render(func(gocv.Mat) error { return nil })
			if !errors.Is(err, ErrScene) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrScene mentioning %q", err, tc.want)
			}
		})
	}
	err := Scene{Width: 640, Height: 480, FPS: 15, Phases: []Phase{{Kind: Face, Image: "/nonexistent.jpg"}}}.
		Render(func(gocv.Mat) error { return nil })
	if !errors.Is(err, ErrImages) {
		t.Fatalf("missing photo: err = %v, want ErrImages", err)
	}
}

// TestDemoSceneShowsWhatTheKioskNeeds renders the demo scene and checks
// each phase with OpenCV: the badge decodes to its payload, the faces are
// detected, the empty scene has neither, and no two frames are identical.
func TestDemoSceneShowsWhatTheKioskNeeds(t *testing.T) {
	dir := imagesDir(t)
	s := Demo(dir, "FG1:S:demo-worker", "FG1:S:demo-visitor")
	if got, want := s.Frames(), 300; got != want {
		t.Fatalf("Frames() = %d, want %d", got, want)
	}
	if s.Length() != 30*time.Second {
		t.Fatalf("Length() = %v", s.Length())
	}
	cc := gocv.NewCascadeClassifier()
	defer cc.Close()
	if !cc.Load(cascade) {
		t.Skipf("Haar cascade %s missing (apt-get install opencv-data)", cascade)
	}
	qd := gocv.NewQRCodeDetector()
	defer qd.Close()
	points := gocv.NewMat()
	defer points.Close()

	// The phase of frame n, and which frames to examine (a few per phase).
	var kinds []Phase
	for _, p := range s.Phases {
		for i := 0; i < s.phaseFrames(p); i++ {
			kinds = append(kinds, p)
		}
	}
	n := 0
	var prev []byte
	decoded := map[string]bool{}
	faces := map[string]int{}
	err := s.Render(func(frame gocv.Mat) error {
		defer func() { n++ }()
		if frame.Cols() != 1280 || frame.Rows() != 720 {
			t.Fatalf("frame %d is %dx%d", n, frame.Cols(), frame.Rows())
		}
		b := frame.ToBytes()
		if prev != nil && string(b) == string(prev) {
			t.Fatalf("frame %d is identical to the one before", n)
		}
		prev = b
		if n%15 != 7 {
			return nil
		}
		p := kinds[n]
		gray := gocv.NewMat()
		defer gray.Close()
		gocv.CvtColor(frame, &gray, gocv.ColorBGRToGray)
		found := cc.DetectMultiScale(gray)
		qr := qd.Detect(frame, &points)
		switch p.Kind {
		case Badge:
			if !qr {
				t.Errorf("frame %d: no QR code detected", n)
			}
			decoded[p.Payload] = true
		case Face:
			// One person: one face at least 200 px wide; the plain cascade
			// may also fire on the shelf behind the visitor, always far
			// smaller (capture's multiple_faces rule ignores a face below
			// 0.7 of the largest, and confirms faces by their eyes).
			big, largest := 0, 0
			for _, f := range found {
				largest = max(largest, f.Dx())
			}
			for _, f := range found {
				if f.Dx() >= largest*6/10 {
					big++
				}
			}
			if big != 1 || largest < 200 {
				t.Errorf("frame %d (%s): faces %v, want one person at least 200 px wide", n, filepath.Base(p.Image), found)
			}
			faces[filepath.Base(p.Image)]++
		case Print:
			// The sheet is smaller than a person in front of the camera.
			largest := 0
			for _, f := range found {
				largest = max(largest, f.Dx())
			}
			if largest < 120 {
				t.Errorf("frame %d (print): faces %v, want one at least 120 px wide", n, found)
			}
			faces["print"]++
		case Empty:
			if len(found) != 0 || qr {
				t.Errorf("frame %d: empty scene has %d faces, QR %v", n, len(found), qr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != s.Frames() {
		t.Fatalf("rendered %d frames, want %d", n, s.Frames())
	}
	if !decoded["FG1:S:demo-worker"] || !decoded["FG1:S:demo-visitor"] {
		t.Fatalf("badges decoded: %v", decoded)
	}
	if faces[WorkerPhoto] == 0 || faces[VisitorPhoto] == 0 || faces["print"] == 0 {
		t.Fatalf("faces checked: %v", faces)
	}
}

func TestWriteVideoReadsBack(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{
		{Kind: Empty, Duration: 500 * time.Millisecond},
		{Kind: Badge, Payload: "FG1:S:x", Duration: 500 * time.Millisecond},
		{Kind: Face, Image: filepath.Join(dir, WorkerPhoto), Duration: 500 * time.Millisecond},
	}}
	path := filepath.Join(t.TempDir(), "scene.avi")
	if err := s.WriteVideo(path); err != nil {
		t.Fatal(err)
	}
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		vc.Close()
		t.Fatalf("open %s: %v", path, err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	frames := 0
	for vc.Read(&m) && !m.Empty() {
		if m.Cols() != 640 || m.Rows() != 480 {
			t.Fatalf("frame %d is %dx%d", frames, m.Cols(), m.Rows())
		}
		frames++
	}
	if frames != s.Frames() {
		t.Fatalf("read %d frames back, want %d", frames, s.Frames())
	}
}

func TestWriteVideoBadPath(t *testing.T) {
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{{Kind: Empty, Duration: time.Second}}}
	if err := s.WriteVideo(filepath.Join(t.TempDir(), "no", "such", "dir", "x.avi")); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestWriteFramesReadsBack(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{
		{Kind: Empty, Duration: 300 * time.Millisecond},
		{Kind: Face, Image: filepath.Join(dir, WorkerPhoto), Duration: 300 * time.Millisecond},
	}}
	out := filepath.Join(t.TempDir(), "frames")
	if err := s.WriteFrames(out); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(out, "frame-*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != s.Frames() {
		t.Fatalf("%d files, want %d", len(files), s.Frames())
	}
	// Numbered in order: the last file is the face, the first the empty scene.
	for i, want := range []bool{false, true} {
		m := gocv.IMRead(files[i*(len(files)-1)], gocv.IMReadColor)
		if m.Cols() != 640 || m.Rows() != 480 {
			t.Fatalf("%s is %dx%d", files[i], m.Cols(), m.Rows())
		}
		cc := gocv.NewCascadeClassifier()
		if !cc.Load(cascade) {
			t.Skip("no Haar cascade")
		}
		got := len(cc.DetectMultiScale(m)) > 0
		cc.Close()
		m.Close()
		if got != want {
			t.Fatalf("frame %d: face %v, want %v", i, got, want)
		}
	}
}
