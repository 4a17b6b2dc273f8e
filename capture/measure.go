package capture

import (
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// Thresholds are the quality limits a face must pass.
type Thresholds struct {
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

// DefaultThresholds are the limits used for zero fields.
var DefaultThresholds = Thresholds{
	MinFaceWidth:  80,
	MinSharpness:  150,
	MinBrightness: 55,
	MaxBrightness: 215,
	MinFrontal:    0.5,
	MaxRoll:       40,
	SimilarSize:   0.7,
	Excellent:     0.85,
}

func (g Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds
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

// eyeCheck is the result of the eye search on a YuNet face.
type eyeCheck struct {
	n             int
	frontal, roll float64
	age           int                         // frames it has been reused for
	look          [eyeLookPx * eyeLookPx]byte // the face in grey, eyeLookPx square
}

// evaluate measures every face, applies the thresholds and picks the best.
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
		if !real && f.Box.Dx() >= a.thresholds.MinFaceWidth {
			continue
		}
		q.Steady = round3(a.steadiness(f.Box))
		c := Candidate{Face: f, Quality: q, eyes: eyes}
		c.Reasons = a.failedThresholds(c, frameRect)
		c.Score = score(q, a.thresholds)
		an.Candidates = append(an.Candidates, c)
	}
	if len(an.Candidates) == 0 {
		return an
	}
	if !a.cfg.AllowMultiple && len(an.Candidates) > 1 {
		w0 := float64(an.Candidates[0].Face.Box.Dx())
		for i := 1; i < len(an.Candidates); i++ {
			if float64(an.Candidates[i].Face.Box.Dx()) >= a.thresholds.SimilarSize*w0 {
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

// failedThresholds lists the failed thresholds of one face, most basic first.
func (a *Analyzer) failedThresholds(c Candidate, frame image.Rectangle) []Reason {
	var r []Reason
	g := a.thresholds
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
		best = math.Max(best, IoU(b, t))
	}
	return best
}

// IoU is the intersection over union of two boxes (0 when apart).
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := float64(in.Dx() * in.Dy())
	return ia / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia)
}

// score combines the measurements into 0..1.
func score(q Quality, g Thresholds) float64 {
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

	nh := normaliseFace(frame, b, &a.faceBGR, &a.faceGrey)
	q.Brightness, q.Sharpness = innerFace(a.faceGrey, &a.lap, &a.mean, &a.stddev)

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
			if a.locateOnly {
				break // one eye tells a face from a false detection
			}
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
		if i >= len(a.trackEyes) || IoU(b, t) < eyeSteadyIoU || a.trackEyes[i].age >= eyeReuse {
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

// normaliseFace scales frame's box b (inside the frame, at least 4 px) to
// faceNormWidth wide into scaled, and its grey levels into grey (BGR, or
// grey or BGRA); it returns the scaled height.
func normaliseFace(frame gocv.Mat, b image.Rectangle, scaled, grey *gocv.Mat) int {
	roi := frame.Region(b)
	nh := max(1, b.Dy()*faceNormWidth/b.Dx())
	gocv.Resize(roi, scaled, image.Pt(faceNormWidth, nh), 0, 0, gocv.InterpolationArea)
	roi.Close()
	toGrey(*scaled, grey)
	return nh
}

// toGrey puts src's grey levels into dst: a copy of a grey image, or
// BGRA's or BGR's (any other channel count is read as BGR).
func toGrey(src gocv.Mat, dst *gocv.Mat) {
	switch src.Channels() {
	case 1:
		src.CopyTo(dst)
	case 4:
		gocv.CvtColor(src, dst, gocv.ColorBGRAToGray)
	default:
		gocv.CvtColor(src, dst, gocv.ColorBGRToGray)
	}
}

// innerFace is the exposure (mean grey level) and sharpness (variance of
// the Laplacian) of a normalised face's inner part: less hair and
// background. lap, mean and stddev are scratch.
func innerFace(grey gocv.Mat, lap, mean, stddev *gocv.Mat) (brightness, sharpness float64) {
	in := grey.Region(innerRect(faceNormWidth, grey.Rows()))
	defer in.Close()
	brightness = round3(in.Mean().Val1)
	gocv.Laplacian(in, lap, gocv.MatTypeCV16S, 3, 1, 0, gocv.BorderDefault)
	gocv.MeanStdDev(*lap, mean, stddev)
	sd := stddev.GetDoubleAt(0, 0)
	return brightness, round3(sd * sd)
}
