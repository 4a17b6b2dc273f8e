package capture

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
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

// AnalyzerConfig chooses the detector and the quality gates (config section
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
	// Gates are the quality limits; zero fields take DefaultGates' values.
	Gates Gates
	// AllowMultiple turns the multiple_faces gate off: the largest
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

// Gates are the quality limits a face must pass.
type Gates struct {
	MinFaceWidth  int     // pixels in the source frame (too_small)
	MinSharpness  float64 // variance of the Laplacian on the face scaled to 160 px wide (too_blurry)
	MinBrightness float64 // mean grey level of the face, 0-255 (too_dark)
	MaxBrightness float64 // (too_bright)
	MinFrontal    float64 // 0..1 frontal score (not_frontal)
	MaxRoll       float64 // degrees (head_tilted)
	// SimilarSize: a second face at least this fraction of the largest
	// face's width makes multiple_faces.
	SimilarSize float64
	// Excellent: a score at least this ends the selection window early.
	Excellent float64
}

// DefaultGates are the limits used for zero fields.
var DefaultGates = Gates{
	MinFaceWidth:  80,
	MinSharpness:  150,
	MinBrightness: 55,
	MaxBrightness: 215,
	MinFrontal:    0.5,
	MaxRoll:       40,
	SimilarSize:   0.7,
	Excellent:     0.85,
}

func (g Gates) withDefaults() Gates {
	d := DefaultGates
	if g.MinFaceWidth > 0 {
		d.MinFaceWidth = g.MinFaceWidth
	}
	if g.MinSharpness > 0 {
		d.MinSharpness = g.MinSharpness
	}
	if g.MinBrightness > 0 {
		d.MinBrightness = g.MinBrightness
	}
	if g.MaxBrightness > 0 {
		d.MaxBrightness = g.MaxBrightness
	}
	if g.MinFrontal > 0 {
		d.MinFrontal = g.MinFrontal
	}
	if g.MaxRoll > 0 {
		d.MaxRoll = g.MaxRoll
	}
	if g.SimilarSize > 0 {
		d.SimilarSize = g.SimilarSize
	}
	if g.Excellent > 0 {
		d.Excellent = g.Excellent
	}
	return d
}

// Quality holds the measured values of one face (JSON in `facegate crop`).
type Quality struct {
	FaceWidth  int     `json:"face_width"`  // source pixels
	FaceHeight int     `json:"face_height"` // source pixels
	Sharpness  float64 `json:"sharpness"`   // variance of the Laplacian, face scaled to 160 px wide
	Brightness float64 `json:"brightness"`  // mean grey level 0-255
	Frontal    float64 `json:"frontal"`     // 0 (profile / no eyes) .. 1 (eyes level, symmetric)
	Roll       float64 `json:"roll"`        // degrees, positive when the head leans to the image's right
	Eyes       int     `json:"eyes"`        // eyes found (0-2)
	Centred    float64 `json:"centred"`     // 1 at the frame centre, 0 in a corner
	Confidence float64 `json:"confidence"`  // detector score
	// Steady is the overlap (IoU) with the nearest face of the previous
	// analysed frame: 1 for a face that did not move, 0 for a new one.
	Steady float64 `json:"steady"`
}

// Candidate is one face with its measurements, score and failed gates.
type Candidate struct {
	Face    Face
	Quality Quality
	Score   float64  // 0..1, higher is better
	Reasons []Reason // failed gates; empty when acceptable
	eyes    eyeCheck // YuNet: the eye search behind Quality, reused while steady
}

// eyeCheck is the result of the eye search on a YuNet face.
type eyeCheck struct {
	n             int
	frontal, roll float64
	age           int                         // frames it has been reused for
	look          [eyeLookPx * eyeLookPx]byte // the face in grey, eyeLookPx square
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
	cfg   AnalyzerConfig
	gates Gates

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

// chooseAuto is DetectorAuto's choice and its reason.
func chooseAuto(model string) (detector, why string) {
	if model == "" {
		return DetectorHaar, "no YuNet model path"
	}
	if err := VerifyYuNetFile(model); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return DetectorHaar, "no YuNet model installed (facegate model install yunet)"
		}
		return DetectorHaar, err.Error()
	}
	return DetectorYuNet, "installed YuNet model verified"
}

// Detector is the detector in use: DetectorHaar or DetectorYuNet (never
// DetectorAuto, which is resolved by NewAnalyzer).
func (a *Analyzer) Detector() string { return a.detector }

func newAnalyzer(cfg AnalyzerConfig) (*Analyzer, error) {
	a := &Analyzer{cfg: cfg, gates: cfg.Gates.withDefaults()}
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

// Gates returns the effective quality limits.
func (a *Analyzer) Gates() Gates { return a.gates }

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

// Analyze detects and measures the faces of one BGR frame.
func (a *Analyzer) Analyze(frame gocv.Mat) (Analysis, error) {
	if frame.Empty() || frame.Channels() != 3 {
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

// YuNet input widths. The fine one finds faces below the 80 px gate (to
// say "come closer"). The coarse one costs ~35% less but gives landmarks
// too rough for the eye search (one eye missed) on faces narrower than
// yunetFinePx in it (183 px in a 1280 frame): it is used only when the
// previous frame's faces were at least yunetBigPx wide in it, and a frame
// whose faces came out smaller there is searched again at the fine width.
const (
	yunetCoarseWidth = 224
	yunetFineWidth   = 320
	yunetFinePx      = 32
	yunetBigPx       = 36
)

// narrowest is the width of the narrowest face.
func narrowest(faces []Face) float64 {
	m := math.Inf(1)
	for _, f := range faces {
		m = math.Min(m, float64(f.Box.Dx()))
	}
	return m
}

// Haar parameters: coarser pyramid steps (1.15, 1.2) halve the cost but miss
// faces of 100-150 px in a 1280x720 frame; the eye check removes the false
// positives 3 neighbours let through.
const (
	haarScaleStep = 1.1
	haarNeighbors = 3
)

// detectHaar runs the cascade on the equalised small grey image: near the
// tracked faces and only at their scale when there are some (a full scan
// every trackFullEvery frames still catches a second person), on the whole
// frame otherwise.
func (a *Analyzer) detectHaar(scale float64, fw, fh int) []Face {
	gocv.EqualizeHist(a.grey, &a.eq)
	// Faces down to half the minimum width are found, to say "come closer".
	minFace := max(20, int(float64(a.gates.MinFaceWidth)*scale/2))
	full := image.Rect(0, 0, a.eq.Cols(), a.eq.Rows())
	var rects []image.Rectangle
	tracked := false
	if len(a.track) > 0 && a.framesSinceFullScan < trackFullEvery {
		var roi image.Rectangle
		lo, hi := math.MaxInt, 0
		for _, t := range a.track {
			s := scaleRect(t, scale)
			d := max(s.Dx(), s.Dy())
			lo, hi = min(lo, d), max(hi, d)
			roi = roi.Union(s.Inset(-d / 2))
		}
		roi = roi.Intersect(full)
		minT := max(minFace, lo*3/4)
		maxT := hi * 4 / 3
		if roi.Dx() >= minT && roi.Dy() >= minT {
			sub := a.eq.Region(roi)
			rects = a.haarScan(sub, minT, maxT)
			sub.Close()
			for i := range rects {
				rects[i] = rects[i].Add(roi.Min)
			}
			tracked = len(rects) > 0
		}
	}
	if tracked {
		a.framesSinceFullScan++
	} else {
		// The periodic full scan while a face is tracked looks for a
		// second person: faces under half the tracked one's width are
		// not one (multiple_faces needs 70%), and the small scales are
		// most of a scan's cost.
		fullMin := minFace
		if len(a.track) > 0 && a.framesSinceFullScan >= trackFullEvery {
			lo := math.MaxInt
			for _, t := range a.track {
				lo = min(lo, scaleRect(t, scale).Dx())
			}
			fullMin = max(minFace, lo/2)
		}
		region := full
		a.fullScans++
		if !a.forceFull && a.fullScans < bgFullEvery {
			region = a.changedRegion(full)
		} else {
			a.fullScans = 0
		}
		if region.Dx() >= fullMin && region.Dy() >= fullMin {
			sub := a.eq.Region(region)
			rects = a.haarScan(sub, fullMin, 0)
			sub.Close()
			for i := range rects {
				rects[i] = rects[i].Add(region.Min)
			}
		}
		a.framesSinceFullScan = 0
	}
	faces := make([]Face, 0, len(rects))
	inv := 1 / scale
	for _, r := range rects {
		b := scaleRect(r, inv).Intersect(image.Rect(0, 0, fw, fh))
		faces = append(faces, Face{Box: b, Confidence: 1})
	}
	return faces
}

// The learnt empty scene: Haar's full scans search only where the frame
// differs from it, plus a margin. A person walking into view changes the
// part of the frame they cover; a wall, a poster or a shelf behind the gate
// (the textured part that costs a Haar scan the most) is not searched
// again. Every bgFullEvery-th full scan, and the forced recheck of an
// unchanged scene, search the whole frame: a face missed while its
// surroundings were learnt is found there.
const (
	bgBlock       = 8   // detection pixels per block of the difference
	bgChange      = 10  // mean absolute grey difference of a changed block
	bgMargin      = 24  // detection pixels around the changed blocks (the smallest face)
	bgMaxShare    = 0.6 // a larger changed region is searched whole
	bgEmptyFrames = 3   // analysed frames without a candidate before the scene is learnt
	bgFullEvery   = 8   // full scans between unrestricted ones
)

// learnEmptyScene keeps the grey frame as the empty scene once
// bgEmptyFrames analysed frames in a row had no candidate.
func (a *Analyzer) learnEmptyScene(empty bool) {
	if !empty {
		a.emptyRun = 0
		return
	}
	a.emptyRun++
	if a.emptyRun >= bgEmptyFrames {
		a.grey.CopyTo(&a.bg)
		a.haveBg = true
	}
}

// changedRegion is the part of the detection image that differs from the
// learnt empty scene (grown by bgMargin), empty when nothing changed, full
// when no scene is learnt or most of it changed (light, camera moved).
func (a *Analyzer) changedRegion(full image.Rectangle) image.Rectangle {
	if !a.haveBg || a.bg.Cols() != a.grey.Cols() || a.bg.Rows() != a.grey.Rows() {
		return full
	}
	gocv.AbsDiff(a.grey, a.bg, &a.bgDiff)
	bw, bh := max(1, full.Dx()/bgBlock), max(1, full.Dy()/bgBlock)
	gocv.Resize(a.bgDiff, &a.bgBlocks, image.Pt(bw, bh), 0, 0, gocv.InterpolationArea)
	means := a.bgBlocks.ToBytes()
	if len(means) != bw*bh {
		return full
	}
	var r image.Rectangle
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			if means[y*bw+x] >= bgChange {
				r = r.Union(image.Rect(x*full.Dx()/bw, y*full.Dy()/bh, (x+1)*full.Dx()/bw, (y+1)*full.Dy()/bh))
			}
		}
	}
	if r.Empty() {
		return r
	}
	r = r.Inset(-bgMargin).Intersect(full)
	if float64(r.Dx()*r.Dy()) > bgMaxShare*float64(full.Dx()*full.Dy()) {
		return full
	}
	return r
}

// The frontal-face cascade's window is 24x24. One DetectMultiScale call
// slides it 2 px at a time on scales below 2 and 1 px above, so faces of
// 48 px and more cost 4x the windows of the smaller ones, for a little
// more recall (the composed-face test: 327 of 333 faces found by one call
// are found by the octave scan).
const (
	haarWindow = 24
	haarLevels = 4
	// haarGroupEps is OpenCV's own (GROUP_EPS in DetectMultiScale).
	haarGroupEps = 0.2
)

// haarScan finds faces from minSize to maxSize (0: no limit) pixels wide
// in img, one octave of sizes at a time on img halved per octave, so that
// every size is searched at the 2 px stride: on 1280x720 frames it costs
// 55-65% of one DetectMultiScale call over all sizes.
func (a *Analyzer) haarScan(img gocv.Mat, minSize, maxSize int) []image.Rectangle {
	var rects []image.Rectangle
	src := img
	f := 1 // src is img divided by f
	for level := 0; ; level++ {
		lo := max(haarWindow, (minSize+f-1)/f)
		last := level == haarLevels || min(src.Cols(), src.Rows()) < 4*haarWindow
		hi := 2*haarWindow - 1
		if last {
			hi = 0
		}
		if maxSize > 0 {
			if lo > maxSize/f {
				break
			}
			if hi == 0 || maxSize/f < hi {
				hi = maxSize / f
			}
		}
		if hi == 0 || lo <= hi {
			// Raw windows (no grouping): grouped below over all levels
			// together, so a face near an octave boundary keeps the
			// neighbours from both sides, as in one DetectMultiScale call.
			found := a.face.DetectMultiScaleWithParams(src, haarScaleStep, 0, 0,
				image.Pt(lo, lo), image.Pt(hi, hi))
			for _, r := range found {
				rects = append(rects, image.Rect(r.Min.X*f, r.Min.Y*f, r.Max.X*f, r.Max.Y*f))
			}
		}
		if last || (maxSize > 0 && hi == maxSize/f) {
			break
		}
		next := &a.levels[level]
		gocv.Resize(src, next, image.Pt(src.Cols()/2, src.Rows()/2), 0, 0, gocv.InterpolationArea)
		src = *next
		f *= 2
	}
	if len(rects) == 0 {
		return nil
	}
	return gocv.GroupRectangles(rects, haarNeighbors, haarGroupEps)
}

// evaluate measures every face, applies the gates and picks the best.
func (a *Analyzer) evaluate(frame gocv.Mat, faces []Face) Analysis {
	sort.SliceStable(faces, func(i, j int) bool { return faces[i].Box.Dx() > faces[j].Box.Dx() })
	const maxCandidates = 4
	if len(faces) > maxCandidates {
		faces = faces[:maxCandidates]
	}
	an := Analysis{Best: -1, Reason: ReasonNoFace}
	frameRect := image.Rect(0, 0, frame.Cols(), frame.Rows())
	for _, f := range faces {
		q, eyes, real := a.measure(frame, f)
		// A Haar box with no eyes is not a face (a dog, a texture), unless it
		// is too small for eyes to be found: then "come closer" is the
		// useful answer, and too_small is never accepted anyway.
		if !real && f.Box.Dx() >= a.gates.MinFaceWidth {
			continue
		}
		q.Steady = round3(a.steadiness(f.Box))
		c := Candidate{Face: f, Quality: q, eyes: eyes}
		c.Reasons = a.gatesFor(c, frameRect)
		c.Score = score(q, a.gates)
		an.Candidates = append(an.Candidates, c)
	}
	if len(an.Candidates) == 0 {
		return an
	}
	if !a.cfg.AllowMultiple && len(an.Candidates) > 1 {
		w0 := float64(an.Candidates[0].Face.Box.Dx())
		for i := 1; i < len(an.Candidates); i++ {
			if float64(an.Candidates[i].Face.Box.Dx()) >= a.gates.SimilarSize*w0 {
				for j := range an.Candidates {
					an.Candidates[j].Reasons = append([]Reason{ReasonMultipleFaces}, an.Candidates[j].Reasons...)
				}
				break
			}
		}
	}
	for i, c := range an.Candidates {
		if !c.Acceptable() {
			continue
		}
		if a.cfg.AllowMultiple {
			// A file with several acceptable faces: the largest is the
			// subject (candidates are largest first), not the sharpest
			// or best centred bystander.
			an.Best = i
			break
		}
		if an.Best < 0 || c.Score > an.Candidates[an.Best].Score {
			an.Best = i
		}
	}
	if an.Best >= 0 {
		an.Reason = ReasonNone
	} else {
		an.Reason = an.Candidates[0].Reasons[0]
	}
	return an
}

// gatesFor lists the failed gates of one face, most basic first.
func (a *Analyzer) gatesFor(c Candidate, frame image.Rectangle) []Reason {
	var r []Reason
	g := a.gates
	q := c.Quality
	b := c.Face.Box
	margin := max(2, b.Dx()*8/100)
	if b.Min.X < frame.Min.X+margin || b.Min.Y < frame.Min.Y+margin ||
		b.Max.X > frame.Max.X-margin || b.Max.Y > frame.Max.Y-margin {
		r = append(r, ReasonCutByEdge)
	}
	if q.FaceWidth < g.MinFaceWidth {
		r = append(r, ReasonTooSmall)
	}
	// Light and blur before frontal: they are why eyes go unfound.
	if q.Brightness < g.MinBrightness {
		r = append(r, ReasonTooDark)
	} else if q.Brightness > g.MaxBrightness {
		r = append(r, ReasonTooBright)
	}
	if q.Sharpness < g.MinSharpness {
		r = append(r, ReasonTooBlurry)
	}
	if q.Frontal < g.MinFrontal {
		r = append(r, ReasonNotFrontal)
	} else if math.Abs(q.Roll) > g.MaxRoll {
		r = append(r, ReasonHeadTilted)
	}
	return r
}

// steadiness is the best IoU of b with the previous frame's faces.
func (a *Analyzer) steadiness(b image.Rectangle) float64 {
	best := 0.0
	for _, t := range a.track {
		best = math.Max(best, rectIoU(b, t))
	}
	return best
}

func rectIoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	return ia / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia)
}

// score combines the measurements into 0..1.
func score(q Quality, g Gates) float64 {
	size := math.Min(1, float64(q.FaceWidth)/320) // 320 px: the 960 px crop is native
	sharp := math.Min(1, q.Sharpness/(6*g.MinSharpness))
	expo := math.Max(0, 1-math.Abs(q.Brightness-128)/128)
	level := 1 - 0.6*math.Min(1, math.Abs(q.Roll)/30) // a level head crops and matches best
	s := 0.30*size + 0.20*sharp + 0.25*q.Frontal*level + 0.10*expo + 0.05*q.Centred + 0.10*q.Steady
	return math.Round(s*1000) / 1000
}

// measure computes the quality of one face; real is false when a Haar box
// is not confirmed by eyes at all. eyes is a YuNet face's eye search (new
// or reused), kept with the tracked face.
func (a *Analyzer) measure(frame gocv.Mat, f Face) (q Quality, eyes eyeCheck, real bool) {
	fr := image.Rect(0, 0, frame.Cols(), frame.Rows())
	b := f.Box.Intersect(fr)
	q.FaceWidth, q.FaceHeight = f.Box.Dx(), f.Box.Dy()
	q.Confidence = math.Round(f.Confidence*1000) / 1000
	if b.Dx() < 4 || b.Dy() < 4 {
		return q, eyeCheck{}, false
	}
	cx, cy := float64(b.Min.X+b.Max.X)/2, float64(b.Min.Y+b.Max.Y)/2
	dx, dy := (cx-float64(fr.Dx())/2)/(float64(fr.Dx())/2), (cy-float64(fr.Dy())/2)/(float64(fr.Dy())/2)
	q.Centred = round3(math.Max(0, 1-math.Hypot(dx, dy)/math.Sqrt2))

	roi := frame.Region(b)
	nh := max(1, b.Dy()*faceNormWidth/b.Dx())
	gocv.Resize(roi, &a.faceBGR, image.Pt(faceNormWidth, nh), 0, 0, gocv.InterpolationArea)
	roi.Close()
	gocv.CvtColor(a.faceBGR, &a.faceGrey, gocv.ColorBGRToGray)

	// Exposure and sharpness on the inner face (less hair and background).
	inner := image.Rect(faceNormWidth/5, nh/6, faceNormWidth*4/5, nh*5/6)
	in := a.faceGrey.Region(inner)
	q.Brightness = round3(in.Mean().Val1)
	gocv.Laplacian(in, &a.lap, gocv.MatTypeCV16S, 3, 1, 0, gocv.BorderDefault)
	in.Close()
	gocv.MeanStdDev(a.lap, &a.mean, &a.stddev)
	sd := a.stddev.GetDoubleAt(0, 0)
	q.Sharpness = round3(sd * sd)

	// One eye in each half of the upper face (Haar), or around YuNet's eye
	// landmarks: on a YuNet face that has not moved since a recent search,
	// that search's result stands (half of a tracked frame's cost).
	var look [eyeLookPx * eyeLookPx]byte
	if f.HasLandmarks {
		gocv.Resize(a.faceGrey, &a.lookMat, image.Pt(eyeLookPx, eyeLookPx), 0, 0, gocv.InterpolationArea)
		copy(look[:], a.lookMat.ToBytes())
		if prev, ok := a.steadyEyes(f.Box, &look); ok {
			return a.yunetQuality(q, f, prev), prev, true
		}
	}
	var found []image.Rectangle
	a.eyeEqDone = false
	norm := image.Rect(0, 0, faceNormWidth, nh)
	for half := 0; half < 2; half++ {
		r := image.Rect(half*faceNormWidth/2, nh/6, (half+1)*faceNormWidth/2, nh*11/20)
		if f.HasLandmarks {
			k := float64(faceNormWidth) / float64(b.Dx())
			lm := f.Landmarks[half].Sub(b.Min)
			c := image.Pt(int(float64(lm.X)*k), int(float64(lm.Y)*k))
			d := faceNormWidth * 3 / 10
			r = image.Rect(c.X-d/2, c.Y-d/2, c.X+d/2, c.Y+d/2).Intersect(norm)
			if r.Dx() < faceNormWidth/10 || r.Dy() < faceNormWidth/10 {
				continue
			}
		}
		if e, ok := a.findEye(r, f.HasLandmarks); ok {
			found = append(found, e)
		}
	}
	n, eyeFrontal, eyeRoll := frontalFromEyes(found, faceNormWidth)
	if !f.HasLandmarks {
		q.Eyes, q.Frontal, q.Roll = n, eyeFrontal, eyeRoll
		return q, eyeCheck{}, q.Eyes > 0
	}
	eyes = eyeCheck{n: n, frontal: eyeFrontal, roll: eyeRoll, look: look}
	return a.yunetQuality(q, f, eyes), eyes, true
}

// yunetQuality completes q for a YuNet face. The landmarks say frontal or
// profile but read a rolled head as nearly level (5 deg for 40 deg on the
// synthetic clip), so two eyes found by the cascade give the roll when they
// agree with a frontal face, and a face whose eyes the cascade cannot
// confirm scores lower.
func (a *Analyzer) yunetQuality(q Quality, f Face, e eyeCheck) Quality {
	q.Eyes = e.n
	q.Frontal, q.Roll = frontalFromLandmarks(f)
	if e.n == 2 && e.frontal >= 0.5 {
		q.Roll = e.roll
	} else {
		q.Frontal = round3(q.Frontal * 0.8)
	}
	return q
}

// An eye search on a YuNet face is reused for up to eyeReuse frames while
// the face keeps its box (IoU eyeSteadyIoU) and its look: the mean grey
// difference of the eyeLookPx-square face from the searched one stays
// under eyeLookDiff. The look catches a head rolling in place, which
// neither the box nor the landmarks show.
const (
	eyeReuse     = 3
	eyeSteadyIoU = 0.8
	eyeLookPx    = 16
	eyeLookDiff  = 6
)

// steadyEyes returns the eye search of the tracked face that b matches,
// when it may be reused.
func (a *Analyzer) steadyEyes(b image.Rectangle, look *[eyeLookPx * eyeLookPx]byte) (eyeCheck, bool) {
	for i, t := range a.track {
		if i >= len(a.trackEyes) || rectIoU(b, t) < eyeSteadyIoU || a.trackEyes[i].age >= eyeReuse {
			continue
		}
		e := a.trackEyes[i]
		sum := 0
		for k, v := range look {
			d := int(v) - int(e.look[k])
			sum += max(d, -d)
		}
		if sum >= eyeLookDiff*len(look) {
			continue
		}
		e.age++
		return e, true
	}
	return eyeCheck{}, false
}

// findEye returns the largest eye in region r of the normalised face.
//
// Haar faces: the equalised face first (the eye against its surroundings,
// whatever the light), with the plain eye cascade, the cheaper one, then
// the eyeglasses cascade, which finds eyes behind glasses the plain one
// misses; then the face as it is. On the composed-face test set the
// equalised tries found 750 of 756 eyes, the first one 662 (the face as it
// is, first: 444). Eyes are a fifth to a quarter of a Haar face's width:
// up to 39 px keeps the search below twice the 20 px window, where
// OpenCV's stride falls to 1 px and the cost doubles.
//
// YuNet faces (quick: r is around an eye landmark, the face is confirmed)
// try the face as it is, plain then eyeglasses cascade, eyes up to a third
// of the face (YuNet's boxes are tighter): on the rolled frames of the
// synthetic clip the equalised tries miss eyes these find.
func (a *Analyzer) findEye(r image.Rectangle, quick bool) (image.Rectangle, bool) {
	minEye, maxEye := image.Pt(faceNormWidth/10, faceNormWidth/10), image.Pt(39, 39)
	tries := []bool{true, false} // equalised?
	if quick {
		maxEye = image.Pt(faceNormWidth/3, faceNormWidth/3)
		tries = []bool{false}
	}
	order := []*gocv.CascadeClassifier{&a.eyes}
	if a.plainEyesLoaded {
		order = []*gocv.CascadeClassifier{&a.plainEyes, &a.eyes}
	}
	for _, equalised := range tries {
		src := a.faceGrey
		if equalised {
			if !a.eyeEqDone {
				gocv.EqualizeHist(a.faceGrey, &a.eyeEq)
				a.eyeEqDone = true
			}
			src = a.eyeEq
		}
		for _, c := range order {
			sub := src.Region(r)
			found := c.DetectMultiScaleWithParams(sub, 1.1, 2, 0, minEye, maxEye)
			sub.Close()
			if len(found) > 0 {
				best := found[0]
				for _, e := range found[1:] {
					if e.Dx() > best.Dx() {
						best = e
					}
				}
				return best.Add(r.Min), true
			}
		}
	}
	return image.Rectangle{}, false
}

// frontalFromEyes scores the best pair of eye boxes (face scaled to width w).
func frontalFromEyes(eyes []image.Rectangle, w int) (n int, frontal, roll float64) {
	if len(eyes) == 0 {
		return 0, 0, 0
	}
	if len(eyes) == 1 {
		return 1, 0.2, 0
	}
	best := -1.0
	for i := range eyes {
		for j := range eyes {
			l, r := eyes[i], eyes[j]
			lc, rc := centre(l), centre(r)
			if lc.X >= rc.X {
				continue
			}
			s, ro := eyePairScore(lc, rc, float64(w))
			sizeRatio := math.Min(float64(l.Dx()), float64(r.Dx())) / math.Max(float64(l.Dx()), float64(r.Dx()))
			s *= 0.7 + 0.3*sizeRatio
			if s > best {
				best, roll = s, ro
			}
		}
	}
	if best < 0 {
		return 1, 0.2, 0
	}
	return 2, round3(best), round3(roll)
}

// eyePairScore: eyes level, symmetric about the face centre, at a frontal
// face's spacing (about 0.3-0.55 of the face width).
func eyePairScore(l, r point, w float64) (s, roll float64) {
	dx, dy := r.X-l.X, r.Y-l.Y
	dist := math.Hypot(dx, dy)
	roll = math.Atan2(dy, dx) * 180 / math.Pi
	spacing := dist / w
	mid := (l.X + r.X) / 2
	sym := 1 - math.Min(1, math.Abs(mid-w/2)/(0.15*w))
	var sp float64
	switch {
	case spacing < 0.2 || spacing > 0.7:
		sp = 0
	case spacing < 0.3:
		sp = (spacing - 0.2) / 0.1
	case spacing > 0.55:
		sp = (0.7 - spacing) / 0.15
	default:
		sp = 1
	}
	return sym * sp, roll
}

// frontalFromLandmarks uses YuNet's eyes and nose: a profile has its eyes
// bunched together and the nose outside them.
func frontalFromLandmarks(f Face) (frontal, roll float64) {
	re, le, nose := toPoint(f.Landmarks[0]), toPoint(f.Landmarks[1]), toPoint(f.Landmarks[2])
	w := float64(f.Box.Dx())
	dx, dy := le.X-re.X, le.Y-re.Y
	dist := math.Hypot(dx, dy)
	if dist < 1 || w < 1 {
		return 0, 0
	}
	// Roll: the eye line and the eyes-to-mouth axis, averaged (YuNet's eye
	// landmarks alone under-read a rolled head).
	mouth := point{float64(f.Landmarks[3].X+f.Landmarks[4].X) / 2, float64(f.Landmarks[3].Y+f.Landmarks[4].Y) / 2}
	eyeMid := point{(re.X + le.X) / 2, (re.Y + le.Y) / 2}
	roll = math.Atan2(dy, dx) * 180 / math.Pi
	if ax, ay := mouth.X-eyeMid.X, mouth.Y-eyeMid.Y; ay > 0 {
		roll = (roll + math.Atan2(-ax, ay)*180/math.Pi) / 2
	}
	spacing := dist / w
	// Nose position along the eye line, 0.5 = midway between the eyes.
	t := ((nose.X-re.X)*dx + (nose.Y-re.Y)*dy) / (dist * dist)
	// A frontal face has its nose within about 10% of the midpoint.
	noseSym := 1 - math.Min(1, math.Max(0, math.Abs(t-0.5)-0.1)/0.4)
	var sp float64
	switch {
	case spacing < 0.25:
		sp = 0
	case spacing < 0.35:
		sp = (spacing - 0.25) / 0.1
	default:
		sp = 1
	}
	return round3(sp * noseSym), round3(roll)
}

type point struct{ X, Y float64 }

func centre(r image.Rectangle) point {
	return point{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}
func toPoint(p image.Point) point { return point{float64(p.X), float64(p.Y)} }
func round3(v float64) float64    { return math.Round(v*1000) / 1000 }
