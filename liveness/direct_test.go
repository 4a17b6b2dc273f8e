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
	c, turn, hm := turnedPlane(t)
	first := c.frames[0]
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
			fit, ok := c.planarity(0, later)
			if !ok {
				t.Fatal("planarity: no fit")
			}
			// What the chained tracks alone say, without the images: the
			// still-edge rule, which reads them, leaves out some of these
			// drifted points in the same light, and this test is about the
			// one-step measures.
			tracks, ok := c.planarity(0, frameObs{pos: later.pos, alive: later.alive})
			if !ok {
				t.Fatal("planarity of the tracks alone: no fit")
			}
			chained := Cues{KeptShare: 1, Parallax: tracks.parallax / c.faceW, NoseLead: tracks.noseLead / c.faceW, NonDevelopable: tracks.nonDev / c.faceW,
				DirectParallax: math.NaN(), DirectNonDevelopable: math.NaN(), FoundParallax: math.NaN(), FoundNonDevelopable: math.NaN()}
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

// turnedPlane starts a checker on a rendered face and returns the map of
// its plane turned about a vertical axis through the face centre, in
// tracking pixels (strong foreshortening and perspective), and that map's
// homography as a matrix.
func turnedPlane(t *testing.T) (*Checker, func(pt) pt, gocv.Mat) {
	t.Helper()
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(img, face, nil, 0); err != nil {
		t.Fatal(err)
	}
	turn := func(p pt) pt {
		x := p.X - c.cx
		w := 1 + 0.0015*x
		return pt{c.cx + 0.78*x/w, c.cy + (p.Y-c.cy)/w}
	}
	var to []pt
	for _, p := range c.frames[0].pos {
		to = append(to, turn(p))
	}
	h, ok := findHomography(c.frames[0].pos, to, 0.1)
	if !ok {
		t.Fatal("no homography for the turn")
	}
	hm := homographyMat(h)
	t.Cleanup(func() { hm.Close() })
	return c, turn, hm
}

// TestFoundParallaxSeesThroughGlare: a glare over a picture turned away
// drags the chained tracks under it along with it, and loses those points
// in the one-step match, so the chained cues and direct_parallax (a lost
// point counts as a face width) both see a head; the points found again
// on locally normalised images sit on the sheet (a sliding glare got half
// the prints through Haar's check, docs/liveness.md). A glare over most of
// the face leaves too little to measure: the check cannot run.
func TestFoundParallaxSeesThroughGlare(t *testing.T) {
	c, turn, hm := turnedPlane(t)
	first := c.frames[0]
	for _, glare := range []struct {
		name     string
		strength float64 // 1: the glare's core saturates
		radius   float64 // face widths
		want     Reason
	}{
		{"saturating", 1.6, 0.3, ReasonPlanar},
		{"soft", 0.6, 0.3, ReasonPlanar},
		{"over most of the face", 2, 0.6, ReasonFaceLost},
	} {
		t.Run(glare.name, func(t *testing.T) {
			later := frameObs{img: gocv.NewMat(), alive: first.alive}
			defer later.img.Close()
			gocv.WarpPerspective(first.img, &later.img, hm, image.Pt(first.img.Cols(), first.img.Rows()))
			// Over the nose column and the cheek on the image's right.
			at, r := pt{c.cx + 0.15*c.faceW, c.cy}, glare.radius*c.faceW
			glareOver(later.img, at, r, glare.strength)
			for _, p := range first.pos {
				q := turn(p)
				// Dragged along by the glare, the most near its centre.
				if d, rd := math.Hypot(q.X-at.X, q.Y-at.Y), 0.3*c.faceW; d < 1.5*rd {
					q.X += 0.05 * c.faceW * math.Exp(-d*d/(rd*rd))
				}
				later.pos = append(later.pos, q)
			}
			fit, ok := c.planarity(0, later)
			if !ok {
				t.Fatal("planarity: no fit")
			}
			cues := Cues{KeptShare: 1, Parallax: fit.parallax / c.faceW, NoseLead: fit.noseLead / c.faceW, NonDevelopable: fit.nonDev / c.faceW,
				DirectParallax: fit.direct / c.faceW, DirectNonDevelopable: fit.directNonDev / c.faceW, FoundParallax: math.NaN(), FoundNonDevelopable: math.NaN()}
			t.Logf("%+v, found %.4f on %.0f %% of the points, %.0f %% washed out", cues, fit.found/c.faceW, 100*fit.foundShare, 100*fit.washedShare)
			if r := geometryReason(c.cfg, cues); r != "" {
				t.Fatalf("the glare does not fake a head without the found measures (%s): the test shows nothing", r)
			}
			cues.FoundParallax, cues.FoundNonDevelopable, cues.WashedShare = fit.found/c.faceW, fit.foundNonDev/c.faceW, fit.washedShare
			if glare.want == ReasonPlanar && cues.FoundParallax >= c.cfg.MinParallax*foundPart/2 {
				t.Errorf("found parallax %.4f face widths on a plane, want well below %.4f", cues.FoundParallax, c.cfg.MinParallax*foundPart)
			}
			if r := geometryReason(c.cfg, cues); r != glare.want {
				t.Errorf("geometryReason = %q with the found measures, want %s", r, glare.want)
			}
		})
	}
}

// glareOver lightens a grey image towards white around at (radius r,
// Gaussian), saturating where strength*exp(-d²/r²) exceeds one.
func glareOver(img gocv.Mat, at pt, r, strength float64) {
	px, err := img.DataPtrUint8()
	if err != nil {
		panic(err)
	}
	w, ch := img.Cols(), img.Channels()
	for y := 0; y < img.Rows(); y++ {
		for x := 0; x < w; x++ {
			d2 := ((float64(x)-at.X)*(float64(x)-at.X) + (float64(y)-at.Y)*(float64(y)-at.Y)) / (r * r)
			a := math.Min(1, strength*math.Exp(-d2))
			for k := 0; k < ch; k++ {
				v := float64(px[(y*w+x)*ch+k])
				px[(y*w+x)*ch+k] = uint8(v + (255-v)*a)
			}
		}
	}
}

// TestGlareMask: a point whose patch holds a clipped pixel, or whose local
// contrast fell below washedOutRatio of the first frame's, cannot be
// matched; elsewhere it can, darker or not.
func TestGlareMask(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	grey, faceImg := gocv.NewMat(), img.Region(face)
	defer closeMats(&grey, &faceImg)
	gocv.CvtColor(faceImg, &grey, gocv.ColorBGRToGray)
	w, h := float64(grey.Cols()), float64(grey.Rows())
	later := grey.Clone()
	defer later.Close()
	clippedAt, washedAt, darkAt := pt{0.25 * w, 0.3 * h}, pt{0.75 * w, 0.3 * h}, pt{0.5 * w, 0.75 * h}
	glareOver(later, clippedAt, 0.06*w, 3) // a small clipped core
	region := func(p pt, r float64) image.Rectangle {
		return image.Rect(int(p.X-r), int(p.Y-r), int(p.X+r), int(p.Y+r))
	}
	washed := later.Region(region(washedAt, 0.08*w))
	washed.ConvertToWithParams(&washed, washed.Type(), 0.15, 200) // contrast to 15 %, no clipping
	washed.Close()
	dark := later.Region(region(darkAt, 0.08*w))
	dark.ConvertToWithParams(&dark, dark.Type(), 0.6, 0) // in shadow: 60 % of the contrast
	dark.Close()
	normFrom, sdFrom := localContrast(grey)
	normTo, sdTo := localContrast(later)
	g := newGlareMask(later, sdFrom, sdTo)
	defer closeMats(&normFrom, &sdFrom, &normTo, &sdTo, &g.clipped)
	for _, tc := range []struct {
		name string
		at   pt
		want bool
	}{
		{"in the clipped core", clippedAt, true},
		{"beside the clipped core, within a patch", pt{clippedAt.X + 0.06*w + lkWindow/2 - 1, clippedAt.Y}, true},
		{"washed out", washedAt, true},
		{"in shadow", darkAt, false},
		{"untouched", pt{0.5 * w, 0.45 * h}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.unreadable(tc.at, tc.at); got != tc.want {
				t.Errorf("unreadable(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

// TestFoundMeasuresLeaveOutFramesThatCouldNotJudge: the found measures are
// the median over the frames around the turn that found enough points. A
// frame that found too few reads a face width; in a median of two it had
// lifted a plane's 0.001 to half a face width, and a glossy print shaken
// as it turned got through (docs/liveness.md).
func TestFoundMeasuresLeaveOutFramesThatCouldNotJudge(t *testing.T) {
	const faceW = 100
	judged := func(par, nonDev float64) planeFit {
		return planeFit{found: par, foundNonDev: nonDev, foundJudged: true}
	}
	unjudged := planeFit{found: faceW, foundNonDev: faceW}
	noImages := planeFit{found: math.NaN(), foundNonDev: math.NaN()}
	for _, tc := range []struct {
		name             string
		fits             []planeFit
		parallax, nonDev float64
	}{
		{"a plane judged once, not judged once", []planeFit{judged(0.1, 0.05), unjudged}, 0.1, 0.05},
		{"a plane judged once, not judged twice", []planeFit{unjudged, judged(0.1, 0.05), unjudged}, 0.1, 0.05},
		{"judged by every frame", []planeFit{judged(3, 1), judged(1, 0.2), judged(2, 0.5)}, 2, 0.5},
		{"judged by two frames", []planeFit{judged(1, 0.2), unjudged, judged(3, 0.4)}, 2, 0.3},
		{"judged by none", []planeFit{unjudged, unjudged}, faceW, faceW},
	} {
		t.Run(tc.name, func(t *testing.T) {
			par, nonDev := foundMeasures(tc.fits)
			if math.Abs(par-tc.parallax) > 1e-9 || math.Abs(nonDev-tc.nonDev) > 1e-9 {
				t.Errorf("foundMeasures = %v, %v; want %v, %v", par, nonDev, tc.parallax, tc.nonDev)
			}
		})
	}
	if par, nonDev := foundMeasures([]planeFit{noImages, noImages}); !math.IsNaN(par) || !math.IsNaN(nonDev) {
		t.Errorf("without images foundMeasures = %v, %v; want NaN (unknown, refuses)", par, nonDev)
	}
}

// TestFoundMeasuresJudgeOnEightPoints: a picture whose chained tracks
// dwindled to a dozen and whose glare hid a few of them leaves fewer
// than MinPoints found; the found measures still judge it on eight or
// more (left unjudged, a shaken glossy bent print got through,
// docs/liveness.md).
func TestFoundMeasuresJudgeOnEightPoints(t *testing.T) {
	c, turn, hm := turnedPlane(t)
	first := c.frames[0]
	at := pt{c.cx + 0.2*c.faceW, c.cy - 0.1*c.faceW}
	later := frameObs{img: gocv.NewMat(), alive: make([]bool, len(first.pos))}
	defer later.img.Close()
	gocv.WarpPerspective(first.img, &later.img, hm, image.Pt(first.img.Cols(), first.img.Rows()))
	glareOver(later.img, at, 0.12*c.faceW, 3) // clipped: the points under it are unreadable
	var under, clear int
	for i, p := range first.pos {
		q := turn(p)
		later.pos = append(later.pos, q)
		switch d := math.Hypot(q.X-at.X, q.Y-at.Y); {
		case d < 0.1*c.faceW && under < 4:
			later.alive[i], under = true, under+1
		case d > 0.4*c.faceW && clear < 10:
			later.alive[i], clear = true, clear+1
		}
	}
	if under < 3 || clear < 10 {
		t.Fatalf("%d points under the glare, %d clear of it: the rendered face has too few", under, clear)
	}
	fit, ok := c.planarity(0, later)
	if !ok {
		t.Fatal("planarity: no fit")
	}
	found := int(math.Round(fit.foundShare * float64(under+clear)))
	t.Logf("%d of %d points found, found parallax %.4f", found, under+clear, fit.found/c.faceW)
	if found >= c.cfg.MinPoints || found < 8 {
		t.Fatalf("%d points found: want between 8 and %d for this test", found, c.cfg.MinPoints-1)
	}
	if !fit.foundJudged {
		t.Fatalf("the found measures did not judge %d points found", found)
	}
	if got := fit.found / c.faceW; got >= c.cfg.MinParallax*foundPart/2 {
		t.Errorf("found parallax %.4f face widths on a plane, want well below %.4f", got, c.cfg.MinParallax*foundPart)
	}
}
