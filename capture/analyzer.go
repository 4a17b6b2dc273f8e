package capture

import (
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

var colorBlack = color.RGBA{0, 0, 0, 255}

// Detector names.
const (
	DetectorHaar  = "haar"
	DetectorYuNet = "yunet"
)

// AnalyzerConfig chooses the detector and the quality thresholds (config section
// "capture").
type AnalyzerConfig struct {
	// Detector is DetectorHaar (default), DetectorYuNet or DetectorAuto
	// (YuNet when Model is the pinned file, Haar otherwise).
	Detector string
	// Cascade is the Haar frontal-face cascade; "" searches /usr/share/opencv4.
	Cascade string
	// EyeCascade confirms Haar faces (two eyes, glasses or not); "" searches.
	EyeCascade string
	// Model is the YuNet ONNX file (required for DetectorYuNet; with
	// DetectorAuto the installed model, which may be missing).
	Model string
	// Thresholds are the quality limits; zero fields take DefaultThresholds' values.
	Thresholds Thresholds
	// AllowMultiple turns the multiple_faces check off: the largest
	// acceptable face wins, whatever the scores of the others. The live gate keeps it on (one person at a time); `facegate crop`
	// on a photo turns it off.
	AllowMultiple bool
	// OnDetect, when set, is told the duration of every full detection
	// (what DetectTime reports last), from the analysing goroutine; it must
	// not block (the daemon feeds a histogram with it).
	OnDetect func(time.Duration)
	// Logger, when set, is told once which detector is used and why.
	Logger *slog.Logger
}

// Candidate is one face with its measurements, score and failed thresholds.
type Candidate struct {
	Face    Face
	Quality Quality
	Score   float64  // 0..1, higher is better
	Reasons []Reason // failed thresholds; empty when acceptable
	eyes    eyeCheck // YuNet: the eye search behind Quality, reused while steady
}

// Acceptable reports whether the face passed every gate.
func (c Candidate) Acceptable() bool { return len(c.Reasons) == 0 }

// Analysis is the result for one frame.
type Analysis struct {
	Candidates []Candidate // largest first
	// Best is the index of the best acceptable candidate, -1 when none.
	Best int
	// Reason is ReasonNone when Best >= 0, else why nothing was acceptable.
	Reason Reason
	// Skipped: the scene did not change since a detection that found nobody,
	// so detection was not run again (the cheap empty-scene path).
	Skipped bool
}

const (
	detectWidth    = 416 // Haar runs on the frame scaled to this width
	faceNormWidth  = 160 // faces are measured at this width
	thumbW, thumbH = 64, 36
	emptyDiff      = 3.0 // mean abs grey difference of thumbnails that counts as "changed"
	emptyRecheck   = 30  // frames between forced detections of an unchanged empty scene (2 s at 15 fps)
	trackFullEvery = 6   // frames between full-frame detections while tracking
)

// Analyzer detects, confirms and measures faces frame by frame, keeping
// state between frames (empty-scene thumbnail, tracked face). Not safe for
// concurrent use; Close releases its OpenCV memory.
type Analyzer struct {
	cfg        AnalyzerConfig
	thresholds Thresholds

	face, eyes, plainEyes                   gocv.CascadeClassifier
	faceLoaded, eyesLoaded, plainEyesLoaded bool
	haar                                    bool
	model, fine                             *yunet // YuNet: coarse and fine input sizes
	bigFace                                 bool   // YuNet: last frame's faces allow the coarse input

	small, grey, eq      gocv.Mat
	levels               [haarLevels]gocv.Mat // eq halved, quartered, ... (haarScan)
	bg, bgDiff, bgBlocks gocv.Mat             // Haar: the empty scene (grey) and its difference
	haveBg               bool
	emptyRun             int // analysed frames in a row without a candidate
	fullScans            int // Haar full scans since the last unrestricted one
	forceFull            bool
	thumb, prevThumb     gocv.Mat
	diff                 gocv.Mat
	faceBGR, faceGrey    gocv.Mat
	eyeEq                gocv.Mat
	eyeEqDone            bool
	lap, mean, stddev    gocv.Mat
	haveThumb            bool
	framesSinceDetect    int
	lastEmpty            bool
	track                []image.Rectangle // last faces (source pixels)
	trackEyes            []eyeCheck        // their eye searches (YuNet)
	lookMat              gocv.Mat
	framesSinceFullScan  int
	locateOnly           bool // the next Analyze only locates its faces (ExpectFace)
	detectNanos          atomic.Int64
	detector             string // DetectorHaar or DetectorYuNet
}

// DetectTime is how long the last full analysis (detection and
// measurements, not an empty-scene skip) took. Safe from any goroutine.
func (a *Analyzer) DetectTime() time.Duration { return time.Duration(a.detectNanos.Load()) }

// NewAnalyzer loads the detector. Errors wrap ErrDetector.
func NewAnalyzer(cfg AnalyzerConfig) (*Analyzer, error) {
	configured := cfg.Detector
	why := "configured"
	if cfg.Detector == DetectorAuto {
		cfg.Detector, why = chooseAuto(cfg.Model)
	}
	a, err := newAnalyzer(cfg)
	if err != nil && configured == DetectorAuto && cfg.Detector == DetectorYuNet {
		// The pinned file did not load (OpenCV built without the DNN
		// importer?): auto promises a working gate, so Haar it is.
		why = "installed YuNet model did not load: " + err.Error()
		cfg.Detector = DetectorHaar
		a, err = newAnalyzer(cfg)
	}
	if err != nil {
		return nil, err
	}
	a.detector = cfg.Detector
	if cfg.Logger != nil {
		cfg.Logger.Info("face detector", "detector", a.detector, "configured", configured, "model", cfg.Model, "why", why)
	}
	return a, nil
}

// Detector is the detector in use: DetectorHaar or DetectorYuNet (never
// DetectorAuto, which is resolved by NewAnalyzer).
func (a *Analyzer) Detector() string { return a.detector }

func newAnalyzer(cfg AnalyzerConfig) (*Analyzer, error) {
	a := &Analyzer{cfg: cfg, thresholds: cfg.Thresholds.withDefaults()}
	switch cfg.Detector {
	case "", DetectorHaar:
		a.haar = true
		path := cfg.Cascade
		if path == "" {
			p, err := FindCascade(FaceCascadeName)
			if err != nil {
				return nil, err
			}
			path = p
		}
		c, err := loadCascade(path)
		if err != nil {
			return nil, err
		}
		a.face, a.faceLoaded = c, true
	case DetectorYuNet:
		if cfg.Model == "" {
			return nil, fmt.Errorf("%w: detector yunet needs a model path", ErrDetector)
		}
		y, err := newYuNet(cfg.Model, yunetCoarseWidth, 0.6)
		if err != nil {
			return nil, err
		}
		a.model = y
		if a.fine, err = newYuNet(cfg.Model, yunetFineWidth, 0.6); err != nil {
			a.Close()
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown detector %q (auto, haar or yunet)", ErrDetector, cfg.Detector)
	}
	{
		path := cfg.EyeCascade
		if path == "" {
			p, err := FindCascade(EyeCascadeName)
			if err != nil {
				a.Close()
				return nil, err
			}
			path = p
		}
		c, err := loadCascade(path)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.eyes, a.eyesLoaded = c, true
		// The plain eye cascade catches the eyes the eyeglasses one misses;
		// it is optional (found next to the other one).
		if p := filepath.Join(filepath.Dir(path), PlainEyeCascadeName); cfg.EyeCascade == "" {
			if c, err := loadCascade(p); err == nil {
				a.plainEyes, a.plainEyesLoaded = c, true
			}
		}
	}
	for _, m := range []*gocv.Mat{&a.small, &a.grey, &a.eq, &a.thumb, &a.prevThumb, &a.diff,
		&a.faceBGR, &a.faceGrey, &a.eyeEq, &a.lap, &a.mean, &a.stddev, &a.bg, &a.bgDiff, &a.bgBlocks, &a.lookMat} {
		*m = gocv.NewMat()
	}
	for i := range a.levels {
		a.levels[i] = gocv.NewMat()
	}
	return a, nil
}

// Thresholds returns the effective quality limits.
func (a *Analyzer) Thresholds() Thresholds { return a.thresholds }

// Close releases the detector and scratch images.
func (a *Analyzer) Close() error {
	if a.faceLoaded {
		a.face.Close()
		a.faceLoaded = false
	}
	if a.eyesLoaded {
		a.eyes.Close()
		a.eyesLoaded = false
	}
	if a.plainEyesLoaded {
		a.plainEyes.Close()
		a.plainEyesLoaded = false
	}
	if a.model != nil {
		a.model.close()
		a.model = nil
	}
	if a.fine != nil {
		a.fine.close()
		a.fine = nil
	}
	for _, m := range []*gocv.Mat{&a.small, &a.grey, &a.eq, &a.thumb, &a.prevThumb, &a.diff,
		&a.faceBGR, &a.faceGrey, &a.eyeEq, &a.lap, &a.mean, &a.stddev, &a.bg, &a.bgDiff, &a.bgBlocks, &a.lookMat} {
		if m.Ptr() != nil {
			m.Close()
			*m = gocv.Mat{}
		}
	}
	for i := range a.levels {
		if a.levels[i].Ptr() != nil {
			a.levels[i].Close()
			a.levels[i] = gocv.Mat{}
		}
	}
	return nil
}

// Reset forgets the previous frames (call between unrelated streams).
func (a *Analyzer) Reset() {
	a.forgetFaces()
	a.haveBg, a.emptyRun, a.fullScans = false, 0, 0
}

// forgetFaces drops the tracked faces and the empty-scene thumbnail but
// keeps the learnt empty scene: the next frame is analysed as if someone
// had just walked into it.
func (a *Analyzer) forgetFaces() {
	a.haveThumb, a.lastEmpty, a.track, a.trackEyes, a.bigFace = false, false, nil, nil, false
	a.framesSinceDetect, a.framesSinceFullScan = 0, 0
}

// scanFullNext makes the next Haar detection a full scan (it still skips
// faces under half the tracked ones' width, which cannot make
// multiple_faces), keeping the tracked faces.
func (a *Analyzer) scanFullNext() {
	a.framesSinceFullScan = max(a.framesSinceFullScan, trackFullEvery)
}

// searchedWhole reports whether the last Analyze searched the whole frame
// for faces (YuNet always does; Haar unless it searched near tracked
// faces only).
func (a *Analyzer) searchedWhole() bool { return !a.haar || a.framesSinceFullScan == 0 }

// ExpectFace tells an analyzer just reset that the next frame holds a
// face about the size of box (one another analyzer chose a moment
// before), and that only where the faces are matters (the liveness
// check's first frame). Haar's search of that frame, still over the whole
// frame, skips the faces under half box's width, as the periodic full
// scan does while a face is tracked: those are most of a scan's cost, and
// none of them can be that face. Its eye search stops at the first eye,
// which tells a face from a false detection: the faces' Eyes, Frontal
// and Roll, and the Score, Reasons and Best they feed, are not measured
// in full. YuNet's analysis is unchanged. It reports whether Haar's was
// narrowed (box not empty).
func (a *Analyzer) ExpectFace(box image.Rectangle) bool {
	if !a.haar || box.Empty() {
		return false
	}
	a.track, a.trackEyes = append(a.track[:0], box), a.trackEyes[:0]
	a.framesSinceFullScan = trackFullEvery
	a.locateOnly = true
	return true
}

// Analyze detects and measures the faces of one BGR frame.
func (a *Analyzer) Analyze(frame gocv.Mat) (Analysis, error) {
	defer func() { a.locateOnly = false }()
	if frame.Empty() || frame.Channels() != 3 {
		if a.locateOnly {
			// ExpectFace was for this frame only: the next one is searched
			// as by an analyzer just reset.
			a.track, a.trackEyes, a.framesSinceFullScan = a.track[:0], a.trackEyes[:0], 0
		}
		return Analysis{}, fmt.Errorf("%w: frame is empty or not 3-channel BGR", ErrBadImage)
	}
	fw, fh := frame.Cols(), frame.Rows()
	scale := math.Min(1, float64(detectWidth)/float64(fw))
	sw, sh := max(1, int(math.Round(float64(fw)*scale))), max(1, int(math.Round(float64(fh)*scale)))
	src := frame
	if sw != fw {
		gocv.Resize(frame, &a.small, image.Pt(sw, sh), 0, 0, gocv.InterpolationLinear)
		src = a.small
	}
	gocv.CvtColor(src, &a.grey, gocv.ColorBGRToGray)

	// Empty scene: an unchanged thumbnail after a detection that found
	// nobody costs only the resize above.
	gocv.Resize(a.grey, &a.thumb, image.Pt(thumbW, thumbH), 0, 0, gocv.InterpolationArea)
	// The forced recheck of an unchanged empty scene searches the whole
	// frame: it also finds a person who stood still long enough to become
	// part of the learnt empty scene.
	a.forceFull = a.haveThumb && a.lastEmpty && a.framesSinceDetect >= emptyRecheck
	if a.haveThumb && a.lastEmpty && a.framesSinceDetect < emptyRecheck {
		gocv.AbsDiff(a.thumb, a.prevThumb, &a.diff)
		if a.diff.Mean().Val1 < emptyDiff {
			a.framesSinceDetect++
			return Analysis{Best: -1, Reason: ReasonNoFace, Skipped: true}, nil
		}
	}
	a.thumb.CopyTo(&a.prevThumb)
	a.haveThumb = true
	a.framesSinceDetect = 0

	start := time.Now()
	defer func() {
		d := time.Since(start)
		a.detectNanos.Store(int64(d))
		if a.cfg.OnDetect != nil {
			a.cfg.OnDetect(d)
		}
	}()
	var faces []Face
	var err error
	if a.haar {
		faces = a.detectHaar(scale, fw, fh)
	} else {
		// A face seen big in the previous frame is searched for in the
		// coarse input; if it is not there big enough, the fine input
		// decides (landmarks of small faces in the coarse input are too
		// rough for the eye search).
		k := float64(a.model.inW) / float64(fw)
		coarse := a.bigFace
		if coarse {
			faces, err = a.model.detect(frame)
			coarse = err == nil && len(faces) > 0 && narrowest(faces)*k >= yunetFinePx
		}
		if !coarse && err == nil {
			faces, err = a.fine.detect(frame)
		}
		a.bigFace = err == nil && len(faces) > 0 && narrowest(faces)*k >= yunetBigPx
		if err != nil {
			return Analysis{}, err
		}
	}
	an := a.evaluate(frame, faces)
	a.lastEmpty = len(an.Candidates) == 0
	if a.haar {
		a.learnEmptyScene(a.lastEmpty)
	}
	a.track, a.trackEyes = a.track[:0], a.trackEyes[:0]
	for _, c := range an.Candidates {
		a.track = append(a.track, c.Face.Box)
		a.trackEyes = append(a.trackEyes, c.eyes)
	}
	return an, nil
}
