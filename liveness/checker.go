package liveness

import (
	"fmt"
	"image"
	"math"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
)

const (
	trackWidth  = 128  // the face is tracked scaled to this width (fixed CPU cost)
	roiMargin   = 0.6  // the tracked region is the face box grown by this many face widths on each side
	maxCorners  = 80   // goodFeaturesToTrack
	fbMaxError  = 0.7  // pixels (tracking scale): forward-backward disagreement that drops a point
	lkWindow    = 15   // pixels (tracking scale): the Lucas-Kanade patch
	centralHalf = 0.16 // |x - centre| < this many face widths: the nose column
	outerHalf   = 0.24 // |x - centre| > this: the outline
)

// pt is a point in tracking coordinates (scaled region of interest).
type pt struct{ X, Y float64 }

// frameObs is one analysed frame: where every seed point is now.
type frameObs struct {
	at    time.Duration
	pos   []pt
	alive []bool
	yawLM float64 // landmark yaw proxy minus the first frame's; NaN without landmarks
	// step is the points' median motion since the frame before (tracking
	// px): the smear of a frame exposed while the face or picture moved.
	step pt
	// img is the frame, grey at tracking scale: the 3-D structure is
	// measured on it directly (retrack), not only on the chained tracks.
	img gocv.Mat
	// sharp is the face's sharpness once read (faceSharpness): sharpOK
	// whether it could be, sharpRead whether it was tried.
	sharp              [4]float64
	sharpOK, sharpRead bool
}

// lkCriteria is shared: gocv has no Close for a TermCriteria, so one per
// checker would leak a little C memory per session. Read-only.
var lkCriteria = gocv.NewTermCriteria(gocv.Count|gocv.EPS, 20, 0.03)

// Checker runs one liveness check over a sequence of frames: Start with the
// first frame and the chosen face, Add the following frames in order, then
// Result. Not safe for concurrent use; Close releases its OpenCV memory.
type Checker struct {
	cfg  Config
	mode Mode
	dir  Direction

	started bool
	roi     image.Rectangle // in source pixels, fixed at Start
	scale   float64         // source → tracking
	faceW   float64         // face width in tracking pixels
	cx, cy  float64         // face centre in tracking pixels
	nose    int             // index of the tracked nose landmark, -1 without
	lm0Yaw  float64
	frames  []frameObs
	// geomAt is len(frames) when Done last tried the verdict (landmarks only).
	geomAt int
	// refusedEarly: the verdict when the tracked points confirmed the turn
	// was a refusal; later verdicts need laterLookMargin (landmarks only).
	refusedEarly bool
	// startSharpness is the first frame's face detail over the chosen
	// face's (Cues.StartSharpness), 0 when unknown.
	startSharpness float64
	// startFaceDistance is the first frame's face texture against the
	// chosen face's (Cues.StartFaceDistance), 0 when unknown;
	// startFaceUnread: known, but no box there could be read.
	startFaceDistance float64
	startFaceUnread   bool
	// series caches yawSeries(frames) until the next frame: the stop
	// rule (Done) and a watcher's Turn both read it after each frame.
	series   []float64
	seriesLM bool
	// fits caches planarity by (reference, later frame) until Start: a
	// fit reads only those frames, which never change once added, and
	// with landmarks Done's verdicts and the final one measure the same
	// frames again.
	fits map[[2]int]cachedFit

	prev, cur, region, work   gocv.Mat
	prevPts, nextPts, backPts gocv.Mat
	status, backStatus, errs  gocv.Mat
}

// NewChecker returns a checker for one challenge (mode ModeChallenge with
// dir Left or Right) or for the passive cues (ModePassive, dir ignored).
func NewChecker(cfg Config, mode Mode, dir Direction) (*Checker, error) {
	switch mode {
	case ModeChallenge:
		if _, err := ParseDirection(string(dir)); err != nil {
			return nil, err
		}
	case ModePassive:
	default:
		return nil, fmt.Errorf("liveness: mode %q cannot run a check", mode)
	}
	return &Checker{
		cfg: cfg.withDefaults(), mode: mode, dir: dir, nose: -1,
		prev: gocv.NewMat(), cur: gocv.NewMat(), work: gocv.NewMat(), region: gocv.NewMat(),
		prevPts: gocv.NewMat(), nextPts: gocv.NewMat(), backPts: gocv.NewMat(),
		status: gocv.NewMat(), backStatus: gocv.NewMat(), errs: gocv.NewMat(),
	}, nil
}

// Close releases the OpenCV memory.
func (c *Checker) Close() error {
	c.dropFrames()
	for _, m := range []*gocv.Mat{&c.prev, &c.cur, &c.work, &c.region, &c.prevPts, &c.nextPts, &c.backPts, &c.status, &c.backStatus, &c.errs} {
		m.Close()
	}
	return nil
}

// dropFrames closes the frames' images and forgets the frames.
func (c *Checker) dropFrames() {
	for i := range c.frames {
		c.frames[i].img.Close()
	}
	c.frames = c.frames[:0]
	c.fits = nil
}

// prepare cuts the region of interest out of frame, in grey at tracking scale, into dst.
func (c *Checker) prepare(frame gocv.Mat, dst *gocv.Mat) error {
	if frame.Empty() || !c.roi.In(image.Rect(0, 0, frame.Cols(), frame.Rows())) {
		return fmt.Errorf("%w: frame %dx%d, region %v", ErrBadFrame, frame.Cols(), frame.Rows(), c.roi)
	}
	sub := frame.Region(c.roi)
	defer sub.Close()
	switch frame.Channels() {
	case 1:
		sub.CopyTo(&c.work)
	case 3:
		gocv.CvtColor(sub, &c.work, gocv.ColorBGRToGray)
	case 4:
		gocv.CvtColor(sub, &c.work, gocv.ColorBGRAToGray)
	default:
		return fmt.Errorf("%w: %d channels", ErrBadFrame, frame.Channels())
	}
	sz := image.Pt(int(math.Round(float64(c.roi.Dx())*c.scale)), int(math.Round(float64(c.roi.Dy())*c.scale)))
	gocv.Resize(c.work, dst, sz, 0, 0, gocv.InterpolationArea)
	return nil
}

// Start takes the frame at which the challenge was issued (at is its time,
// usually 0), the chosen face box and, with YuNet, its landmarks (nil
// without). It finds the points to track on the face.
func (c *Checker) Start(frame gocv.Mat, face image.Rectangle, lm *Landmarks, at time.Duration) error {
	fb := image.Rect(0, 0, frame.Cols(), frame.Rows())
	if frame.Empty() || face.Empty() || !face.In(fb) {
		return fmt.Errorf("%w: face %v in frame %v", ErrBadFrame, face, fb.Size())
	}
	c.startSharpness = 0
	if c.judgesStart() {
		c.startSharpness = math.Min(nanZero(capture.FaceDetail(frame, face)/c.cfg.StartDetail), maxStartShare)
	}
	c.startFaceDistance, c.startFaceUnread = 0, false
	if c.judgesFace() {
		var ok bool
		c.startFaceDistance, ok = startFaceDistance(frame, face, c.cfg.StartFace)
		c.startFaceUnread = !ok
	}
	m := int(roiMargin * float64(face.Dx()))
	c.roi = image.Rect(face.Min.X-m, face.Min.Y-m, face.Max.X+m, face.Max.Y+m).Intersect(fb)
	c.scale = math.Min(1, trackWidth/float64(face.Dx()))
	if err := c.prepare(frame, &c.prev); err != nil {
		return err
	}
	toTrack := func(p image.Point) pt {
		return pt{float64(p.X-c.roi.Min.X) * c.scale, float64(p.Y-c.roi.Min.Y) * c.scale}
	}
	c.faceW = float64(face.Dx()) * c.scale
	ctr := toTrack(image.Pt((face.Min.X+face.Max.X)/2, (face.Min.Y+face.Max.Y)/2))
	c.cx, c.cy = ctr.X, ctr.Y

	// Corners inside the face box, inset so that background points are rare.
	tl := toTrack(face.Min)
	inner := image.Rect(int(tl.X+0.1*c.faceW), int(tl.Y+0.08*c.faceW),
		int(tl.X+0.9*c.faceW), int(tl.Y+float64(face.Dy())*c.scale*0.95)).Intersect(image.Rect(0, 0, c.prev.Cols(), c.prev.Rows()))
	var seeds []pt
	if !inner.Empty() {
		sub := c.prev.Region(inner)
		corners := gocv.NewMat()
		gocv.GoodFeaturesToTrack(sub, &corners, maxCorners, 0.01, math.Max(3, c.faceW/16))
		sub.Close()
		if v, err := corners.DataPtrFloat32(); err == nil {
			for i := 0; i+1 < len(v); i += 2 {
				seeds = append(seeds, pt{float64(v[i]) + float64(inner.Min.X), float64(v[i+1]) + float64(inner.Min.Y)})
			}
		}
		corners.Close()
	}
	c.lm0Yaw = math.NaN()
	if lm != nil {
		for i, p := range lm {
			if i == 2 {
				c.nose = len(seeds)
			}
			seeds = append(seeds, toTrack(p))
		}
		c.lm0Yaw = landmarkYaw(lm, face.Dx())
	}
	alive := make([]bool, len(seeds))
	for i := range alive {
		alive[i] = true
	}
	c.dropFrames()
	c.frames = append(c.frames, frameObs{at: at, pos: seeds, alive: alive, yawLM: 0, img: c.prev.Clone()})
	c.series = nil
	c.geomAt, c.refusedEarly = 0, false
	if lm == nil {
		c.frames[0].yawLM = math.NaN()
	}
	c.started = true
	return nil
}

// blurredStart: the face in the first frame kept less than
// minStartSharpness of the chosen face's detail. At a gate the capture
// chose its face a moment before, and the worker, who has not seen the
// arrow yet, still stands as then; a picture held still for the capture
// and shaken, vibrated or twisted from just before the prompt is blurred
// there, and the measures at the turn would compare smeared patches with
// sharp ones, which on a print read as a head's parallax. A picture kept
// moving through the capture is not caught: the chosen face is as
// blurred (docs/liveness-rounds.md, thirteenth and fourteenth rounds).
func (c *Checker) blurredStart() bool {
	return c.judgesStart() && c.startSharpness < minStartSharpness
}

// changedFace: the face in the first frame reads as another face than
// the one the capture chose. A picture of the worker held in front of the
// attacker's face while the capture chooses it, and taken away before
// the prompt so that his own head answers, starts the challenge on his
// face (docs/liveness.md, "Threat model").
func (c *Checker) changedFace() bool {
	return c.judgesFace() && !c.startFaceUnread && c.startFaceDistance > maxStartFaceDistance
}

// unreadFace: the chosen face's texture is known and the first frame's
// face cannot be read to compare it (too small or too narrow a box): the
// check cannot run (no_face) rather than take it for the same face.
func (c *Checker) unreadFace() bool {
	return c.judgesFace() && c.startFaceUnread
}

// startFaceDistance is how far the face in box reads from the chosen
// face's texture: the least distance over the box and the boxes shifted
// by startFaceShift of its size each way and scaled by 1±startFaceShift,
// since a detector's box a moment later is not where it was on the same
// face (Haar's jumps by a tenth of a face), and a misplaced box reads a
// face as another. ok is false when no box can be read (too small a face).
func startFaceDistance(frame gocv.Mat, box image.Rectangle, chosen capture.Signature) (d float64, ok bool) {
	w, h := float64(box.Dx()), float64(box.Dy())
	cx, cy := float64(box.Min.X)+w/2, float64(box.Min.Y)+h/2
	boxes := make([]image.Rectangle, 0, 27)
	for _, scale := range []float64{1 - startFaceShift, 1, 1 + startFaceShift} {
		for _, dx := range []float64{-startFaceShift, 0, startFaceShift} {
			for _, dy := range []float64{-startFaceShift, 0, startFaceShift} {
				x0, y0 := cx+dx*w-scale*w/2, cy+dy*h-scale*h/2
				boxes = append(boxes, image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x0+scale*w)), int(math.Round(y0+scale*h))))
			}
		}
	}
	best := math.Inf(1)
	for _, sig := range capture.FaceSignatures(frame, boxes) {
		if d, err := chosen.Distance(sig); err == nil {
			best = math.Min(best, d) // a box out of the frame has none
		}
	}
	if math.IsInf(best, 1) {
		return 0, false
	}
	return best, true
}

// startFaceShift is the step of startFaceDistance's boxes, in face sizes.
const startFaceShift = 0.08

// judgesFace: a challenge that knows the chosen face's texture.
func (c *Checker) judgesFace() bool {
	return c.mode == ModeChallenge && c.cfg.StartFace.Valid() == nil
}

// judgesStart: a challenge that knows the chosen face's detail.
func (c *Checker) judgesStart() bool {
	return c.mode == ModeChallenge && KnownDetail(c.cfg.StartDetail)
}

// KnownDetail: v is a face's capture.FaceDetail. Faces read about
// 0.01-1; a value outside minDetail-maxDetail (an edited clip's .json,
// a face with no shading at all) is no face's, and unknown.
func KnownDetail(v float64) bool { return v >= minDetail && v <= maxDetail }

const (
	minDetail = 1e-6
	maxDetail = 1e4
)

// maxStartShare caps Cues.StartSharpness: a first frame far sharper than
// the chosen face says nothing more, and the cue must stay a number in
// JSON.
const maxStartShare = 100.0

// minStartSharpness is the least share of the chosen face's fine detail
// (capture.FaceDetail) the first frame's face must keep: half, a round
// number taken in the thirteenth round after measuring the share at every
// moment of the real recordings and in the first frames of the renders
// of seeds 0-1, before any evaluation ran with it; kept when the
// fourteenth round changed the measure (docs/liveness-rounds.md).
const minStartSharpness = 0.5

// maxStartFaceDistance is the most the first frame's face may read from
// the chosen face's texture (startFaceDistance): 100 real windows of the
// recordings and clips read 1.4-7.5 from the face a gate's selection
// chose in the 600 ms before them, a print of another face (photos from
// other cameras) held over the worker's for the selection 6.9-14.4 (9 of
// 303 at 7.75 or less); set above every real window. Two people in one
// photo read 4.8-5.4: it tells pictures apart more than people
// (docs/liveness-rounds.md, twenty-seventh round).
const maxStartFaceDistance = 7.75

// landmarkYaw is the nose's horizontal offset from the mean of the eyes and
// mouth corners, in face widths (positive: towards the image's right).
func landmarkYaw(lm *Landmarks, faceW int) float64 {
	others := float64(lm[0].X+lm[1].X+lm[3].X+lm[4].X) / 4
	return (float64(lm[2].X) - others) / float64(faceW)
}

// Add tracks the points into the next frame, taken at time at after the
// challenge; lm are this frame's landmarks (nil without). Frames after
// Config.Window are ignored.
func (c *Checker) Add(frame gocv.Mat, lm *Landmarks, at time.Duration) error {
	if !c.started {
		return ErrNotStarted
	}
	if at-c.frames[0].at > c.cfg.Window {
		return nil
	}
	if err := c.prepare(frame, &c.cur); err != nil {
		return err
	}
	last := c.frames[len(c.frames)-1]
	obs := frameObs{at: at, pos: make([]pt, len(last.pos)), alive: make([]bool, len(last.pos)), yawLM: math.NaN()}
	if lm != nil && !math.IsNaN(c.lm0Yaw) {
		obs.yawLM = landmarkYaw(lm, int(c.faceW/c.scale)) - c.lm0Yaw
	}
	var idx []int
	var from []pt
	for i, a := range last.alive {
		if a {
			idx, from = append(idx, i), append(from, last.pos[i])
		}
	}
	to, found := c.trackBothWays(c.prev, c.cur, from, nil)
	var dx, dy []float64
	for k, i := range idx {
		if found[k] {
			obs.pos[i], obs.alive[i] = to[k], true
			dx, dy = append(dx, to[k].X-from[k].X), append(dy, to[k].Y-from[k].Y)
		}
	}
	obs.step = pt{median(dx), median(dy)}
	obs.img = c.cur.Clone()
	c.frames = append(c.frames, obs)
	c.series = nil
	c.prev, c.cur = c.cur, c.prev
	return nil
}

// trackBothWays tracks the points from (in image a) into image b with
// pyramidal LK, starting from hint when given (else from where they
// are), and back again: a point that does not come home within
// fbMaxError, or that either pass lost, is not found. The checker's point
// buffers are reused (not safe for concurrent use, like the Checker).
func (c *Checker) trackBothWays(a, b gocv.Mat, from, hint []pt) (to []pt, found []bool) {
	n := len(from)
	to, found = make([]pt, n), make([]bool, n)
	if n == 0 {
		return to, found
	}
	setPoints(&c.prevPts, from)
	flags := 0
	if hint != nil {
		setPoints(&c.nextPts, hint)
		flags = lkInitialFlow
	}
	gocv.CalcOpticalFlowPyrLKWithParams(a, b, c.prevPts, c.nextPts, &c.status, &c.errs,
		image.Pt(lkWindow, lkWindow), 3, lkCriteria, flags, 1e-4)
	// Backwards from where they landed, no hint: a point that does not
	// come home is unreliable.
	gocv.CalcOpticalFlowPyrLKWithParams(b, a, c.nextPts, c.backPts, &c.backStatus, &c.errs,
		image.Pt(lkWindow, lkWindow), 3, lkCriteria, 0, 1e-4)
	next, _ := c.nextPts.DataPtrFloat32()
	back, _ := c.backPts.DataPtrFloat32()
	st, _ := c.status.DataPtrUint8()
	bst, _ := c.backStatus.DataPtrUint8()
	if len(next) < 2*n || len(back) < 2*n || len(st) < n || len(bst) < n {
		return to, found
	}
	for k, p := range from {
		fb := math.Hypot(float64(back[2*k])-p.X, float64(back[2*k+1])-p.Y)
		to[k] = pt{float64(next[2*k]), float64(next[2*k+1])}
		found[k] = st[k] == 1 && bst[k] == 1 && fb < fbMaxError
	}
	return to, found
}

// lkInitialFlow is OpenCV's OPTFLOW_USE_INITIAL_FLOW: the search starts
// from the positions already in nextPts.
const lkInitialFlow = 4

// setPoints writes pos into m as an Nx1 CV_32FC2 matrix.
func setPoints(m *gocv.Mat, pos []pt) {
	if m.Rows() != len(pos) || m.Type() != gocv.MatTypeCV32FC2 {
		m.Close()
		*m = gocv.NewMatWithSize(len(pos), 1, gocv.MatTypeCV32FC2)
	}
	v, _ := m.DataPtrFloat32()
	for k, p := range pos {
		v[2*k], v[2*k+1] = float32(p.X), float32(p.Y)
	}
}
