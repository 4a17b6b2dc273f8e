package liveness

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/motionblur"
)

// TestOneStepMeasuresSeeThroughMotionBlur: a picture moved fast is smeared
// in the frame at the turn, and LK matching the sharp first frame's
// patches against smeared ones puts them a little off their place, which
// on a plane read as a head's parallax (a glossy print shaken as it
// turned got through, docs/liveness.md). Smeared as much as the later
// frame, the first frame's patches land back on the plane.
func TestOneStepMeasuresSeeThroughMotionBlur(t *testing.T) {
	c, turn, hm := turnedPlane(t)
	first := c.frames[0]
	sharp := first.img.Clone()
	defer sharp.Close()
	for _, tc := range []struct {
		name       string
		smear      pt // in the later frame, tracking px
		step       pt // the motion since the frame before, as tracked
		firstSmear pt // in the first frame
		firstStep  pt // the motion from the first frame to the second
		glare      float64
		// sharp: nothing is smeared, though the picture moved; matching a
		// smear there would spoil a sharp match (a guard, not the fix).
		sharp bool
	}{
		{name: "sideways, exposed the whole frame time", smear: pt{7, 0}, step: pt{7, 0}},
		{name: "diagonal, exposed 60 % of the frame time", smear: pt{6, 6}, step: pt{10, 10}},
		{name: "upwards, under a glare", smear: pt{0, 8}, step: pt{0, 8}, glare: 1.6},
		{name: "sideways, exposed 70 %, under a glare", smear: pt{7, 0}, step: pt{10, 0}, glare: 1.6},
		{name: "the first frame smeared too, across", smear: pt{7, 0}, step: pt{7, 0}, firstSmear: pt{0, 7}, firstStep: pt{0, 7}},
		{name: "only the first frame smeared, exposed 60 %", firstSmear: pt{0, 6}, firstStep: pt{0, 10}},
		{name: "the first frame sharp, the picture moving from the next", smear: pt{7, 0}, step: pt{7, 0}, firstStep: pt{8, 0}},
		{name: "both frames sharp, the picture moving between them", step: pt{9, 3}, firstStep: pt{-8, 0}, sharp: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sharp.CopyTo(&c.frames[0].img)
			motionblur.Apply(&c.frames[0].img, tc.firstSmear.X, tc.firstSmear.Y)
			defer func() { c.frames = c.frames[:1] }()
			measure := func(firstStep, step pt) planeFit {
				c.frames = append(c.frames[:1], frameObs{step: firstStep})
				later := frameObs{img: gocv.NewMat(), alive: first.alive, step: step}
				defer later.img.Close()
				gocv.WarpPerspective(sharp, &later.img, hm, image.Pt(sharp.Cols(), sharp.Rows()))
				if tc.glare > 0 {
					glareOver(later.img, pt{c.cx + 0.15*c.faceW, c.cy}, 0.3*c.faceW, tc.glare)
				}
				motionblur.Apply(&later.img, tc.smear.X, tc.smear.Y)
				for _, p := range first.pos {
					later.pos = append(later.pos, turn(p))
				}
				fit, ok := c.planarity(later)
				if !ok {
					t.Fatal("planarity: no fit")
				}
				return fit
			}
			limit := c.cfg.MinParallax * foundPart
			unmatched := measure(pt{}, pt{})
			if !tc.sharp && unmatched.found/c.faceW < limit {
				t.Fatalf("without the smears matched, found parallax %.4f on a smeared plane is below %.4f: the test shows nothing", unmatched.found/c.faceW, limit)
			}
			fit := measure(tc.firstStep, tc.step)
			t.Logf("found parallax %.4f -> %.4f, direct %.4f -> %.4f", unmatched.found/c.faceW, fit.found/c.faceW, unmatched.direct/c.faceW, fit.direct/c.faceW)
			if got := fit.found / c.faceW; got >= limit/2 {
				t.Errorf("found parallax %.4f face widths on a smeared plane, want well below %.4f", got, limit)
			}
			if got := fit.foundNonDev / c.faceW; got >= c.cfg.MinNonDevelopable*foundPart {
				t.Errorf("found non-developable residual %.4f face widths on a smeared plane, want below %.4f", got, c.cfg.MinNonDevelopable*foundPart)
			}
			if got := fit.direct / c.faceW; tc.glare == 0 && got >= c.cfg.MinParallax/2 {
				t.Errorf("direct parallax %.4f face widths on a smeared plane, want well below %.3f", got, c.cfg.MinParallax)
			}
		})
	}
}
