package capture

import (
	"errors"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

func newHaar(t testing.TB, cfg AnalyzerConfig) *Analyzer {
	t.Helper()
	cfg.Detector = DetectorHaar
	a, err := NewAnalyzer(cfg)
	if errors.Is(err, ErrDetector) {
		t.Skipf("Haar cascades not installed (Debian package opencv-data): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAnalyzeGocvFace(t *testing.T) {
	var detections []time.Duration
	a := newHaar(t, AnalyzerConfig{OnDetect: func(d time.Duration) { detections = append(detections, d) }})
	img := readTestImage(t, gocvImage(t, "face.jpg"))
	defer img.Close()
	an, err := a.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	// Each full detection is reported once, with what DetectTime says.
	if len(detections) != 1 || detections[0] != a.DetectTime() || detections[0] <= 0 {
		t.Errorf("OnDetect told %v, DetectTime %v", detections, a.DetectTime())
	}
	if an.Best < 0 {
		t.Fatalf("no acceptable face in face.jpg: reason %s, candidates %+v", an.Reason, an.Candidates)
	}
	c := an.Candidates[an.Best]
	want := image.Rect(229, 149, 469, 389)
	if iou := IoU(c.Face.Box, want); iou < 0.5 {
		t.Errorf("face %v, want about %v (IoU %.2f)", c.Face.Box, want, iou)
	}
	if c.Quality.Eyes != 2 || c.Quality.Frontal < 0.5 {
		t.Errorf("frontal face not confirmed: %+v", c.Quality)
	}
}

// TestGates composes frames from face.jpg that each fail one gate.
func TestGates(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{Thresholds: Thresholds{MinFaceWidth: 150}})
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()

	darken := func(m *gocv.Mat) { m.MultiplyFloat(0.18) }
	brighten := func(m *gocv.Mat) { m.MultiplyFloat(2.6) }
	blur := func(m *gocv.Mat) { gocv.GaussianBlur(*m, m, image.Pt(0, 0), 3.5, 3.5, gocv.BorderDefault) }
	second := func(m *gocv.Mat) {
		// Paste a second copy of the photo beside the first.
		other := compose(photo, m.Cols(), m.Rows(), 560, image.Pt(660, 120))
		defer other.Close()
		right := image.Rect(660, 0, m.Cols(), m.Rows())
		src := other.Region(right)
		dst := m.Region(right)
		src.CopyTo(&dst)
		src.Close()
		dst.Close()
	}
	tests := []struct {
		name   string
		photoW int
		at     image.Point
		edit   func(*gocv.Mat)
		want   Reason
	}{
		{"good", 640, image.Pt(320, 60), nil, ReasonNone},
		{"empty", 0, image.Point{}, nil, ReasonNoFace},
		{"far", 320, image.Pt(500, 250), nil, ReasonTooSmall}, // face 120 px, gate 150
		{"dark", 640, image.Pt(320, 60), darken, ReasonTooDark},
		{"bright", 640, image.Pt(320, 60), brighten, ReasonTooBright},
		{"blurred", 640, image.Pt(320, 60), blur, ReasonTooBlurry},
		{"two people", 560, image.Pt(40, 120), second, ReasonMultipleFaces},
		{"cut by edge", 640, image.Pt(-250, 60), nil, ReasonCutByEdge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frame gocv.Mat
			if tt.photoW == 0 {
				frame = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 720, 1280, gocv.MatTypeCV8UC3)
			} else {
				frame = compose(photo, 1280, 720, tt.photoW, tt.at)
			}
			defer frame.Close()
			if tt.edit != nil {
				tt.edit(&frame)
			}
			a.Reset()
			an, err := a.Analyze(frame)
			if err != nil {
				t.Fatal(err)
			}
			if an.Reason != tt.want {
				t.Fatalf("reason %q, want %q; candidates %+v", an.Reason, tt.want, an.Candidates)
			}
			if tt.want == ReasonNone && an.Best < 0 {
				t.Fatal("no best face")
			}
		})
	}
}

func TestAnalyzeRejectsBadFrames(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := a.Analyze(empty); !errors.Is(err, ErrBadImage) {
		t.Errorf("empty frame: %v, want ErrBadImage", err)
	}
	grey := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8U)
	defer grey.Close()
	if _, err := a.Analyze(grey); !errors.Is(err, ErrBadImage) {
		t.Errorf("grey frame: %v, want ErrBadImage", err)
	}
}

// TestEmptySceneSkips: an unchanged empty scene is not detected again
// until the periodic recheck; a change triggers detection at once.
func TestEmptySceneSkips(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	empty := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 720, 1280, gocv.MatTypeCV8UC3)
	defer empty.Close()
	skipped := 0
	for i := 0; i < emptyRecheck+1; i++ {
		an, err := a.Analyze(empty)
		if err != nil {
			t.Fatal(err)
		}
		if an.Skipped {
			skipped++
		}
		if an.Reason != ReasonNoFace {
			t.Fatalf("frame %d: reason %s", i, an.Reason)
		}
	}
	if skipped != emptyRecheck {
		t.Errorf("skipped %d of %d frames, want %d (one detection, then skips until the recheck)", skipped, emptyRecheck+1, emptyRecheck)
	}
	face := faceFrame(t, 1280, 720, 640, image.Pt(320, 60))
	defer face.Close()
	an, err := a.Analyze(face)
	if err != nil {
		t.Fatal(err)
	}
	if an.Skipped || an.Best < 0 {
		t.Fatalf("a face entering the scene was not analysed: %+v", an)
	}
}

func TestNewAnalyzerErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  AnalyzerConfig
	}{
		{"unknown detector", AnalyzerConfig{Detector: "hog"}},
		{"yunet without model", AnalyzerConfig{Detector: DetectorYuNet}},
		{"missing model", AnalyzerConfig{Detector: DetectorYuNet, Model: "/nonexistent/model.onnx"}},
		{"missing cascade", AnalyzerConfig{Cascade: "/nonexistent/cascade.xml"}},
		{"cascade not xml", AnalyzerConfig{Cascade: "analyzer_test.go"}},
		{"model not onnx", AnalyzerConfig{Detector: DetectorYuNet, Model: "analyzer_test.go"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAnalyzer(tt.cfg)
			if err == nil {
				a.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrDetector) {
				t.Errorf("error %v does not wrap ErrDetector", err)
			}
		})
	}
}
