package liveness

import (
	"math"
	"testing"
)

// OpenCV's findHomography asserts on fewer than 4 pairs, and a C++
// exception through cgo kills the daemon: too few points must be a plain
// "no fit".
func TestFindHomographyTooFewPoints(t *testing.T) {
	for n := 0; n < 4; n++ {
		src := make([]pt, n)
		dst := make([]pt, n)
		for i := range src {
			src[i] = pt{float64(10 * i), float64(7 * i * i)}
			dst[i] = pt{src[i].X + 1, src[i].Y}
		}
		if _, ok := findHomographyBy(src, dst, 1, noseLeadFit); ok {
			t.Errorf("%d points: a homography was fitted", n)
		}
	}
}

// Every tracked point in the nose column leaves nothing to fit the rest of
// the face with: planarity must not crash, and the nose must not be seen
// to lead (a lead of 0 is refused as flat).
func TestPlanarityAllPointsCentral(t *testing.T) {
	c := &Checker{cfg: Config{MinPoints: 12}, faceW: 100, nose: -1}
	var p0, p1 []pt
	var alive []bool
	for i := range 20 {
		p := pt{float64(i%5-2) * 6, float64(i/5) * 6}
		p0 = append(p0, p)
		p1 = append(p1, pt{p.X*1.02 + 3, p.Y + 0.01*p.X*p.X})
		alive = append(alive, true)
	}
	c.frames = []frameObs{{pos: p0, alive: alive}}
	for i := range p0 {
		if !c.isCentral(i) {
			t.Fatalf("point %d at %v is not central: the test needs them all in the nose column", i, p0[i])
		}
	}
	f, ok := c.planarity(0, frameObs{pos: p1, alive: alive})
	if lead := f.noseLead; ok && (lead != 0 || math.IsNaN(lead)) {
		t.Errorf("nose lead %v with no point outside the nose column, want 0", lead)
	}
}
