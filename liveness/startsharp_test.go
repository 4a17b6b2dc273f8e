package liveness

import (
	"context"
	"encoding/json"
	"image"
	"math"
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
// lockout); without the chosen face's sharpness (a clip) the start is
// not judged, and the passive cue never judges it.
func TestBlurredStartCannotRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    Mode
		smear   float64 // px, the first frame's horizontal motion blur
		known   bool    // the chosen face's sharpness is given
		blurred bool    // want blurred_start
	}{
		{"a sharp start", ModeChallenge, 0, true, false},
		{"a start smeared by 2 px", ModeChallenge, 2, true, false},
		{"a start smeared by 8 px", ModeChallenge, 8, true, true},
		{"a start smeared by 16 px", ModeChallenge, 16, true, true},
		{"smeared, the chosen face unknown", ModeChallenge, 16, false, false},
		{"smeared, passive", ModePassive, 16, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, face := turnFrames(t, 20*math.Pi/180)
			cfg := Config{}
			if tc.known {
				cfg.StartSharpness = capture.FaceSharpness(frames.Mats[0], face)
				require.Greater(t, cfg.StartSharpness, 0.0)
			}
			if tc.smear > 0 {
				motionblur.Apply(&frames.Mats[0], tc.smear, 0)
			}
			r, err := Check(context.Background(), cfg, tc.mode, Left, boxFinder(face), frames)
			require.NoError(t, err)
			t.Logf("reasons %v, start_sharpness %.3f, frames %d", r.Reasons, r.Cues.StartSharpness, r.Cues.Frames)
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
			if tc.mode == ModeChallenge && tc.smear <= 2 {
				assert.True(t, r.Live, "a head turning the asked way from a sharp start")
			}
		})
	}
}

// TestFaceSharpnessOfAnyFrame: the start's sharpness reads the same on
// BGR, grey and BGRA frames; a box outside the frame, or a frame that is
// not 8-bit, has none.
func TestFaceSharpnessOfAnyFrame(t *testing.T) {
	frames, face := turnFrames(t, 0)
	bgr := frames.Mats[0]
	want := capture.FaceSharpness(bgr, face)
	require.Greater(t, want, 0.0)
	for _, code := range []gocv.ColorConversionCode{gocv.ColorBGRToGray, gocv.ColorBGRToBGRA} {
		m := gocv.NewMat()
		gocv.CvtColor(bgr, &m, code)
		assert.InDelta(t, want, capture.FaceSharpness(m, face), 0.02*want, "channels %d", m.Channels())
		m.Close()
	}
	assert.True(t, math.IsNaN(capture.FaceSharpness(bgr, face.Add(image.Pt(bgr.Cols(), 0)))))
	wide := gocv.NewMat()
	defer wide.Close()
	bgr.ConvertTo(&wide, gocv.MatTypeCV32FC3)
	assert.True(t, math.IsNaN(capture.FaceSharpness(wide, face)), "a float frame")
}

// TestStartShareStaysANumber: a chosen sharpness no face has (below 1, an
// edited clip's .json) is unknown, and a first frame far sharper than the
// chosen face caps the cue, so that the result is always valid JSON.
func TestStartShareStaysANumber(t *testing.T) {
	for _, chosen := range []float64{5e-324, 0.5, 1, math.Inf(1), math.NaN(), -3} {
		frames, face := turnFrames(t, 20*math.Pi/180)
		r, err := Check(context.Background(), Config{StartSharpness: chosen}, ModeChallenge, Left, boxFinder(face), frames)
		require.NoError(t, err)
		_, err = json.Marshal(r)
		require.NoError(t, err, "chosen %v: cues %+v", chosen, r.Cues)
		assert.LessOrEqual(t, r.Cues.StartSharpness, maxStartShare)
		assert.True(t, r.Live, "chosen %v: %v", chosen, r.Reasons)
		if chosen < 1 || math.IsNaN(chosen) || math.IsInf(chosen, 1) {
			assert.Zero(t, r.Cues.StartSharpness, "chosen %v is unknown", chosen)
		}
	}
}
