package liveness

import (
	"image"
	"image/color"
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestPlanarityLeavesTheRoomOut: the points of a print cut along the face
// move as one plane (turned and carried sideways) while those of the room
// in the face box's corners stay still. The two planes used to read as a
// head's parallax; the room's points are left out and the print is flat.
func TestPlanarityLeavesTheRoomOut(t *testing.T) {
	const faceW = 100.0
	c := &Checker{cfg: Config{MinPoints: 12}, faceW: faceW, cx: 50, cy: 60, nose: -1}
	// A 25° turn of the print about its vertical axis seen from a focal
	// length of 6 face widths, carried 10 px sideways.
	yaw, focal := 25*math.Pi/180, 6*faceW
	turned := func(p pt) pt {
		x, y := p.X-c.cx, p.Y-c.cy
		X, Z := x*math.Cos(yaw), focal+x*math.Sin(yaw)
		return pt{c.cx + 10 + focal*X/Z, c.cy + focal*y/Z}
	}
	var p0, p1 []pt
	var alive []bool
	room := 0
	for gy := 0; gy < 10; gy++ {
		for gx := 0; gx < 9; gx++ {
			p := pt{10 + float64(gx)*10, 8 + float64(gy)*12.5}
			u, v := (p.X-c.cx)/(0.5*faceW), (p.Y-c.cy)/(0.6*faceW)
			q := turned(p)
			if u*u+v*v > 1 { // beyond the cut: the room
				q, room = p, room+1
			}
			p0, p1, alive = append(p0, p), append(p1, q), append(alive, true)
		}
	}
	c.frames = []frameObs{{pos: p0, alive: alive}}
	// The room must be more than the 10 % the 90th percentile ignores.
	if share := float64(room) / float64(len(p0)); share < 0.15 {
		t.Fatalf("the room is %.2f of the points: the test needs more in the corners", share)
	}
	requireHeadLikeTogether(t, p0, p1, faceW)
	f, ok := c.planarity(0, frameObs{pos: p1, alive: alive})
	if !ok {
		t.Fatal("no fit")
	}
	if got := f.parallax / faceW; got >= DefaultConfig.MinParallax/4 {
		t.Errorf("parallax %.4f of a face width with the room left out, want a plane's (< %.4f)", got, DefaultConfig.MinParallax/4)
	}
	if got := f.nonDev / faceW; got >= DefaultConfig.MinNonDevelopable/4 {
		t.Errorf("bent-sheet residual %.4f, want a plane's (< %.4f)", got, DefaultConfig.MinNonDevelopable/4)
	}
}

// requireHeadLikeTogether fails the test unless every point of p0 moved to
// p1 leaves, together, a head's parallax: what the rule under test must
// take away, or the test shows nothing.
func requireHeadLikeTogether(t *testing.T, p0, p1 []pt, faceW float64) {
	t.Helper()
	h, ok := findHomography(p0, p1, math.Max(1, 0.012*faceW))
	if !ok {
		t.Fatal("no homography for every point")
	}
	_, norms, _ := residuals(h, p0, p1)
	if all := percentile(norms, 0.9) / faceW; all < DefaultConfig.MinParallax {
		t.Fatalf("every point together leaves parallax %.4f, under the threshold %.4f: the test shows nothing", all, DefaultConfig.MinParallax)
	}
}

// TestWithoutTheRoom: which points are the room, table-driven.
func TestWithoutTheRoom(t *testing.T) {
	move := func(dx ...float64) (src, dst []pt, central []bool) {
		for i, d := range dx {
			src = append(src, pt{float64(i), 0})
			dst = append(dst, pt{float64(i) + d, 0})
			central = append(central, i%2 == 0)
		}
		return
	}
	for _, tc := range []struct {
		name string
		dx   []float64
		kept int
	}{
		{"a head: every point moves", []float64{3, 4, 5, 6, 8, 10, 12}, 7},
		{"a plane before a still room", []float64{0, 0.05, 10, 10, 11, 10, 10}, 5},
		{"moved less than the threshold: all kept", []float64{0, 0, 0.5, 0.6, 0.7}, 5},
		{"tracking noise under a fifth of the threshold", []float64{0.15, 3, 3, 3}, 3},
		{"a tenth of the median is the room", []float64{1.9, 2.1, 20, 20, 20}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst, central := move(tc.dx...)
			s, d, c := withoutTheRoom(src, dst, central, 1)
			if len(s) != tc.kept || len(d) != tc.kept || len(c) != tc.kept {
				t.Fatalf("kept %d/%d/%d of %v, want %d", len(s), len(d), len(c), tc.dx, tc.kept)
			}
			for i := range s {
				if j := int(s[i].X); math.Abs(d[i].X-s[i].X-tc.dx[j]) > 1e-9 || c[i] != (j%2 == 0) {
					t.Fatalf("point %d kept with the wrong partner", j)
				}
			}
		})
	}
}

// TestAHeadBeforeTheRoomIsLive: a head turning before a textured room
// that shows in the face box's lower corners (behind the jaw) is live:
// leaving the room's points out leaves a head's parallax.
func TestAHeadBeforeTheRoomIsLive(t *testing.T) {
	pic, face := synth.Face(1, 640, 480)
	defer pic.Close()
	jaw := image.Pt(face.Min.X+face.Dx()/10, face.Max.Y-face.Dy()/20)
	// The room behind the jaw must be textured, or it gives no points.
	gocv.Rectangle(&pic, image.Rect(jaw.X-12, jaw.Y-4, jaw.X+4, jaw.Y+6), color.RGBA{200, 60, 40, 0}, -1)
	gocv.Rectangle(&pic, image.Rect(face.Max.X-face.Dx()/10-4, jaw.Y-4, face.Max.X-face.Dx()/10+12, jaw.Y+6), color.RGBA{30, 160, 200, 0}, -1)
	deg := math.Pi / 180
	for _, peak := range []float64{20 * deg, -20 * deg} {
		dir := Left
		if peak < 0 {
			dir = Right
		}
		r := sequence(t, dir, face, 30, func(at time.Duration, dst *gocv.Mat) {
			synth.Turn(pic, dst, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, peak))
		})
		if !r.Live {
			t.Errorf("%s: not live: %v %+v", dir, r.Reasons, r.Cues)
		}
	}
}
