package liveness

import (
	"image"
	"math"

	"gocv.io/x/gocv"
)

// sharpnessDirections are the directions sharpness is compared along:
// a smear removes the fine texture along its own direction only.
var sharpnessDirections = [4][4]float32{
	{0, 0, -1, 1}, // across columns
	{0, -1, 0, 1}, // across rows
	{-1, 0, 0, 1}, // diagonal
	{0, -1, 1, 0}, // the other diagonal
}

// blurMismatch is sharpnessMismatch of the warped first frame and the
// later one over box, where neither is clipped (clippedLater: the later
// frame's clipped patches, or empty): a glare's clipped core has no
// texture, and its edge is smooth, which reads as blur.
func blurMismatch(warpedFirst, later, clippedLater gocv.Mat, box image.Rectangle) float64 {
	keep := clippedPatches(warpedFirst)
	defer keep.Close()
	switch {
	case keep.Empty() && clippedLater.Empty():
	case keep.Empty():
		clippedLater.CopyTo(&keep)
	case !clippedLater.Empty():
		gocv.BitwiseOr(keep, clippedLater, &keep)
	}
	if !keep.Empty() {
		gocv.BitwiseNot(keep, &keep)
	}
	return sharpnessMismatch(warpedFirst, later, keep, box)
}

// sharpnessMismatch is how much blurrier the later frame b is than the
// first frame warped onto it (a) over box, where keep is non-zero (empty:
// everywhere), once matchSmear has given each the other's smear: the
// largest ln of the ratio of their sharpness along one direction (0 or
// less: b is nowhere blurrier). A smear matchSmear cannot model (a print
// vibrated or twisted in its own plane during the exposure, while the
// points' net motion between frames stays small) leaves the later frame
// blurrier, and LK matching its patches against sharp ones lands off
// their place: on a plane that read as a head's parallax
// (docs/liveness-rounds.md, ninth round). Sharpness along a direction is the
// energy of the pixel differences along it over that of the texture at a
// coarser scale, so that a shadow or a glare scaling the contrast does not
// count, the frames smoothed a little first (sharpnessFineSigma). NaN when
// box holds no texture to compare.
func sharpnessMismatch(a, b, keep gocv.Mat, box image.Rectangle) float64 {
	bounds := image.Rect(0, 0, a.Cols(), a.Rows()).Intersect(image.Rect(0, 0, b.Cols(), b.Rows()))
	box = box.Intersect(bounds)
	if box.Dx() < lkWindow || box.Dy() < lkWindow {
		return math.NaN()
	}
	w := gocv.NewMat()
	defer w.Close()
	if !keep.Empty() {
		k := keep.Region(box)
		k.ConvertToWithParams(&w, gocv.MatTypeCV32F, 1.0/255, 0)
		k.Close()
	}
	sa, oka := directionalSharpness(a, box, w)
	sb, okb := directionalSharpness(b, box, w)
	if !oka || !okb {
		return math.NaN()
	}
	worst := math.Inf(-1)
	for i := range sa {
		worst = math.Max(worst, math.Log(sa[i]/sb[i]))
	}
	return worst
}

// directionalSharpness is, for each of sharpnessDirections, the mean
// squared pixel difference along it over img's box smoothed by
// sharpnessFineSigma, divided by the mean squared band-pass texture
// (Gaussians of sharpnessCoarseSigma and three times that), both weighted
// by w (box's size, CV_32F; empty: all alike): ok is false where either
// is zero.
func directionalSharpness(img gocv.Mat, box image.Rectangle, w gocv.Mat) (s [4]float64, ok bool) {
	sub := img.Region(box)
	f, lo, hi, d := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer closeMats(&sub, &f, &lo, &hi, &d)
	sub.ConvertTo(&f, gocv.MatTypeCV32F)
	gocv.GaussianBlur(f, &lo, image.Pt(0, 0), sharpnessCoarseSigma, sharpnessCoarseSigma, gocv.BorderReflect)
	gocv.GaussianBlur(f, &hi, image.Pt(0, 0), 3*sharpnessCoarseSigma, 3*sharpnessCoarseSigma, gocv.BorderReflect)
	gocv.Subtract(lo, hi, &lo)
	coarse := weightedMeanSquare(lo, w)
	if !(coarse > 0) {
		return s, false
	}
	gocv.GaussianBlur(f, &f, image.Pt(0, 0), sharpnessFineSigma, sharpnessFineSigma, gocv.BorderReflect)
	for i, k := range sharpnessDirections {
		kernel := gocv.NewMatWithSize(2, 2, gocv.MatTypeCV32F)
		for j, v := range k {
			kernel.SetFloatAt(j/2, j%2, v)
		}
		gocv.Filter2D(f, &d, -1, kernel, image.Pt(0, 0), 0, gocv.BorderReflect)
		kernel.Close()
		fine := weightedMeanSquare(d, w)
		if !(fine > 0) {
			return s, false
		}
		s[i] = fine / coarse
	}
	return s, true
}

// sharpnessFineSigma is the Gaussian the frames are smoothed with before
// their pixel differences are taken (tracking px): a camera's noise and
// the bilinear warp of the first frame both sit at the finest scale and
// hid the blur; smoothed more, a twist (short smears near the face's
// centre) reads too little (docs/liveness-rounds.md, tenth round).
const sharpnessFineSigma = 0.7

// sharpnessCoarseSigma is the finer Gaussian of the band sharpness is
// measured against (tracking px): coarser than any smear matchSmear
// leaves unmatched in a frame, finer than the face's features.
const sharpnessCoarseSigma = 3

// weightedMeanSquare is the mean of m's squared values weighted by w (of
// m's size; empty: all alike); 0 when the weights are.
func weightedMeanSquare(m, w gocv.Mat) float64 {
	sq := gocv.NewMat()
	defer sq.Close()
	gocv.Multiply(m, m, &sq)
	if w.Empty() {
		return sq.Mean().Val1
	}
	gocv.Multiply(sq, w, &sq)
	total := w.Sum().Val1
	if !(total > 0) {
		return 0
	}
	return sq.Sum().Val1 / total
}

// maxBlurMismatch is the most the frames at the turn may be blurrier than
// the first frame (BlurMismatch) for the check to trust its one-step
// measures: e^0.3, 1.35 times less sharp along one direction; set with the
// rule switched off on the real recordings and the wobbled renders
// (docs/liveness-rounds.md, tenth round).
const maxBlurMismatch = 0.3

// sharpReference is the frame the 3-D structure is measured from: the
// first, or a later frame before the turn that is much sharper than it
// (more than e^minReferenceGain times along some direction and nowhere
// that much blurrier; the one that gains most). Before the turn: its yaw
// is within half the amplitude a, and it is at least two frames before
// k, the frame the verdict is measured at. A print wobbled until just
// after the prompt and then turned had a blurred first frame, and LK
// matching its smeared patches against the sharp ones at the turn landed
// off their place, which on a plane read as a head's parallax; the
// unmatched-blur rule only looks the other way (docs/liveness.md, twelfth
// round). At a gate the worker has usually just held still for the
// capture, so the first frame is as sharp as any before the turn and
// stays the reference.
func (c *Checker) sharpReference(yaw []float64, a float64, k int) int {
	s0, ok := c.faceSharpness(0)
	if !ok {
		return 0
	}
	ref, best := 0, minReferenceGain
	for j := 1; j <= k-2 && j < len(yaw); j++ {
		if math.IsNaN(yaw[j]) || math.Abs(yaw[j]) >= a/2 {
			continue
		}
		s, ok := c.faceSharpness(j)
		if !ok {
			continue
		}
		gain, loss := math.Inf(-1), math.Inf(1)
		for d := range s {
			r := math.Log(s[d] / s0[d])
			gain, loss = math.Max(gain, r), math.Min(loss, r)
		}
		if gain > best && loss > -minReferenceGain {
			ref, best = j, gain
		}
	}
	return ref
}

// faceSharpness is directionalSharpness over the middle of the face in
// frame j (0.8 face widths square about its centre), read once per frame:
// with YuNet the verdict is tried every few frames. ok is false without
// the frame's image, with the box outside it, or with no texture.
func (c *Checker) faceSharpness(j int) ([4]float64, bool) {
	f := &c.frames[j]
	if f.sharpRead {
		return f.sharp, f.sharpOK
	}
	f.sharpRead = true
	if f.img.Ptr() == nil || f.img.Empty() {
		return f.sharp, false
	}
	ctr, half := c.centre(*f), 0.4*c.faceW
	box := image.Rect(int(math.Round(ctr.X-half)), int(math.Round(ctr.Y-half)), int(math.Round(ctr.X+half)), int(math.Round(ctr.Y+half)))
	if !box.In(image.Rect(0, 0, f.img.Cols(), f.img.Rows())) {
		return f.sharp, false
	}
	everywhere := gocv.NewMat()
	defer everywhere.Close()
	f.sharp, f.sharpOK = directionalSharpness(f.img, box, everywhere)
	return f.sharp, f.sharpOK
}

// minReferenceGain is how much sharper than the first frame (ln of the
// ratio along one direction) a frame before the turn must be to become
// the reference: the most maxBlurMismatch lets the later frames be
// blurrier, the same margin the other way (set before any evaluation).
const minReferenceGain = maxBlurMismatch
