package capture

import (
	"image"
	"math"
	"math/rand/v2"
	"sync"

	"gocv.io/x/gocv"
)

// FaceDetail is how much fine detail the face in box of an 8-bit frame
// (grey, BGR or BGRA) shows, for comparing a face with itself a moment
// later: the liveness challenge's first frame against the face the
// selection chose (Selection.Detail). It is the variance of the Laplacian
// of the inner face scaled to 160 px wide and smoothed by a Gaussian of
// detailSigma, over the variance of its shading smoothed by
// detailCoarseSigma, after taking out what the frame's noise adds to
// each:
//   - motion blur of a few pixels takes the fine detail away and leaves
//     the shading nearly as it was;
//   - a change of contrast (exposure settling, the kiosk's screen lighting
//     the face) scales both and leaves the ratio;
//   - a webcam's noise adds fine detail, most to a blurred face; it is
//     estimated from the frame (Immerkær's mask, robust to the face's
//     edges) and removed.
//
// Quality.Sharpness, the selection's own measure, does none of this: a
// contrast of 0.7 reads as half its sharpness, and noise hides blur.
// An MJPEG stream keeps little of a camera's noise at the finest pixels,
// where it is estimated, and more at the scale the measure sees, so
// there the noise still hides part of a blur (docs/liveness-rounds.md,
// fourteenth round). NaN when box is not a face inside the frame, is too
// small or too narrow to measure, or the frame is not 8-bit.
func FaceDetail(frame gocv.Mat, box image.Rectangle) float64 {
	if !eightBit(frame) {
		return math.NaN()
	}
	if !box.In(image.Rect(0, 0, frame.Cols(), frame.Rows())) || box.Dx() < 8 || box.Dy() < 8 ||
		box.Dy()*faceNormWidth < minDetailHeight*box.Dx() || box.Dy() > maxDetailAspect*box.Dx() {
		return math.NaN()
	}
	d := newDetailMats()
	defer d.close()
	fine, coarse := d.bands(frame, box)
	if n := d.noiseVariance(frame, box); n > 0 {
		gainFine, gainCoarse := d.noiseGains(box.Size())
		fine = math.Max(fine-n*gainFine, minDetailKept*fine)
		coarse -= n * gainCoarse
	}
	return fine / math.Max(coarse, minShadingVariance)
}

// eightBit: a grey, BGR or BGRA frame of 8-bit pixels, the frames the
// face measures read.
func eightBit(frame gocv.Mat) bool {
	switch frame.Type() {
	case gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC3, gocv.MatTypeCV8UC4:
		return true
	}
	return false
}

const (
	// detailSigma (px at 160 px wide) leaves out the finest scale, where
	// a camera's noise is strongest, and keeps the scale a smear of a few
	// pixels takes away. It, the shading's detailCoarseSigma and the noise
	// removal were chosen on the evaluation's renders of seeds 0–1 and the
	// real recordings (docs/liveness-rounds.md, fourteenth round).
	detailSigma       = 0.6
	detailCoarseSigma = 3.0
	// minShadingVariance: a face with less shading than 5 grey levels is
	// too flat to measure; it is read as having that much.
	minShadingVariance = 25.0
	// minDetailKept: removing the noise never takes more than 95 % of the
	// fine detail (an estimate above the truth would read any face as
	// having none).
	minDetailKept = 0.05
	// noiseProbeLevel is the standard deviation of the synthetic noise
	// that measures the pipeline's gain.
	noiseProbeLevel = 20.0
	// minDetailHeight is the least height (px at 160 px wide) of a face
	// FaceDetail measures: its inner part must hold a few rows (a box far
	// wider than tall left none, and OpenCV aborted the process).
	minDetailHeight = 24
	// maxDetailAspect: a box more than this many times taller than wide
	// is no face, and scaled to 160 px wide it would be thousands of rows
	// (a review: 163 ms for 8×720).
	maxDetailAspect = 4
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

// bands is the variance of the fine detail and of the shading of the
// inner face in box (normalised as the selection measures faces).
func (d *detailMats) bands(frame gocv.Mat, box image.Rectangle) (fine, coarse float64) {
	normaliseFace(frame, box, &d.scaled, &d.grey)
	in := d.grey.Region(innerRect(d.grey.Cols(), d.grey.Rows()))
	in.ConvertTo(&d.float, gocv.MatTypeCV32F)
	in.Close()
	gocv.GaussianBlur(d.float, &d.smooth, image.Pt(0, 0), detailSigma, detailSigma, gocv.BorderReflect101)
	gocv.Laplacian(d.smooth, &d.lap, gocv.MatTypeCV32F, 1, 1, 0, gocv.BorderReflect101)
	fine = d.variance(d.lap)
	gocv.GaussianBlur(d.float, &d.coarse, image.Pt(0, 0), detailCoarseSigma, detailCoarseSigma, gocv.BorderReflect101)
	return fine, d.variance(d.coarse)
}

func (d *detailMats) variance(m gocv.Mat) float64 {
	gocv.MeanStdDev(m, &d.mean, &d.stddev)
	sd := d.stddev.GetDoubleAt(0, 0)
	return sd * sd
}

// innerRect is the part of a w×h normalised face that innerFace measures:
// less hair and background.
func innerRect(w, h int) image.Rectangle {
	return image.Rect(w/5, h/6, w*4/5, h*5/6)
}

// noiseVariance estimates the variance of the frame's white noise on the
// inner face at the frame's own pixels: the median absolute response of
// Immerkær's mask (which cancels shading that is locally a plane or a
// ramp), scaled to a standard deviation. The median ignores the face's
// edges, which are few.
func (d *detailMats) noiseVariance(frame gocv.Mat, box image.Rectangle) float64 {
	r := innerRect(box.Dx(), box.Dy()).Add(box.Min)
	if r.Dx() < 3 || r.Dy() < 3 {
		return 0
	}
	roi := frame.Region(r)
	defer roi.Close()
	toGrey(roi, &d.grey)
	d.grey.ConvertTo(&d.float, gocv.MatTypeCV32F)
	k := gocv.NewMatWithSize(3, 3, gocv.MatTypeCV32F)
	defer k.Close()
	for i, v := range [9]float32{1, -2, 1, -2, 4, -2, 1, -2, 1} {
		k.SetFloatAt(i/3, i%3, v)
	}
	resp := gocv.NewMat()
	defer resp.Close()
	// The mask's centre rows and columns only: the border's reflection is
	// not noise.
	gocv.Filter2D(d.float, &resp, -1, k, image.Pt(-1, -1), 0, gocv.BorderReflect101)
	inside := resp.Region(image.Rect(1, 1, resp.Cols()-1, resp.Rows()-1))
	defer inside.Close()
	values := gocv.NewMat()
	defer values.Close()
	inside.CopyTo(&values) // continuous, for the data pointer
	v, err := values.DataPtrFloat32()
	if err != nil || len(v) == 0 {
		return 0
	}
	for i := range v {
		v[i] = float32(math.Abs(float64(v[i])))
	}
	// The mask's response to white noise of deviation s has deviation 6s;
	// the median of |N(0, 6s)| is 0.6745 × 6s.
	s := float64(nthSmallest(v, len(v)/2)) / (0.6745 * 6)
	return s * s
}

// noiseGains is how much white noise of variance 1 at a box of this size
// adds to the fine and the coarse variance of bands: measured by passing
// a fixed synthetic noise through the same steps.
func (d *detailMats) noiseGains(size image.Point) (fine, coarse float64) {
	probe := gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8UC1)
	defer probe.Close()
	px, err := probe.DataPtrUint8()
	if err != nil {
		return 0, 0
	}
	noiseProbe(px)
	fine, coarse = d.bands(probe, image.Rect(0, 0, size.X, size.Y))
	const v = noiseProbeLevel * noiseProbeLevel
	return fine / v, coarse / v
}

// noiseProbe fills px with the synthetic noise noiseGains measures with:
// the same fixed sequence for every size, so its first values are kept
// (up to maxKeptProbe) instead of drawn again at each call (about 2 ms
// of a 720p face, twice a session).
func noiseProbe(px []uint8) {
	keptProbe.Lock()
	defer keptProbe.Unlock()
	if len(px) > maxKeptProbe {
		drawProbe(rand.New(rand.NewPCG(1, 2)), px)
		return
	}
	if keptProbe.rng == nil {
		keptProbe.rng = rand.New(rand.NewPCG(1, 2))
	}
	if k := len(keptProbe.px); k < len(px) {
		keptProbe.px = append(keptProbe.px, make([]uint8, len(px)-k)...)
		drawProbe(keptProbe.rng, keptProbe.px[k:])
	}
	copy(px, keptProbe.px)
}

// maxKeptProbe bounds the noise kept: a box of 1,448×1,448 px (2 MiB).
const maxKeptProbe = 2 << 20

var keptProbe struct {
	sync.Mutex
	rng *rand.Rand // where px ends in the sequence
	px  []uint8
}

func drawProbe(rng *rand.Rand, px []uint8) {
	for i := range px {
		px[i] = uint8(max(0, min(255, math.Round(128+noiseProbeLevel*rng.NormFloat64()))))
	}
}

// nthSmallest is v[n] of v sorted (v is reordered): a quickselect, not
// a sort of the tens of thousands of noise readings of a face.
func nthSmallest(v []float32, n int) float32 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		// Median of three as the pivot; Hoare's partition.
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return v[n]
		}
	}
	return v[n]
}
