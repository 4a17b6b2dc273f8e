package liveness

import (
	"context"
	"encoding/json"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/motionblur"
)

// TestBlurredStartCannotRun: at a gate the challenge starts right after
// the capture chose its face. A first frame much blurrier than that face
// (a picture held still for the capture, then shaken, vibrated or
// twisted from before the prompt)
// cannot run (blurred_start, which denies without counting towards the
// lockout); without the chosen face's detail (a clip) the start is not
// judged, and the passive cue never judges it. A camera whose exposure
// settled between the choice and the prompt (contrast 0.7: the
// thirteenth round's measure read half the sharpness) does not make a
// sharp start blurred, and its noise does not hide a smeared one.
func TestBlurredStartCannotRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     Mode
		smear    float64 // px, the first frame's horizontal motion blur
		contrast float64 // of every frame of the challenge against the chosen one (0: 1)
		noise    float64 // grey levels of camera noise on every frame, the chosen one too
		known    bool    // the chosen face's detail is given
		blurred  bool    // want blurred_start
	}{
		{"a sharp start", ModeChallenge, 0, 0, 0, true, false},
		{"a start smeared by 2 px", ModeChallenge, 2, 0, 0, true, false},
		{"a start smeared by 8 px", ModeChallenge, 8, 0, 0, true, true},
		{"a start smeared by 16 px", ModeChallenge, 16, 0, 0, true, true},
		{"a sharp start at 0.7 of the chosen face's contrast", ModeChallenge, 0, 0.7, 0, true, false},
		{"a sharp start under a camera's noise", ModeChallenge, 0, 0, 5, true, false},
		{"a start smeared by 8 px under a camera's noise", ModeChallenge, 8, 0, 5, true, true},
		{"smeared, the chosen face unknown", ModeChallenge, 16, 0, 0, false, false},
		{"smeared, passive", ModePassive, 16, 0, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, face := turnFrames(t, 20*math.Pi/180)
			rng := rand.New(rand.NewSource(3))
			chosen := frames.Mats[0].Clone()
			defer chosen.Close()
			addCameraNoise(&chosen, tc.noise, rng)
			cfg := Config{}
			if tc.known {
				cfg.StartDetail = capture.FaceDetail(chosen, face)
				require.True(t, KnownDetail(cfg.StartDetail), "detail %v", cfg.StartDetail)
			}
			if tc.smear > 0 {
				motionblur.Apply(&frames.Mats[0], tc.smear, 0)
			}
			asLater(frames, tc.contrast, tc.noise, rng)
			r, err := Check(context.Background(), cfg, tc.mode, Left, boxFinder(face), frames)
			require.NoError(t, err)
			t.Logf("reasons %v, start_sharpness %.3f, frames %d", r.Reasons, r.Cues.StartSharpness, r.Cues.Frames)
			if tc.known && tc.mode == ModeChallenge {
				assert.Equal(t, cfg.StartDetail, r.Cues.ChosenDetail, "the detail the start is a share of")
			} else {
				assert.Zero(t, r.Cues.ChosenDetail, "not judged, not reported")
			}
			assert.Equal(t, tc.blurred, slices.Contains(r.Reasons, ReasonBlurredStart))
			if tc.blurred {
				assert.False(t, r.Live)
				assert.True(t, r.Unavailable(), "blurred_start is a check that cannot run")
				assert.Less(t, r.Cues.StartSharpness, minStartSharpness)
				assert.LessOrEqual(t, r.Cues.Frames, 1, "a blurred start decides at once")
				return
			}
			if tc.known && tc.mode == ModeChallenge {
				assert.GreaterOrEqual(t, r.Cues.StartSharpness, minStartSharpness)
			} else {
				assert.Zero(t, r.Cues.StartSharpness, "not judged, not reported")
			}
			if tc.mode == ModeChallenge && tc.smear <= 2 && tc.noise == 0 {
				assert.True(t, r.Live, "a head turning the asked way from a sharp start")
			}
		})
	}
}

// asLater changes every frame of a challenge as the camera may have since
// the capture chose its face: the contrast (0: as it was) and the
// camera's noise (grey levels).
func asLater(frames *MatFrames, contrast, noise float64, rng *rand.Rand) {
	for i := range frames.Mats {
		m := &frames.Mats[i]
		if contrast > 0 {
			m.ConvertToWithParams(m, gocv.MatTypeCV8UC3, float32(contrast), float32(128*(1-contrast)))
		}
		addCameraNoise(m, noise, rng)
	}
}

// TestStartShareStaysANumber: a chosen detail no face has (an edited
// clip's .json) is unknown, and a first frame far sharper than the chosen
// face caps the cue, so that the result is always valid JSON.
func TestStartShareStaysANumber(t *testing.T) {
	for _, chosen := range []float64{5e-324, 1e-7, minDetail, maxDetail, 2 * maxDetail, math.Inf(1), math.NaN(), -3} {
		frames, face := turnFrames(t, 20*math.Pi/180)
		r, err := Check(context.Background(), Config{StartDetail: chosen}, ModeChallenge, Left, boxFinder(face), frames)
		require.NoError(t, err)
		_, err = json.Marshal(r)
		require.NoError(t, err, "chosen %v: cues %+v", chosen, r.Cues)
		assert.LessOrEqual(t, r.Cues.StartSharpness, maxStartShare)
		switch {
		case !KnownDetail(chosen):
			assert.Zero(t, r.Cues.StartSharpness, "chosen %v is unknown", chosen)
			assert.Zero(t, r.Cues.ChosenDetail, "chosen %v is unknown", chosen)
			assert.True(t, r.Live, "chosen %v: %v", chosen, r.Reasons)
		case chosen == minDetail:
			assert.Equal(t, maxStartShare, r.Cues.StartSharpness, "capped")
			assert.True(t, r.Live, "chosen %v: %v", chosen, r.Reasons)
			assert.Equal(t, chosen, r.Cues.ChosenDetail)
			assert.Equal(t, r.Cues.Frames-1, r.Cues.YawFrames, "every frame of a turning head measured")
		default: // the most detail a face may have: this start has little of it
			assert.Equal(t, []Reason{ReasonBlurredStart}, r.Reasons)
			assert.Equal(t, chosen, r.Cues.ChosenDetail)
		}
	}
}
