package liveness

import (
	"context"
	"errors"
	"image"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness/synth"
)

const testFPS = 15

// ramp is a head turn: 0 until start, then a smooth rise to peak radians
// over rise, then held.
func ramp(t, start, rise time.Duration, peak float64) float64 {
	if t <= start {
		return 0
	}
	x := math.Min(1, float64(t-start)/float64(rise))
	return peak * (1 - math.Cos(math.Pi*x)) / 2
}

// feed runs n frames rendered by render through c (Start, then Add).
func feed(t *testing.T, c *Checker, face image.Rectangle, n int, render func(at time.Duration, dst *gocv.Mat)) {
	t.Helper()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i < n; i++ {
		at := time.Duration(i) * time.Second / testFPS
		render(at, &frame)
		var err error
		if i == 0 {
			err = c.Start(frame, face, nil, at)
		} else {
			err = c.Add(frame, nil, at)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// sequence renders n frames at testFPS with render(t, dst) and runs one check.
func sequence(t *testing.T, dir Direction, face image.Rectangle, n int, render func(at time.Duration, dst *gocv.Mat)) Result {
	t.Helper()
	c, err := NewChecker(Config{}, ModeChallenge, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	feed(t, c, face, n, render)
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSyntheticChallenge always runs: a rendered head (depth map) against
// rendered attacks made from the same picture.
func TestSyntheticChallenge(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	deg := math.Pi / 180
	head := func(start time.Duration, peak float64) func(time.Duration, *gocv.Mat) {
		sh := synth.NewShake(7, 0.4, 0)
		return func(at time.Duration, dst *gocv.Mat) {
			sh.Step()
			turned := gocv.NewMat()
			defer turned.Close()
			synth.Turn(img, &turned, face, ramp(at, start, 600*time.Millisecond, peak))
			m := gocv.GetRotationMatrix2D(image.Pt(320, 240), 0, 1)
			defer m.Close()
			m.SetDoubleAt(0, 2, sh.X)
			m.SetDoubleAt(1, 2, sh.Y)
			gocv.WarpAffine(turned, dst, m, image.Pt(640, 480))
		}
	}
	bg := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 70, 80, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer bg.Close()
	print3D := func(peakYaw float64, bent float64) func(time.Duration, *gocv.Mat) {
		sh := synth.NewShake(3, 1.0, 0.3)
		return func(at time.Duration, dst *gocv.Mat) {
			sh.Step()
			y := ramp(at, 300*time.Millisecond, 600*time.Millisecond, peakYaw)
			if bent != 0 {
				synth.Bent(img, bg, dst, bent, y, 1, 320+sh.X, 240+sh.Y, 640)
				return
			}
			m := synth.PlanePose(image.Pt(640, 480), y, 0.05*math.Sin(float64(at)/3e8), sh.Rot*deg, 1, 320+sh.X, 240+sh.Y, 640)
			defer m.Close()
			synth.OverBackground(img, bg, dst, m)
		}
	}
	still := func(_ time.Duration, dst *gocv.Mat) { img.CopyTo(dst) }
	tests := []struct {
		name   string
		dir    Direction
		render func(time.Duration, *gocv.Mat)
		live   bool
		reason Reason
	}{
		{"head turns left", Left, head(300*time.Millisecond, 20*deg), true, ""},
		{"head turns right", Right, head(300*time.Millisecond, -20*deg), true, ""},
		{"head turns the wrong way", Left, head(300*time.Millisecond, -20*deg), false, ReasonWrongDirection},
		{"head turns too late", Left, head(1500*time.Millisecond, 20*deg), false, ReasonLate},
		{"still picture", Left, still, false, ReasonNoResponse},
		{"print turned about its vertical axis", Left, print3D(25*deg, 0), false, ReasonPlanar},
		{"print turned the other way", Right, print3D(-25*deg, 0), false, ReasonNoResponse},
		{"bent print turned", Left, print3D(25*deg, 300), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sequence(t, tc.dir, face, 30, tc.render)
			t.Logf("live=%v score=%.2f reasons=%v cues=%+v", r.Live, r.Score, r.Reasons, r.Cues)
			if r.Live != tc.live {
				t.Fatalf("live = %v, want %v (reasons %v)", r.Live, tc.live, r.Reasons)
			}
			if tc.reason != "" && !slices.Contains(r.Reasons, tc.reason) {
				t.Fatalf("reasons %v, want %s among them", r.Reasons, tc.reason)
			}
			if (r.Score >= 0.5) != tc.live {
				t.Fatalf("score %.2f disagrees with live=%v", r.Score, tc.live)
			}
		})
	}
}

func TestCheckerErrors(t *testing.T) {
	if _, err := NewChecker(Config{}, ModeChallenge, "up"); !errors.Is(err, ErrBadChallenge) {
		t.Fatalf("NewChecker(up) = %v, want ErrBadChallenge", err)
	}
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Result(); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Result before Start = %v", err)
	}
	img, face := synth.Face(2, 320, 240)
	defer img.Close()
	if err := c.Start(img, face.Add(image.Pt(300, 0)), nil, 0); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("Start with a box outside = %v", err)
	}
	if err := c.Start(img, face, nil, 0); err != nil {
		t.Fatal(err)
	}
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if r.Live || !slices.Contains(r.Reasons, ReasonTooFewFrames) || !r.Unavailable() {
		t.Fatalf("one frame: %+v, want too_few_frames", r)
	}
	small := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer small.Close()
	if err := c.Add(small, nil, time.Second/15); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("Add of a smaller frame = %v", err)
	}
}

func TestTooFewPoints(t *testing.T) {
	flat := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 240, 320, gocv.MatTypeCV8UC3)
	defer flat.Close()
	r := sequence(t, Right, image.Rect(100, 60, 220, 180), 10, func(_ time.Duration, dst *gocv.Mat) { flat.CopyTo(dst) })
	if r.Live || !slices.Contains(r.Reasons, ReasonTooFewPoints) {
		t.Fatalf("blank face: %+v", r)
	}
}

// TestDoneEndsTheChallengeEarly: a clear turn ends the check well before
// the window, a still face does not.
func TestDoneEndsTheChallengeEarly(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	for _, tc := range []struct {
		name     string
		peak     float64
		dir      Direction
		doneFrom int // earliest frame at which Done may be true; -1 never
	}{
		{"turn", 0.35, Left, 8},
		{"wrong way", -0.35, Left, 6},
		{"still", 0, Left, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChecker(Config{}, ModeChallenge, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			doneAt := runUntilDone(t, c, face, 38, func(at time.Duration, dst *gocv.Mat) *Landmarks {
				synth.Turn(img, dst, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, tc.peak))
				return nil
			})
			if tc.doneFrom < 0 {
				if doneAt >= 0 {
					t.Fatalf("done at frame %d for a still face", doneAt)
				}
				return
			}
			if doneAt < tc.doneFrom || doneAt > 20 {
				t.Fatalf("done at frame %d, want between %d and 20 (of 38)", doneAt, tc.doneFrom)
			}
			r, err := c.Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.peak*tc.dir.sign() > 0; r.Live != want {
				t.Fatalf("early result live=%v, want %v: %+v", r.Live, want, r)
			}
		})
	}
}

// TestDoneOnceTheAmplitudeIsHeld: a small turn that reaches the amplitude
// but never 1.5 times it (the early exit used to wait for that, so that
// most real turns ran the whole 2.5 s window) ends the check early, live.
func TestDoneOnceTheAmplitudeIsHeld(t *testing.T) {
	img, face, c := syntheticChallenge(t, Left)
	doneAt := runUntilDone(t, c, face, 38, func(at time.Duration, dst *gocv.Mat) *Landmarks {
		synth.Turn(img, dst, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, smallTurn))
		return nil
	})
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	a := DefaultConfig.MinAmplitudeTracked
	if r.Cues.Yaw >= 1.5*a {
		t.Fatalf("the turn reached %.4f, not below 1.5 times the amplitude %.3f: the test needs a smaller smallTurn", r.Cues.Yaw, a)
	}
	if doneAt < 0 || doneAt > 20 {
		t.Fatalf("done at frame %d, want by frame 20 of 38 (cues %+v)", doneAt, r.Cues)
	}
	if !r.Live {
		t.Fatalf("early result not live: %v %+v", r.Reasons, r.Cues)
	}
}

// smallTurn (radians) turns synth.Face's tracked yaw proxy past
// MinAmplitudeTracked but not past 1.5 times it.
const smallTurn = 0.13

// TestDoneWhenLandmarksLeadTheTrackedPoints: with YuNet, a small real turn
// moves the nose landmark past the amplitude while the tracked points stay
// below theirs. The check used to watch the whole window then (YuNet's
// median check was 2.5 s); it now stops once the verdict so far is live.
func TestDoneWhenLandmarksLeadTheTrackedPoints(t *testing.T) {
	img, face, c := syntheticChallenge(t, Left)
	w, h := face.Dx(), face.Dy()
	at := func(fx, fy float64) image.Point {
		return image.Pt(face.Min.X+int(fx*float64(w)), face.Min.Y+int(fy*float64(h)))
	}
	const n = 38
	doneAt := runUntilDone(t, c, face, n, func(ts time.Duration, dst *gocv.Mat) *Landmarks {
		k := ramp(ts, 300*time.Millisecond, 600*time.Millisecond, 1)
		synth.Turn(img, dst, face, k*landmarkLedTurn)
		return &Landmarks{at(0.3, 0.4), at(0.7, 0.4), at(0.5+0.06*k, 0.6), at(0.35, 0.8), at(0.65, 0.8)}
	})
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	tracked := c.yawOf(c.frames, false)
	peak := 0.0
	for _, y := range tracked {
		if !math.IsNaN(y) {
			peak = math.Max(peak, y)
		}
	}
	if peak >= DefaultConfig.MinAmplitudeTracked {
		t.Fatalf("tracked points turned %.4f, not below their amplitude %.3f: the test needs a smaller landmarkLedTurn", peak, DefaultConfig.MinAmplitudeTracked)
	}
	if !r.Live || !r.Cues.Landmarks {
		t.Fatalf("not live on landmarks: %v %+v", r.Reasons, r.Cues)
	}
	if doneAt < 0 || doneAt > 20 {
		t.Fatalf("done at frame %d, want by frame 20 of %d (cues %+v)", doneAt, n, r.Cues)
	}
}

// landmarkLedTurn (radians) turns synth.Face's head less than the tracked
// amplitude needs, yet with parallax a head shows.
const landmarkLedTurn = 0.1

// runUntilDone feeds a checker up to n frames at testFPS from render, which
// draws the frame and returns its landmarks (nil without), and returns the
// frame at which Done first held, -1 never.
func runUntilDone(t *testing.T, c *Checker, face image.Rectangle, n int, render func(at time.Duration, dst *gocv.Mat) *Landmarks, after ...func()) int {
	t.Helper()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i < n; i++ {
		at := time.Duration(i) * time.Second / testFPS
		lm := render(at, &frame)
		var err error
		if i == 0 {
			err = c.Start(frame, face, lm, at)
		} else {
			err = c.Add(frame, lm, at)
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range after {
			f()
		}
		if c.Done() {
			return i
		}
	}
	return -1
}

// syntheticChallenge is synth.Face's 640x480 picture, its face box and a
// checker for a challenge the given way, all closed when the test ends.
func syntheticChallenge(t *testing.T, dir Direction) (gocv.Mat, image.Rectangle, *Checker) {
	t.Helper()
	img, face := synth.Face(1, 640, 480)
	t.Cleanup(func() { img.Close() })
	c, err := NewChecker(Config{}, ModeChallenge, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return img, face, c
}

// TestGeometryReason: the cues of real and rendered presentations in the
// evaluation. Small real turns whose tracked nose column sits at noise are
// refused: letting them through with landmarks accepted rendered screens.
func TestGeometryReason(t *testing.T) {
	cfg := DefaultConfig
	for _, tc := range []struct {
		name string
		cues Cues
		want Reason
	}{
		{"head, nose leading", Cues{KeptShare: 1, Parallax: 0.06, NoseLead: 0.018, NonDevelopable: 0.013, DirectParallax: 0.3, DirectNonDevelopable: 0.02, FoundParallax: 0.02, FoundNonDevelopable: 0.01}, ""},
		// make eval-liveness EVAL_SEEDS=15: frontal_webcam_gocv, 170 px, left, YuNet.
		{"flat print turned on to 45°, chained tracks drifted", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0136, NoseLead: 0.0031, NonDevelopable: 0.0044, DirectParallax: 0.0009}, ReasonPlanar},
		{"small real turn, landmarks, nose column at noise", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0214, NoseLead: -0.0029, NonDevelopable: 0.0081}, ReasonPlanar},
		{"screen, glare sliding against the turn, landmarks", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0321, NoseLead: -0.022, NonDevelopable: 0.0173}, ReasonPlanar},
		{"flat print, landmarks", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0026, NoseLead: -0.0005, NonDevelopable: 0.0012}, ReasonPlanar},
		{"bent print, landmarks", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0114, NoseLead: 0.0034, NonDevelopable: 0.0021}, ReasonPlanar},
		{"small real turn, landmarks, little parallax", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0142, NoseLead: 0.0016, NonDevelopable: 0.0051}, ReasonPlanar},
		{"screen, landmarks, parallax from moire and glare", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0127, NoseLead: 0.0023, NonDevelopable: 0.0055}, ReasonPlanar},
		{"screen, landmarks, nose column at noise, large parallax", Cues{KeptShare: 1, Landmarks: true, Parallax: 0.0235, NoseLead: 0.0007, NonDevelopable: 0.0071}, ReasonPlanar},
		{"bent print, parallax but developable", Cues{KeptShare: 1, Parallax: 0.0154, NoseLead: 0.0056, NonDevelopable: 0.0019, DirectParallax: 0.02, DirectNonDevelopable: 0.02, FoundParallax: 0.02, FoundNonDevelopable: 0.01}, ReasonDevelopable},
		// make eval-liveness EVAL_SEEDS=4: frontal_webcam_gocv, 170 px, right, Haar.
		{"bent print, chained tracks drifted off the sheet", Cues{KeptShare: 1, Parallax: 0.0194, NoseLead: 0.0071, NonDevelopable: 0.0042, DirectParallax: 0.017, DirectNonDevelopable: 0.001, FoundParallax: 0.017, FoundNonDevelopable: 0.01}, ReasonDevelopable},
		{"head under a glare over most of the face", Cues{KeptShare: 1, Parallax: 0.06, NoseLead: 0.018, NonDevelopable: 0.013, DirectParallax: 1, DirectNonDevelopable: 1,
			FoundParallax: 1, FoundNonDevelopable: 1, FoundShare: 0.1, WashedShare: 0.7}, ReasonFaceLost},
		// A red team's bent print under a glare sliding the asked way (seed 3, frontal_webcam_gocv, 130 px, right, Haar):
		// the glare dragged the chained tracks and lost points in the one-step match.
		{"bent print under a sliding glare", Cues{KeptShare: 1, Parallax: 0.0656, NoseLead: 0.0037, NonDevelopable: 0.0222, DirectParallax: 1, DirectNonDevelopable: 1,
			FoundParallax: 0.0074, FoundNonDevelopable: 0.0015}, ReasonDevelopable},
		// A glossy print twisted back and forth in its own plane during the exposures
		// (make eval-liveness, ninth round, seed 0, Haar): blurred as its tracked motion
		// does not explain, so the one-step match saw a head.
		{"glossy print twisted during the exposures", Cues{KeptShare: 1, Parallax: 0.1427, NoseLead: 0.0614, NonDevelopable: 0.0342, DirectParallax: 1, DirectNonDevelopable: 1,
			FoundParallax: 0.0077, FoundNonDevelopable: 0.0047, FoundShare: 0.475, WashedShare: 0.2596, BlurMismatch: 0.8645}, ReasonBlur},
		{"head, a frame at the turn a little blurrier", Cues{KeptShare: 1, Parallax: 0.06, NoseLead: 0.018, NonDevelopable: 0.013, DirectParallax: 1, DirectNonDevelopable: 1,
			FoundParallax: 0.0176, FoundNonDevelopable: 0.0071, BlurMismatch: 0.21}, ""},
		{"flat print, blurred too: the plane refuses first", Cues{KeptShare: 1, Parallax: 0.0026, NoseLead: -0.0005, NonDevelopable: 0.0012, BlurMismatch: 0.9}, ReasonPlanar},
		// make eval-liveness, twenty-fifth round: a print twisted in its plane that kept 44 %
		// of its points (Haar), and a real fast turn to the side that kept 40 % (krzysiek at 1.4 s, Haar).
		{"print twisted in its plane, most tracks lost", Cues{KeptShare: 0.443, Parallax: 0.1402, NoseLead: 0.0211, NonDevelopable: 0.0336,
			DirectParallax: 1, DirectNonDevelopable: 1, FoundParallax: 0.018, FoundNonDevelopable: 0.0069, BlurMismatch: 0.2366}, ReasonPlanar},
		{"the same print's cues, most tracks kept", Cues{KeptShare: 0.9, Parallax: 0.1402, NoseLead: 0.0211, NonDevelopable: 0.0336,
			DirectParallax: 1, DirectNonDevelopable: 1, FoundParallax: 0.018, FoundNonDevelopable: 0.0069, BlurMismatch: 0.2366}, ""},
		{"fast real turn, most tracks lost", Cues{KeptShare: 0.4, Parallax: 0.1254, NoseLead: 0.0199, NonDevelopable: 0.0197,
			DirectParallax: 1, DirectNonDevelopable: 1, FoundParallax: 0.0579, FoundNonDevelopable: 0.0211, BlurMismatch: -0.3545}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := geometryReason(cfg, tc.cues); got != tc.want {
				t.Errorf("geometryReason(%+v) = %q, want %q", tc.cues, got, tc.want)
			}
		})
	}
}

// TestTrackedYawNeedsBothSidesOfTheOutline: a reflection on a screen
// loses the tracked points under it; with one side of the outline gone, the
// nose column moving relative to what is left of it looked like a turn
// (rendered screens with seeds 2-7, docs/liveness.md). The tracked yaw now
// needs both sides.
func TestTrackedYawNeedsBothSidesOfTheOutline(t *testing.T) {
	c := &Checker{faceW: 100, cx: 100, cy: 100, nose: -1}
	// Nose column, left outline and right outline, in the first frame.
	p0 := []pt{{100, 100}, {105, 110}, {60, 100}, {62, 120}, {140, 100}, {138, 120}}
	c.frames = []frameObs{{pos: p0, alive: []bool{true, true, true, true, true, true}}}
	move := func(nose, left, right float64, rightAlive bool) frameObs {
		d := []float64{nose, nose, left, left, right, right}
		f := frameObs{pos: make([]pt, len(p0)), alive: make([]bool, len(p0))}
		for i, p := range p0 {
			f.pos[i], f.alive[i] = pt{p.X + d[i], p.Y}, i < 4 || rightAlive
		}
		return f
	}
	for _, tc := range []struct {
		name string
		f    frameObs
		want float64 // NaN: no measure
	}{
		{"a head turning: the nose leads both sides", move(8, 2, 2, true), 0.06},
		{"the whole face slides", move(8, 8, 8, true), 0},
		{"the right side lost, the nose moves relative to the left", move(8, 2, 0, false), math.NaN()},
		{"the right side lost, nothing moves", move(0, 0, 0, false), math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := c.yawOf([]frameObs{tc.f, tc.f, tc.f}, false)[1] // the first is the baseline
			if math.IsNaN(tc.want) != math.IsNaN(y) || (!math.IsNaN(y) && math.Abs(y-tc.want) > 1e-9) {
				t.Errorf("tracked yaw %.4f, want %.4f", y, tc.want)
			}
		})
	}
}

func TestStartFace(t *testing.T) {
	frame := image.Rect(0, 0, 640, 480)
	cand := func(boxes ...image.Rectangle) []capture.Candidate {
		var cs []capture.Candidate
		for _, b := range boxes {
			cs = append(cs, capture.Candidate{Face: capture.Face{Box: b}})
		}
		return cs
	}
	cut := image.Rect(44, -10, 522, 502) // YuNet's box of a face larger than the frame
	inside, small := image.Rect(100, 100, 300, 320), image.Rect(400, 50, 480, 140)
	none := image.Rectangle{}
	for _, tc := range []struct {
		name string
		a    capture.Analysis
		near image.Rectangle
		want int
		err  error
	}{
		{"the best acceptable face", capture.Analysis{Candidates: cand(inside, small), Best: 1}, none, 1, nil},
		{"no acceptable face: the largest", capture.Analysis{Candidates: cand(inside, small), Best: -1}, none, 0, nil},
		{"the best is cut by the edge: the largest inside", capture.Analysis{Candidates: cand(cut, small), Best: 0}, none, 1, nil},
		{"the largest is cut by the edge", capture.Analysis{Candidates: cand(cut, small), Best: -1}, none, 1, nil},
		{"only a face cut by the edge", capture.Analysis{Candidates: cand(cut), Best: -1}, none, -1, nil},
		{"no face", capture.Analysis{Best: -1}, none, -1, nil},
		{"an empty box", capture.Analysis{Candidates: cand(image.Rectangle{}, small), Best: 0}, none, 1, nil},
		{"near: the chosen face, not the best", capture.Analysis{Candidates: cand(inside, small), Best: 0}, small.Add(image.Pt(10, 5)), 1, nil},
		{"near: the chosen face is cut, another is inside", capture.Analysis{Candidates: cand(cut, small), Best: 1}, image.Rect(60, 0, 500, 470), -1, ErrFaceCut},
		{"near: nothing overlaps the chosen face", capture.Analysis{Candidates: cand(small), Best: 0}, inside, -1, ErrFaceMoved},
		{"near: a face barely overlapping is another", capture.Analysis{Candidates: cand(inside), Best: 0}, image.Rect(250, 250, 450, 470), -1, ErrFaceMoved},
		{"near: no face at all", capture.Analysis{Best: -1}, inside, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := startFace(tc.a, frame, tc.near)
			assert.Equal(t, tc.want, got)
			assert.ErrorIs(t, err, tc.err)
			if tc.err == nil {
				assert.NoError(t, err)
			}
		})
	}
}

// fixedFinder answers Face with fixed values.
type fixedFinder struct {
	box image.Rectangle
	ok  bool
	err error
}

func (f fixedFinder) Face(gocv.Mat) (image.Rectangle, *Landmarks, bool, error) {
	return f.box, nil, f.ok, f.err
}
func (fixedFinder) Landmarks(gocv.Mat, image.Rectangle) (*Landmarks, error) { return nil, nil }

// TestGateFinder: a gate's check starts on the face the detector finds
// near the chosen one, else, when it finds none at all, on the chosen
// box; not when the chosen face is cut by the frame's edge, faces are
// found elsewhere only, or the box is out of the frame.
func TestGateFinder(t *testing.T) {
	frame := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer frame.Close()
	chosen, found := image.Rect(100, 100, 300, 320), image.Rect(110, 104, 306, 330)
	for _, tc := range []struct {
		name   string
		inner  fixedFinder
		chosen image.Rectangle
		want   image.Rectangle
		ok     bool
		err    error
	}{
		{"the detector finds the chosen face", fixedFinder{box: found, ok: true}, chosen, found, true, nil},
		{"the detector finds nothing near it: the chosen box", fixedFinder{}, chosen, chosen, true, nil},
		{"the chosen box is out of the frame", fixedFinder{}, image.Rect(500, 300, 700, 520), image.Rectangle{}, false, nil},
		{"no chosen box", fixedFinder{}, image.Rectangle{}, image.Rectangle{}, false, nil},
		{"the chosen face is cut by the edge: no fallback", fixedFinder{err: ErrFaceCut}, chosen, image.Rectangle{}, false, ErrFaceCut},
		{"faces found, none near it: no fallback", fixedFinder{err: ErrFaceMoved}, chosen, image.Rectangle{}, false, ErrFaceMoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok, err := chosenFinder{inner: tc.inner, chosen: tc.chosen}.Face(frame)
			assert.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, tc.want, got)
			}
		})
	}
	// With an analyser: the face near the chosen one, not the best one.
	f := GateFinder(nil, true, chosen).(chosenFinder)
	assert.Equal(t, AnalyzerFinder{YuNet: true, Near: chosen}, f.inner)
	assert.Equal(t, chosen, f.chosen)
}

// TestGateFinderWithHaar: Haar's first search skips faces under half the
// chosen one's width; when it finds nothing, the search of every size
// still tells a face elsewhere (ErrFaceMoved) from none, and the chosen
// face is found where it is.
func TestGateFinderWithHaar(t *testing.T) {
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorHaar, AllowMultiple: true})
	require.NoError(t, err)
	defer an.Close()
	photo := workerPhoto(t)
	defer photo.Close()
	// The photo's face covers x 229-469, y 149-389 of its 640x480.
	place := func(frame *gocv.Mat, photoW int, at image.Point) image.Rectangle {
		scaled := gocv.NewMat()
		defer scaled.Close()
		gocv.Resize(photo, &scaled, image.Pt(photoW, photoW*3/4), 0, 0, gocv.InterpolationArea)
		region := frame.Region(image.Rect(at.X, at.Y, at.X+photoW, at.Y+photoW*3/4))
		defer region.Close()
		scaled.CopyTo(&region)
		k := float64(photoW) / 640
		return image.Rect(at.X+int(229*k), at.Y+int(149*k), at.X+int(469*k), at.Y+int(389*k))
	}
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 720, 1280, gocv.MatTypeCV8UC3)
	defer frame.Close()
	small := place(&frame, 240, image.Pt(900, 300)) // a face of 90 px
	chosen := image.Rect(100, 120, 400, 420)        // where a face of 300 px was chosen

	an.Reset()
	_, _, _, err = GateFinder(an, false, chosen).Face(frame)
	require.ErrorIs(t, err, ErrFaceMoved, "only a small face elsewhere")

	big := place(&frame, 800, image.Pt(10, 10)) // the chosen face, there
	an.Reset()
	got, _, ok, err := GateFinder(an, false, big).Face(frame)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Greater(t, capture.IoU(got, big), 0.5, "found %v, the face is at %v (the small one at %v)", got, big, small)
}

// cutFinder finds only a face cut by the frame's edge.
type cutFinder struct{}

func (cutFinder) Face(gocv.Mat) (image.Rectangle, *Landmarks, bool, error) {
	return image.Rectangle{}, nil, false, ErrFaceCut
}
func (cutFinder) Landmarks(gocv.Mat, image.Rectangle) (*Landmarks, error) { return nil, nil }

func TestCheckOnACutFaceIsUnavailable(t *testing.T) {
	frame := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer frame.Close()
	for name, finder := range map[string]Finder{"cut by the edge": cutFinder{}, "moved away": fixedFinder{err: ErrFaceMoved}} {
		r, err := Check(context.Background(), Config{}, ModeChallenge, Left, finder, &MatFrames{Mats: []gocv.Mat{frame}, FPS: testFPS})
		if err != nil {
			t.Fatalf("%s: an unavailable check, not an error: %v", name, err)
		}
		if r.Live || !r.Unavailable() || !slices.Contains(r.Reasons, ReasonNoFace) {
			t.Fatalf("%s: result %+v, want no_face (unavailable)", name, r)
		}
	}
}

// TestDoneWaitsOutAnEarlyRefusalWithLandmarks: with YuNet, the landmarks
// jump past the amplitude before the head has really turned (a fast turn
// at a low frame rate, motion blur: shenasa in docs/liveness.md), so the
// geometry measured at that first peak is still flat when the tracked
// points confirm the turn. The check must not stop on that early refusal
// but watch on: as the head turns further the peak moves to frames that
// show its parallax, and the verdict is live.
func TestDoneWaitsOutAnEarlyRefusalWithLandmarks(t *testing.T) {
	img, face, c := syntheticChallenge(t, Left)
	w, h := face.Dx(), face.Dy()
	at := func(fx, fy float64) image.Point {
		return image.Pt(face.Min.X+int(fx*float64(w)), face.Min.Y+int(fy*float64(h)))
	}
	earlyRefusal := false
	doneAt := runUntilDone(t, c, face, 38, func(ts time.Duration, dst *gocv.Mat) *Landmarks {
		turn := ramp(ts, 200*time.Millisecond, 900*time.Millisecond, 0.35)
		synth.Turn(img, dst, face, turn)
		nose := 0.45 * turn / 0.35
		if ts >= 200*time.Millisecond { // after the first three frames, the landmarks' baseline
			nose = math.Max(nose, 0.25)
		}
		return &Landmarks{at(0.3, 0.4), at(0.7, 0.4), at(0.5+nose, 0.6), at(0.35, 0.8), at(0.65, 0.8)}
	}, func() {
		// What the check would have said had it stopped when the tracked
		// points confirmed the turn (the rule before).
		tr := c.yawOf(c.frames, false)
		if y := tr[len(tr)-1]; !earlyRefusal && !math.IsNaN(y) && y >= DefaultConfig.MinAmplitudeTracked {
			r, err := c.Result()
			earlyRefusal = err == nil && !r.Live
		}
	})
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !earlyRefusal {
		t.Fatal("the verdict was live as soon as the tracked points turned: the test no longer shows an early refusal")
	}
	if doneAt < 0 || !r.Live {
		t.Fatalf("done at frame %d with live=%v %v: want a live verdict before the window ends (cues %+v)", doneAt, r.Live, r.Reasons, r.Cues)
	}
}

// TestLaterLooksNeedAMargin: once the verdict at the confirmed turn was a
// refusal, later verdicts judge the geometry with laterLookMargin: cues
// that pass the plain thresholds by less than it are refused.
func TestLaterLooksNeedAMargin(t *testing.T) {
	c := &Checker{cfg: DefaultConfig}
	k := (1 + laterLookMargin) / 2 // between the plain threshold and the margin
	cues := Cues{KeptShare: 1, Parallax: k * DefaultConfig.MinParallax, NoseLead: k * DefaultConfig.MinParallax / 4,
		NonDevelopable: k * DefaultConfig.MinNonDevelopable, DirectParallax: k * DefaultConfig.MinParallax,
		DirectNonDevelopable: k * DefaultConfig.MinNonDevelopable, FoundParallax: k * DefaultConfig.MinParallax * foundPart,
		FoundNonDevelopable: k * DefaultConfig.MinNonDevelopable * foundPart}
	if r := geometryReason(c.geometryConfig(), cues); r != "" {
		t.Fatalf("first look: %s, want a head", r)
	}
	c.refusedEarly = true
	if r := geometryReason(c.geometryConfig(), cues); r == "" {
		t.Fatal("a later look accepted cues within the margin")
	}
	cues.Parallax, cues.NoseLead, cues.NonDevelopable = 2*cues.Parallax, 2*cues.NoseLead, 2*cues.NonDevelopable
	cues.DirectParallax, cues.DirectNonDevelopable = 2*cues.DirectParallax, 2*cues.DirectNonDevelopable
	cues.FoundParallax, cues.FoundNonDevelopable = 2*cues.FoundParallax, 2*cues.FoundNonDevelopable
	if r := geometryReason(c.geometryConfig(), cues); r != "" {
		t.Fatalf("a later look refused cues past the margin: %s", r)
	}
}
