package capture

import (
	"image"
	"math"
	"slices"

	"gocv.io/x/gocv"
)

// FaceDetail is how much fine detail the face in box of an 8-bit frame
// (grey, BGR or BGRA) shows, for comparing a face with itself a moment
// later: the liveness challenge's first frame against the face the
// selection chose (Selection.Detail). The inner face is scaled to 160 px
// wide; its fine detail is the variance of its Laplacian after a
// Gaussian of detailSigma, less the variance of the band's bulk (the
// median absolute response, as a standard deviation), and that is
// divided by the variance of its shading (a Gaussian of
// detailCoarseSigma):
//   - motion blur of a few pixels takes the fine detail away and leaves
//     the shading nearly as it was;
//   - a change of contrast (exposure settling, the kiosk's screen lighting
//     the face) scales both and leaves the ratio;
//   - a webcam's noise fills the band's bulk everywhere, most visibly on
//     a blurred face, while a face's detail is its edges, which are few:
//     taking the bulk out removes the noise whatever the camera's
//     compression and demosaicing left of it, which a model of white
//     noise at the frame's own pixels did not (a review, fourteenth
//     round: MJPEG at quality 85 or less hid most of it).
//
// Quality.Sharpness, the selection's own measure, does none of this: a
// contrast of 0.7 reads as half its sharpness, and noise hides blur.
// NaN when box is not a face inside the frame, is too small or too
// narrow to measure, or the frame is not 8-bit.
func FaceDetail(frame gocv.Mat, box image.Rectangle) float64 {
	switch frame.Type() {
	case gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC3, gocv.MatTypeCV8UC4:
	default:
		return math.NaN()
	}
	if !box.In(image.Rect(0, 0, frame.Cols(), frame.Rows())) || box.Dx() < 8 || box.Dy() < 8 ||
		box.Dy()*faceNormWidth < minDetailHeight*box.Dx() {
		return math.NaN()
	}
	d := newDetailMats()
	defer d.close()
	fine, bulk, coarse := d.bands(frame, box)
	fine = math.Max(fine-bulk, minDetailKept*fine)
	return fine / math.Max(coarse, minShadingVariance)
}

const (
	// detailSigma (px at 160 px wide) leaves out the finest scale, where
	// a camera's noise is strongest, and keeps the scale a smear of a few
	// pixels takes away. It and the shading's detailCoarseSigma were
	// chosen on the evaluation's renders of seeds 0–1 and the real
	// recordings (docs/liveness.md, fourteenth round).
	detailSigma       = 0.6
	detailCoarseSigma = 3.0
	// minShadingVariance: a face with less shading than 5 grey levels is
	// too flat to measure; it is read as having that much.
	minShadingVariance = 25.0
	// minDetailKept: taking out the bulk never leaves less than 5 % of
	// the fine detail (a face of pure noise reads as that little).
	minDetailKept = 0.05
	// minDetailHeight is the least height (px at 160 px wide) of a face
	// FaceDetail measures: its inner part must hold a few rows.
	minDetailHeight = 24
)

// detailMats are FaceDetail's scratch images.
type detailMats struct {
	scaled, grey, float, smooth, lap, coarse, mean, stddev gocv.Mat
}

func newDetailMats() *detailMats {
	return &detailMats{gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()}
}

func (d *detailMats) close() {
	for _, m := range []*gocv.Mat{&d.scaled, &d.grey, &d.float, &d.smooth, &d.lap, &d.coarse, &d.mean, &d.stddev} {
		m.Close()
	}
}

// bands is the variance of the fine detail and of its bulk, and the
// variance of the shading, of the inner face in box (normalised as the
// selection measures faces).
func (d *detailMats) bands(frame gocv.Mat, box image.Rectangle) (fine, bulk, coarse float64) {
	normaliseFace(frame, box, &d.scaled, &d.grey)
	in := d.grey.Region(innerRect(d.grey.Cols(), d.grey.Rows()))
	in.ConvertTo(&d.float, gocv.MatTypeCV32F)
	in.Close()
	gocv.GaussianBlur(d.float, &d.smooth, image.Pt(0, 0), detailSigma, detailSigma, gocv.BorderReflect101)
	gocv.Laplacian(d.smooth, &d.lap, gocv.MatTypeCV32F, 1, 1, 0, gocv.BorderReflect101)
	fine = d.variance(d.lap)
	bulk = robustVariance(d.lap)
	gocv.GaussianBlur(d.float, &d.coarse, image.Pt(0, 0), detailCoarseSigma, detailCoarseSigma, gocv.BorderReflect101)
	return fine, bulk, d.variance(d.coarse)
}

func (d *detailMats) variance(m gocv.Mat) float64 {
	gocv.MeanStdDev(m, &d.mean, &d.stddev)
	sd := d.stddev.GetDoubleAt(0, 0)
	return sd * sd
}

// robustVariance is the variance a normal distribution with m's median
// absolute value would have (m: CV_32F, continuous, its mean about 0):
// the bulk of a band-pass response, blind to the few large values of
// edges.
func robustVariance(m gocv.Mat) float64 {
	v, err := m.DataPtrFloat32()
	if err != nil || len(v) == 0 {
		return 0
	}
	abs := make([]float32, len(v))
	for i, x := range v {
		abs[i] = float32(math.Abs(float64(x)))
	}
	slices.Sort(abs)
	s := float64(abs[len(abs)/2]) / 0.6745
	return s * s
}

// innerRect is the part of a w×h normalised face that is measured: less
// hair and background.
func innerRect(w, h int) image.Rectangle {
	return image.Rect(w/5, h/6, w*4/5, h*5/6)
}
