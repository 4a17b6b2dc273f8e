package liveness

import (
	"fmt"
	"image"
	"math"
	"math/rand"
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
				return fitTurned(t, c, turn, later)
			}
			limit := c.cfg.MinParallax * foundPart
			unmatched := measure(pt{}, pt{})
			if !tc.sharp && unmatched.found/c.faceW < limit {
				t.Fatalf("without the smears matched, found parallax %.4f on a smeared plane is below %.4f: the test shows nothing", unmatched.found/c.faceW, limit)
			}
			fit := measure(tc.firstStep, tc.step)
			t.Logf("found parallax %.4f -> %.4f, direct %.4f -> %.4f, blur mismatch %.3f", unmatched.found/c.faceW, fit.found/c.faceW, unmatched.direct/c.faceW, fit.direct/c.faceW, fit.blur)
			if got := fit.found / c.faceW; got >= limit/2 {
				t.Errorf("found parallax %.4f face widths on a smeared plane, want well below %.4f", got, limit)
			}
			if got := fit.foundNonDev / c.faceW; got >= c.cfg.MinNonDevelopable*foundPart {
				t.Errorf("found non-developable residual %.4f face widths on a smeared plane, want below %.4f", got, c.cfg.MinNonDevelopable*foundPart)
			}
			if fit.blur > maxBlurMismatch {
				t.Errorf("blur mismatch %.3f once the smears are matched, want at most %.2f (unmatched_blur would refuse a head moved the same way)", fit.blur, maxBlurMismatch)
			}
			if got := fit.direct / c.faceW; tc.glare == 0 && got >= c.cfg.MinParallax/2 {
				t.Errorf("direct parallax %.4f face widths on a smeared plane, want well below %.3f", got, c.cfg.MinParallax)
			}
		})
	}
}

// TestUnmatchedBlurIsRefused: a picture vibrated or twisted during the
// exposure, or smeared across its tracked motion, is blurred as no share of
// its motion between frames explains, so matchSmear cannot match it, and
// the one-step measures see a head (a review got glossy prints through
// that way, docs/liveness-rounds.md, ninth round). The later frame reads blurrier
// than the first: unmatched_blur.
func TestUnmatchedBlurIsRefused(t *testing.T) {
	c, turn, hm := turnedPlane(t)
	first := c.frames[0]
	for _, tc := range []struct {
		name  string
		pose  func(s float64) [9]float64 // during the later frame's exposure, before the turn
		smear pt
		step  pt // as tracked since the frame before
	}{
		{name: "vibrated 4 px, no net motion", pose: func(s float64) [9]float64 { return shiftBy(4*math.Sin(2*math.Pi*s), 0) }},
		{name: "vibrated 6 px while moving 4 px", pose: func(s float64) [9]float64 { return shiftBy(6*math.Sin(2*math.Pi*s), 0) }, step: pt{4, 0}},
		{name: "twisted 10° during the exposure", pose: func(s float64) [9]float64 { return rotateAbout(10*s, c.cx, c.cy) }},
		{name: "smeared 7 px across its tracked motion", smear: pt{0, 7}, step: pt{7, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.frames = append(c.frames[:1], frameObs{})
			defer func() { c.frames = c.frames[:1] }()
			later := frameObs{img: first.img.Clone(), alive: first.alive, step: tc.step}
			defer later.img.Close()
			if tc.pose != nil {
				exposeOver(&later.img, tc.pose)
			}
			warped := gocv.NewMat()
			defer warped.Close()
			gocv.WarpPerspective(later.img, &warped, hm, image.Pt(later.img.Cols(), later.img.Rows()))
			warped.CopyTo(&later.img)
			motionblur.Apply(&later.img, tc.smear.X, tc.smear.Y)
			fit := fitTurned(t, c, turn, later)
			t.Logf("found parallax %.4f, direct %.4f, blur mismatch %.3f", fit.found/c.faceW, fit.direct/c.faceW, fit.blur)
			// The check takes the smallest parallax: either measure seeing
			// the plane refuses it without the rule.
			if fit.found/c.faceW < c.cfg.MinParallax*foundPart || fit.direct/c.faceW < c.cfg.MinParallax {
				t.Fatalf("a one-step measure sees the plane (found %.4f, direct %.4f): the test shows nothing", fit.found/c.faceW, fit.direct/c.faceW)
			}
			if fit.blur <= maxBlurMismatch {
				t.Errorf("blur mismatch %.3f, want above %.2f", fit.blur, maxBlurMismatch)
			}
			// The chained measures of such prints see a head (their tracks
			// drift with the blur); the one-step ones are this fit's.
			cues := Cues{KeptShare: 1, Parallax: 0.06, NoseLead: 0.018, NonDevelopable: 0.013,
				DirectParallax: math.Min(1, fit.direct/c.faceW), DirectNonDevelopable: math.Min(1, fit.directNonDev/c.faceW),
				FoundParallax: fit.found / c.faceW, FoundNonDevelopable: fit.foundNonDev / c.faceW, FoundShare: fit.foundShare, WashedShare: fit.washedShare}
			if r := geometryReason(c.cfg, cues); r != "" {
				t.Fatalf("without the blur, geometryReason = %q: the test shows nothing", r)
			}
			cues.BlurMismatch = fit.blur
			if r := geometryReason(c.cfg, cues); r != ReasonBlur {
				t.Errorf("geometryReason = %q, want %s", r, ReasonBlur)
			}
		})
	}
}

// fitTurned is the plane fit of later, a frame of the plane turned by turn
// (turnedPlane): its points are the first frame's, turned.
func fitTurned(t *testing.T, c *Checker, turn func(pt) pt, later frameObs) planeFit {
	t.Helper()
	for _, p := range c.frames[0].pos {
		later.pos = append(later.pos, turn(p))
	}
	fit, ok := c.planarity(0, later)
	if !ok {
		t.Fatal("planarity: no fit")
	}
	return fit
}

// TestMatchSmearChoosesTheSmearUnderCameraNoise: a camera's noise,
// different in each frame, lowers the correlation of every guess
// matchSmear compares, the less the more a guess smears; unsmoothed, it
// chose to smear both frames of a head held still and then moving, and
// the later frame, smeared twice, read blurrier (unmatched_blur refused
// it). With noise of 3 to 6 grey levels it chooses the smear it chooses
// without, and the frames it leaves do not read blurrier. Not covered,
// open (docs/liveness-rounds.md, eleventh round): noise of 8 levels, where the
// bias, smaller, is back.
func TestMatchSmearChoosesTheSmearUnderCameraNoise(t *testing.T) {
	c, _, _ := turnedPlane(t)
	sharp := c.frames[0].img
	box := pointsBox(c.frames[0].pos)
	everywhere := gocv.NewMat()
	defer everywhere.Close()
	for _, tc := range []struct {
		name              string
		firstSmear, smear pt // in the first and the later frame
		firstStep, step   pt // the first frame's motion to the second; the later one's since the frame before
		want              smearGuess
	}{
		{name: "sideways, exposed the whole frame time", smear: pt{7, 0}, step: pt{7, 0}, want: smearGuess{share: 1}},
		{name: "diagonal, exposed 60 % of the frame time", smear: pt{6, 6}, step: pt{10, 10}, want: smearGuess{share: 0.625}},
		{name: "held still, then moving", smear: pt{7, 0}, step: pt{7, 0}, firstStep: pt{8, 0}, want: smearGuess{share: 1}},
		{name: "moving on, then turning upwards, exposed half the frame time", firstSmear: pt{4, 0}, firstStep: pt{8, 0}, smear: pt{4, 4}, step: pt{8, 8}, want: smearGuess{share: 0.5, firstMoving: true}},
		{name: "the first frame smeared across the later one", firstSmear: pt{0, 7}, firstStep: pt{0, 7}, smear: pt{7, 0}, step: pt{7, 0}, want: smearGuess{share: 1, firstMoving: true}},
		{name: "only the first frame smeared, exposed 60 %", firstSmear: pt{0, 6}, firstStep: pt{0, 10}, want: smearGuess{share: 0.625, firstMoving: true}},
	} {
		for _, noise := range []float64{0, 3, 4, 6} {
			t.Run(fmt.Sprintf("%s, noise %g", tc.name, noise), func(t *testing.T) {
				first, later := sharp.Clone(), sharp.Clone()
				defer closeMats(&first, &later)
				motionblur.Apply(&first, tc.firstSmear.X, tc.firstSmear.Y)
				motionblur.Apply(&later, tc.smear.X, tc.smear.Y)
				rng := rand.New(rand.NewSource(1))
				addCameraNoise(&first, noise, rng)
				addCameraNoise(&later, noise, rng)
				got := matchSmear(&first, &later, box, tc.firstStep, tc.step)
				blur := sharpnessMismatch(first, later, everywhere, box.Inset(-lkWindow/2))
				t.Logf("chose %+v, blur mismatch %.3f", got, blur)
				if got.firstMoving != tc.want.firstMoving || math.Abs(got.share-tc.want.share) > 0.125 {
					t.Errorf("matchSmear chose %+v, want %+v (share within one step)", got, tc.want)
				}
				if blur > maxBlurMismatch {
					t.Errorf("blur mismatch %.3f once the smears are matched, want at most %.2f (unmatched_blur would refuse a head moved the same way)", blur, maxBlurMismatch)
				}
			})
		}
	}
}
