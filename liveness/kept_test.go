package liveness

import (
	"math"
	"slices"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestTracksLostBeforeTheEndCannotJudge: a check that ends with fewer than
// minKeptShare of the points it seeded still tracked cannot judge
// (face_lost, which denies) when no other rule refused, however the
// frames before looked. Rendered prints kept moving through the capture
// under a webcam's noise and MJPEG lost most of their tracks, and the few
// left read as a head.
func TestTracksLostBeforeTheEndCannotJudge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start time.Duration // when the head starts turning
		kept  float64       // share of the seeds left alive in the last frame; -1 untouched
		want  Reason        // "" live
	}{
		{"head, tracks kept", 300 * time.Millisecond, -1, ""},
		{"head, just enough tracks kept", 300 * time.Millisecond, minKeptShare + 0.05, ""},
		{"most tracks lost at the end", 300 * time.Millisecond, minKeptShare - 0.05, ReasonFaceLost},
		{"every track lost at the end", 300 * time.Millisecond, 0, ReasonFaceLost},
		// A late turn was seen while the tracks held: a refusal that
		// counts towards the lockout, which the lost tracks must not
		// turn into "cannot run".
		{"late turn, tracks lost at the end", 1500 * time.Millisecond, minKeptShare - 0.05, ReasonLate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, face, c := syntheticChallenge(t, Left)
			doneAt := runUntilDone(t, c, face, 38, func(at time.Duration, dst *gocv.Mat) *Landmarks {
				synth.Turn(img, dst, face, ramp(at, tc.start, 600*time.Millisecond, 0.35))
				return nil
			})
			if doneAt < 0 {
				t.Fatal("the head's turn never ended the check")
			}
			if tc.kept >= 0 {
				last := c.frames[len(c.frames)-1]
				seeds := len(c.frames[0].pos)
				keep := int(tc.kept * float64(seeds))
				if alive := aliveCount(last); alive <= keep {
					t.Fatalf("the head kept %d of %d tracks, not more than the %d the case keeps", alive, seeds, keep)
				}
				for i, alive := range last.alive {
					if alive && keep == 0 {
						last.alive[i] = false
					} else if alive {
						keep--
					}
				}
			}
			r, err := c.Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := float64(aliveCount(c.frames[len(c.frames)-1])) / float64(len(c.frames[0].pos)); math.Abs(r.Cues.KeptShare-want) > 1e-4 {
				t.Errorf("kept_share %.4f, want %.4f (the last frame's points over the seeds)", r.Cues.KeptShare, want)
			}
			switch {
			case tc.want == "" && !r.Live:
				t.Fatalf("refused %v, want live: %+v", r.Reasons, r.Cues)
			case tc.want != "" && (r.Live || !slices.Equal(r.Reasons, []Reason{tc.want})):
				t.Fatalf("live = %v, reasons %v, want only %s: %+v", r.Live, r.Reasons, tc.want, r.Cues)
			case r.Unavailable() != (tc.want == ReasonFaceLost):
				t.Fatalf("reasons %v: unavailable = %v", r.Reasons, r.Unavailable())
			}
			if tc.kept < 0 && r.Cues.KeptShare < 2*minKeptShare {
				t.Errorf("a turning head kept %.2f of its tracks, less than twice the %.2f needed", r.Cues.KeptShare, minKeptShare)
			}
		})
	}
}
