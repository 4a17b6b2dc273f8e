package liveness

import (
	"context"
	"image"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestCheckWatchingFollowsTheTurn: the watcher sees the turn as the check
// measures it, frame by frame, signed by the asked way, with the need the
// verdict uses; the verdict is Check's.
func TestCheckWatchingFollowsTheTurn(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	const peak = 20 * math.Pi / 180
	render := func(yaw float64) []gocv.Mat {
		var ms []gocv.Mat
		for i := range 30 {
			at := time.Duration(i) * time.Second / testFPS
			m := gocv.NewMat()
			synth.Turn(img, &m, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, yaw))
			ms = append(ms, m)
		}
		return ms
	}
	closeAll := func(ms []gocv.Mat) {
		for _, m := range ms {
			m.Close()
		}
	}
	left, right := render(peak), render(-peak)
	defer closeAll(left)
	defer closeAll(right)
	tests := []struct {
		name   string
		frames []gocv.Mat
		dir    Direction
		mode   Mode
		live   bool
		// sign of the largest turn seen: 1 the asked way, -1 the other
		sign float64
	}{
		{"a head turning the asked way", left, Left, ModeChallenge, true, 1},
		{"the same to the right", right, Right, ModeChallenge, true, 1},
		{"a head turning the other way", right, Left, ModeChallenge, false, -1},
		{"passive: no turn to show", left, "", ModePassive, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []Turn
			watch := func(tr Turn) { seen = append(seen, tr) }
			r, err := CheckWatching(context.Background(), Config{}, tc.mode, tc.dir, boxFinder(face), &MatFrames{Mats: tc.frames, FPS: testFPS}, watch)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Check(context.Background(), Config{}, tc.mode, tc.dir, boxFinder(face), &MatFrames{Mats: tc.frames, FPS: testFPS})
			if err != nil {
				t.Fatal(err)
			}
			if r.Live != tc.live || r.Live != want.Live || r.Score != want.Score || r.Cues.Frames != want.Cues.Frames {
				t.Fatalf("CheckWatching: live %v score %v frames %d; Check: live %v score %v frames %d; want live %v",
					r.Live, r.Score, r.Cues.Frames, want.Live, want.Score, want.Cues.Frames, tc.live)
			}
			if tc.mode == ModePassive {
				if len(seen) != 0 {
					t.Fatalf("passive check showed %d turns, want none", len(seen))
				}
				return
			}
			if len(seen) != r.Cues.Frames {
				t.Fatalf("%d turns shown for %d frames analysed", len(seen), r.Cues.Frames)
			}
			if seen[0].Yaw != 0 {
				t.Errorf("first frame's turn %v, want 0 (the start)", seen[0].Yaw)
			}
			need := (Config{}).withDefaults().MinAmplitudeTracked
			most := 0.0
			for _, tr := range seen {
				if tr.Need != need || tr.Landmarks {
					t.Fatalf("turn %+v: want the tracked points' need", tr)
				}
				if math.Abs(tr.Yaw) > math.Abs(most) {
					most = tr.Yaw
				}
			}
			if most*tc.sign < seen[0].Need {
				t.Errorf("largest turn shown %.4f, want at least %.3f the %s", most, seen[0].Need, map[float64]string{1: "asked way", -1: "other way"}[tc.sign])
			}
			if tc.live && most > r.Cues.Yaw {
				t.Errorf("largest turn shown %.4f, beyond the verdict's cue %.4f", most, r.Cues.Yaw)
			}
		})
	}
}

// TestTallyCountsRefusalsPastTheMeter: the evaluation's bona fide line
// counts the real turns refused after a turn that fills the kiosk's
// meter (twice the need of the measure that read it): the check's own
// refusals of a worker who did what the screen asked.
func TestTallyCountsRefusalsPastTheMeter(t *testing.T) {
	tl := &tally{name: "bona fide (test)"}
	for _, r := range []Result{
		{Reasons: []Reason{ReasonPlanar}, Cues: Cues{Yaw: 0.07, Landmarks: true}},            // counted
		{Reasons: []Reason{ReasonPlanar}, Cues: Cues{Yaw: 0.069, Landmarks: true}},           // short of the meter
		{Reasons: []Reason{ReasonBlur}, Cues: Cues{Yaw: 0.04}},                               // tracked points: counted
		{Reasons: []Reason{ReasonFaceLost}, Cues: Cues{Yaw: 0.2, Landmarks: true}},           // could not run
		{Live: true, Score: 0.8, Reasons: []Reason{}, Cues: Cues{Yaw: 0.2, Landmarks: true}}, // passed
	} {
		tl.add(r)
	}
	if tl.pastMeter != 2 {
		t.Fatalf("pastMeter %d, want 2", tl.pastMeter)
	}
	if s := tl.String(); !strings.Contains(s, "(4/5 rejected; 2 after a turn that fills the kiosk's meter)") {
		t.Fatalf("tally line %q", s)
	}
}

// TestTurnShowsWhatTheVerdictReads: with YuNet's landmarks the meter's
// need is theirs, and it shows the turn as the verdict's smoothed series
// reads it, one frame late: a landmark that jumps in one frame (jitter)
// does not fill the meter when the verdict sees no such turn.
func TestTurnShowsWhatTheVerdictReads(t *testing.T) {
	img, face, c := syntheticChallenge(t, Left)
	w, h := face.Dx(), face.Dy()
	at := func(fx, fy float64) image.Point {
		return image.Pt(face.Min.X+int(math.Round(fx*float64(w))), face.Min.Y+int(math.Round(fy*float64(h))))
	}
	// The nose's offset from the other landmarks, in face widths: a spike
	// of 0.14 in one frame among turns of at most 0.03.
	noses := []float64{0, 0, 0, 0.01, 0.02, 0.14, 0.03, 0.03, 0.03}
	frame := gocv.NewMat()
	defer frame.Close()
	var shown []float64
	for i, d := range noses {
		img.CopyTo(&frame)
		lm := &Landmarks{at(0.3, 0.4), at(0.7, 0.4), at(0.5+d, 0.6), at(0.35, 0.8), at(0.65, 0.8)}
		ts := time.Duration(i) * time.Second / testFPS
		var err error
		if i == 0 {
			err = c.Start(frame, face, lm, ts)
		} else {
			err = c.Add(frame, lm, ts)
		}
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.Turn()
		if !ok || !tr.Landmarks || tr.Need != DefaultConfig.MinAmplitude {
			t.Fatalf("frame %d: turn %+v (%v), want the landmarks' need %.3f", i, tr, ok, DefaultConfig.MinAmplitude)
		}
		series, _ := c.yawSeries(c.frames)
		if want := series[max(0, i-1)]; tr.Yaw != want {
			t.Fatalf("frame %d: the meter shows %.4f, the verdict's series has %.4f for the frame before", i, tr.Yaw, want)
		}
		shown = append(shown, tr.Yaw)
	}
	if m := slices.Max(shown); m >= 2*DefaultConfig.MinAmplitude {
		t.Fatalf("one frame's jitter showed a turn of %.3f (the meter full): %v", m, shown)
	}
}
