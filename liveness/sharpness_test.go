package liveness

import (
	"fmt"
	"image"
	"math"
	"math/rand"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/motionblur"
	"github.com/facegate/facegate/internal/sensornoise"
)

// TestSharpnessMismatchSeesTheLaterFrameBlurrier: blur along any
// direction, and a picture twisted during the exposure, read as the later
// frame blurrier than the first; the same picture under a glare that
// scales its contrast, or sharper than the first, or resampled half a
// pixel off, does not; a blurred frame still reads blurrier when the
// first frame is resampled half a pixel off (it is warped onto the later
// one, which smooths its finest scale). A camera's noise, different in
// each frame, changes the reading little: it sits at the finest scale,
// where it hid the blur (docs/liveness-rounds.md, tenth round).
func TestSharpnessMismatchSeesTheLaterFrameBlurrier(t *testing.T) {
	c, _, _ := turnedPlane(t)
	first := c.frames[0].img
	box := pointsBox(c.frames[0].pos).Inset(-lkWindow / 2)
	const notBlurrier = 0.75 * maxBlurMismatch
	keep := gocv.NewMat()
	defer keep.Close()
	halfPixel := func(m *gocv.Mat) { exposeOver(m, func(float64) [9]float64 { return shiftBy(0.5, 0.5) }) }
	vibrated := func(m *gocv.Mat) {
		exposeOver(m, func(s float64) [9]float64 { return shiftBy(4*math.Sin(2*math.Pi*s), 0) })
	}
	twisted := func(m *gocv.Mat) { exposeOver(m, func(s float64) [9]float64 { return rotateAbout(10*s, c.cx, c.cy) }) }
	for _, tc := range []struct {
		name     string
		later    func(dst *gocv.Mat) // from the first frame
		blurrier bool
		first    func(dst *gocv.Mat) // the first frame's own change, or nil
	}{
		{name: "the same frame", later: func(*gocv.Mat) {}},
		{name: "half the contrast, lifted (a glare short of clipping)", later: func(m *gocv.Mat) { m.ConvertToWithParams(m, m.Type(), 0.5, 100) }},
		{name: "the first frame blurrier"},
		{name: "resampled half a pixel off", later: halfPixel},
		{name: "smeared 6 px across", later: func(m *gocv.Mat) { motionblur.Apply(m, 6, 0) }, blurrier: true},
		{name: "smeared 6 px upwards", later: func(m *gocv.Mat) { motionblur.Apply(m, 0, 6) }, blurrier: true},
		{name: "smeared 6 px diagonally", later: func(m *gocv.Mat) { motionblur.Apply(m, 4.2, -4.2) }, blurrier: true},
		{name: "vibrated 4 px, no net motion", later: vibrated, blurrier: true},
		{name: "vibrated 4 px, the first frame resampled half a pixel off", later: vibrated, blurrier: true, first: halfPixel},
		{name: "twisted 10° during the exposure", later: twisted, blurrier: true},
		{name: "twisted 10°, the first frame resampled half a pixel off", later: twisted, blurrier: true, first: halfPixel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := first.Clone(), first.Clone()
			defer closeMats(&a, &b)
			if tc.later == nil {
				motionblur.Apply(&a, 0, 6)
			} else {
				tc.later(&b)
			}
			if tc.first != nil {
				tc.first(&a)
			}
			got := sharpnessMismatch(a, b, keep, box)
			t.Logf("mismatch %.3f", got)
			switch {
			case math.IsNaN(got):
				t.Fatal("mismatch NaN on a textured face")
			case tc.blurrier && got <= maxBlurMismatch:
				t.Errorf("mismatch %.3f, want above %.2f", got, maxBlurMismatch)
			case !tc.blurrier && got > notBlurrier:
				t.Errorf("mismatch %.3f, want at most %.3f", got, notBlurrier)
			}
			rng := rand.New(rand.NewSource(1))
			addCameraNoise(&a, 6, rng)
			addCameraNoise(&b, 6, rng)
			noisy := sharpnessMismatch(a, b, keep, box)
			t.Logf("with noise of 6 grey levels %.3f", noisy)
			switch {
			case math.IsNaN(noisy):
				t.Fatal("mismatch NaN with noise on a textured face")
			case tc.blurrier && noisy <= maxBlurMismatch:
				t.Errorf("with noise of 6 grey levels, mismatch %.3f, want above %.2f", noisy, maxBlurMismatch)
			case tc.blurrier && noisy < 0.75*got:
				t.Errorf("with noise of 6 grey levels, mismatch %.3f, want at least three quarters of %.3f", noisy, got)
			case !tc.blurrier && noisy > notBlurrier:
				t.Errorf("with noise of 6 grey levels, mismatch %.3f, want at most %.3f", noisy, notBlurrier)
			}
		})
	}
	if got := sharpnessMismatch(first, first, keep, image.Rect(0, 0, lkWindow-1, 40)); !math.IsNaN(got) {
		t.Errorf("mismatch over a box narrower than a patch = %v, want NaN", got)
	}
	blank := gocv.NewMatWithSize(first.Rows(), first.Cols(), first.Type())
	defer blank.Close()
	if got := sharpnessMismatch(blank, first, keep, box); !math.IsNaN(got) {
		t.Errorf("mismatch against a blank frame = %v, want NaN", got)
	}
}

// pointsBox is the bounding box of ps (whole pixels).
func pointsBox(ps []pt) image.Rectangle {
	var r image.Rectangle
	for _, p := range ps {
		r = r.Union(image.Rect(int(p.X), int(p.Y), int(p.X)+1, int(p.Y)+1))
	}
	return r
}

// exposeOver replaces m by the mean of m warped by pose(s) for s across
// the exposure (-0.5 to 0.5): a picture moving while the camera exposes.
func exposeOver(m *gocv.Mat, pose func(s float64) [9]float64) {
	const n = 21
	src := m.Clone()
	sum := gocv.NewMatWithSize(m.Rows(), m.Cols(), gocv.MatTypeCV32F)
	w, wf := gocv.NewMat(), gocv.NewMat()
	defer closeMats(&src, &sum, &w, &wf)
	for i := range n {
		h := homographyMat(pose(float64(i)/(n-1) - 0.5))
		gocv.WarpPerspective(src, &w, h, image.Pt(src.Cols(), src.Rows()))
		h.Close()
		w.ConvertTo(&wf, gocv.MatTypeCV32F)
		gocv.AddWeighted(sum, 1, wf, 1.0/n, 0, &sum)
	}
	sum.ConvertTo(m, src.Type())
}

// shiftBy and rotateAbout are homographies of a shift and of a rotation
// (degrees) about (cx, cy).
func shiftBy(dx, dy float64) [9]float64 { return [9]float64{1, 0, dx, 0, 1, dy, 0, 0, 1} }

func rotateAbout(deg, cx, cy float64) [9]float64 {
	a := deg * math.Pi / 180
	cs, sn := math.Cos(a), math.Sin(a)
	return [9]float64{cs, -sn, cx - cs*cx + sn*cy, sn, cs, cy - sn*cx - cs*cy, 0, 0, 1}
}

// addCameraNoise adds a camera's grey noise of deviation sigma to m
// (sensornoise.Add: a clipped channel stays clipped).
func addCameraNoise(m *gocv.Mat, sigma float64, rng *rand.Rand) {
	sensornoise.Add(m, sigma, rng.NormFloat64)
}

// TestSharpReferenceSkipsABlurredFirstFrame: the structure is measured
// from a frame before the turn that is much sharper than the first (a
// print wobbled until just after the prompt, then turned), never from one
// already half way into the turn or within two frames of the verdict's,
// and the first frame stays the reference when nothing before the turn is
// sharper than it (a head held still for the capture), with or without a
// camera's noise (docs/liveness-rounds.md, twelfth round).
func TestSharpReferenceSkipsABlurredFirstFrame(t *testing.T) {
	c, _, _ := turnedPlane(t)
	sharp := func(*gocv.Mat) {}
	vibrated := func(m *gocv.Mat) {
		exposeOver(m, func(s float64) [9]float64 { return shiftBy(0, 4*math.Sin(2*math.Pi*s)) })
	}
	twisted := func(m *gocv.Mat) { exposeOver(m, func(s float64) [9]float64 { return rotateAbout(10*s, c.cx, c.cy) }) }
	across := func(m *gocv.Mat) { motionblur.Apply(m, 6, 0) }
	a := c.amplitude(false)
	const n = 7 // the verdict at the last frame: frames 1-4 may be the reference
	for _, tc := range []struct {
		name   string
		frames []func(*gocv.Mat) // frame i's change from the first frame's image; the last repeats
		yaw    []float64         // frame i's yaw; the last repeats
		want   int               // or, with noise, any sharp frame from it to n-3
	}{
		{name: "all sharp", frames: []func(*gocv.Mat){sharp}, yaw: []float64{0}, want: 0},
		{name: "the first vibrated", frames: []func(*gocv.Mat){vibrated, sharp}, yaw: []float64{0}, want: 1},
		{name: "the first two vibrated", frames: []func(*gocv.Mat){vibrated, vibrated, sharp}, yaw: []float64{0}, want: 2},
		{name: "the first twisted", frames: []func(*gocv.Mat){twisted, sharp}, yaw: []float64{0}, want: 1},
		{name: "the first vibrated, the others smeared across", frames: []func(*gocv.Mat){vibrated, across}, yaw: []float64{0}, want: 0},
		{name: "the later ones vibrated", frames: []func(*gocv.Mat){sharp, vibrated}, yaw: []float64{0}, want: 0},
		{name: "the first vibrated, sharp only half way into the turn",
			frames: []func(*gocv.Mat){vibrated, vibrated, vibrated, sharp}, yaw: []float64{0, 0.2 * a, 0.4 * a, 0.5 * a}, want: 0},
		{name: "the first vibrated, sharp only at the verdict",
			frames: []func(*gocv.Mat){vibrated, vibrated, vibrated, vibrated, vibrated, sharp}, yaw: []float64{0}, want: 0},
	} {
		for _, noise := range []float64{0, 6} {
			t.Run(fmt.Sprintf("%s, noise %.0f", tc.name, noise), func(t *testing.T) {
				rng := rand.New(rand.NewSource(1))
				frames := make([]frameObs, n)
				yaw := make([]float64, n)
				for i := range frames {
					img := c.frames[0].img.Clone()
					t.Cleanup(func() { img.Close() })
					tc.frames[min(i, len(tc.frames)-1)](&img)
					if noise > 0 {
						addCameraNoise(&img, noise, rng)
					}
					frames[i] = frameObs{img: img, pos: c.frames[0].pos, alive: c.frames[0].alive}
					yaw[i] = tc.yaw[min(i, len(tc.yaw)-1)]
				}
				own := c.frames
				defer func() { c.frames = own }() // Close closes the checker's own frames, not these
				c.frames = frames
				got := c.sharpReference(yaw, a, n-1)
				switch {
				case tc.want == 0 && got != 0:
					t.Errorf("reference frame %d, want the first", got)
				case tc.want > 0 && noise == 0 && got != tc.want:
					t.Errorf("reference frame %d, want %d", got, tc.want)
				case tc.want > 0 && (got < tc.want || got > n-3):
					t.Errorf("reference frame %d, want one of %d-%d", got, tc.want, n-3)
				}
			})
		}
	}
}

// TestPlanarityMeasuresFromTheReference: the one-step measures warp the
// reference frame's image onto the later frame, not the first frame's:
// with a first frame that shows nothing, the turned plane measured from
// the second frame (the same picture, sharp) sits on its homography,
// and measured from the first it finds no point again.
func TestPlanarityMeasuresFromTheReference(t *testing.T) {
	c, turn, hm := turnedPlane(t)
	sharp := c.frames[0]
	blank := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 0, 0, 0), sharp.img.Rows(), sharp.img.Cols(), sharp.img.Type())
	later := frameObs{img: gocv.NewMat(), alive: sharp.alive}
	defer closeMats(&blank, &later.img)
	gocv.WarpPerspective(sharp.img, &later.img, hm, image.Pt(sharp.img.Cols(), sharp.img.Rows()))
	for _, p := range sharp.pos {
		later.pos = append(later.pos, turn(p))
	}
	own := c.frames
	defer func() { c.frames = own }() // Close closes the checker's own frames
	c.frames = []frameObs{{img: blank, pos: sharp.pos, alive: sharp.alive}, {img: sharp.img, pos: sharp.pos, alive: sharp.alive}, later}
	fromRef, ok := c.planarity(1, later)
	if !ok {
		t.Fatal("planarity from the reference: no fit")
	}
	fromFirst, ok := c.planarity(0, later)
	if !ok {
		t.Fatal("planarity from the first frame: no fit")
	}
	t.Logf("direct parallax from the reference %.4f, from the blank first frame %.4f face widths", fromRef.direct/c.faceW, fromFirst.direct/c.faceW)
	if d := fromRef.direct / c.faceW; d >= c.cfg.MinParallax/2 {
		t.Errorf("direct parallax from the sharp reference %.4f face widths, want well below %.3f (its image was not the one warped)", d, c.cfg.MinParallax)
	}
	if d := fromFirst.direct / c.faceW; d < c.cfg.MinParallax {
		t.Errorf("direct parallax from a blank first frame %.4f face widths, want a lost match (the reference's image was warped instead)", d)
	}
}
