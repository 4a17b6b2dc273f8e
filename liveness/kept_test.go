package liveness

import (
	"slices"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestTracksLostBeforeTheEndCannotJudge: a check that ends with fewer than
// minKeptShare of the points it seeded still tracked cannot judge
// (face_lost, which denies), however the frames before looked. Rendered
// prints kept moving through the capture under a webcam's noise and MJPEG
// lost most of their tracks, and the few left read as a head.
func TestTracksLostBeforeTheEndCannotJudge(t *testing.T) {
	for _, tc := range []struct {
		name string
		kept float64 // share of the seeds left alive in the last frame; -1 untouched
		live bool
	}{
		{"head, tracks kept", -1, true},
		{"head, just enough tracks kept", minKeptShare + 0.05, true},
		{"most tracks lost at the end", minKeptShare - 0.05, false},
		{"every track lost at the end", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, face, c := syntheticChallenge(t, Left)
			doneAt := runUntilDone(t, c, face, 38, func(at time.Duration, dst *gocv.Mat) *Landmarks {
				synth.Turn(img, dst, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, 0.35))
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
				for i, n := range last.alive {
					if n && keep == 0 {
						last.alive[i] = false
					} else if n {
						keep--
					}
				}
			}
			r, err := c.Result()
			if err != nil {
				t.Fatal(err)
			}
			if r.Live != tc.live {
				t.Fatalf("live = %v, want %v: %v %+v", r.Live, tc.live, r.Reasons, r.Cues)
			}
			if !tc.live && (!slices.Contains(r.Reasons, ReasonFaceLost) || !r.Unavailable()) {
				t.Fatalf("reasons %v, want face_lost (cannot run)", r.Reasons)
			}
			if tc.kept < 0 && r.Cues.KeptShare < 2*minKeptShare {
				t.Errorf("a turning head kept %.2f of its tracks, less than twice the %.2f needed", r.Cues.KeptShare, minKeptShare)
			}
		})
	}
}
