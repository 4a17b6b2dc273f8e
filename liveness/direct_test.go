package liveness

import (
	"image"
	"math"
	"math/rand"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestDirectParallaxSeesThroughDrift: a picture turned far away, whose
// chained tracks drifted (the nose column most), looks like a head to the
// chained-track cues; found again in one step from the first frame, its
// points sit on one homography and leave no bent-sheet residual (a flat print turned on through the
// window got through YuNet's check that way, docs/liveness.md).
func TestDirectParallaxSeesThroughDrift(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(img, face, nil, 0); err != nil {
		t.Fatal(err)
	}
	first := c.frames[0]
	// The plane turned about a vertical axis through the face centre,
	// in tracking pixels: strong foreshortening and perspective.
	turn := func(p pt) pt {
		x := p.X - c.cx
		w := 1 + 0.0015*x
		return pt{c.cx + 0.78*x/w, c.cy + (p.Y-c.cy)/w}
	}
	var to []pt
	for _, p := range first.pos {
		to = append(to, turn(p))
	}
	h, ok := findHomography(first.pos, to, 0.1)
	if !ok {
		t.Fatal("no homography for the turn")
	}
	hm := homographyMat(h)
	defer hm.Close()
	for _, light := range []struct {
		name        string
		gain, shift float32
		drift       float64 // face widths, random per point
	}{
		{"same light", 1, 0, 0.02},
		// Over the window, as a print tilts away from a lamp or a camera
		// changes its exposure: one step from the first frame sees it all.
		{"darker", 0.6, 20, 0.02},
		{"brighter", 1.4, -20, 0.02},
		// Chained tracks that drifted far (a red team's print darkening
		// as it turned): the first warp is poor, the second is not.
		{"darker, far drift", 0.7, 0, 0.06},
	} {
		t.Run(light.name, func(t *testing.T) {
			later := frameObs{img: gocv.NewMat(), alive: first.alive}
			defer later.img.Close()
			gocv.WarpPerspective(first.img, &later.img, hm, image.Pt(first.img.Cols(), first.img.Rows()))
			later.img.ConvertToWithParams(&later.img, later.img.Type(), light.gain, light.shift)
			rng := rand.New(rand.NewSource(7))
			for i, p := range first.pos {
				q := turn(p)
				q.X += rng.NormFloat64() * light.drift * c.faceW
				q.Y += rng.NormFloat64() * light.drift * c.faceW
				if c.isCentral(i) {
					q.X += 0.03 * c.faceW // the drift that fakes a nose leading a left turn
				}
				later.pos = append(later.pos, q)
			}
			fit, ok := c.planarity(later)
			if !ok {
				t.Fatal("planarity: no fit")
			}
			chained := Cues{Parallax: fit.parallax / c.faceW, NoseLead: fit.noseLead / c.faceW, NonDevelopable: fit.nonDev / c.faceW,
				DirectParallax: math.NaN(), DirectNonDevelopable: math.NaN()}
			if r := geometryReason(c.cfg, chained); r != "" {
				t.Fatalf("the drift does not fake a head on the chained tracks (%s, %+v): the test shows nothing", r, chained)
			}
			direct, directNonDev := fit.direct/c.faceW, fit.directNonDev/c.faceW
			t.Logf("chained %+v, direct parallax %.4f, non-developable %.4f", chained, direct, directNonDev)
			if direct >= c.cfg.MinParallax/2 {
				t.Errorf("direct parallax %.4f face widths on a plane, want well below %.3f", direct, c.cfg.MinParallax)
			}
			if directNonDev >= c.cfg.MinNonDevelopable/2 {
				t.Errorf("direct non-developable residual %.4f face widths on a plane, want well below %.3f", directNonDev, c.cfg.MinNonDevelopable)
			}
			chained.DirectParallax, chained.DirectNonDevelopable = direct, directNonDev
			if r := geometryReason(c.cfg, chained); r != ReasonPlanar {
				t.Errorf("geometryReason = %q with the direct measures, want %s", r, ReasonPlanar)
			}
		})
	}
}
