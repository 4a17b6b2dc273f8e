package liveness

import (
	"context"
	"image"
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

// TestChangedFaceRefused: a challenge must start on the face the capture
// chose. Another face there (the worker's picture held up for the
// capture, the attacker's own head for the challenge) is refused at once
// as face_changed, an attack seen, not a check that could not run; the
// same face under another exposure or a camera's noise is not. Without
// the chosen face's texture (a clip, a signature that is no signature)
// the start's face is not judged, and the passive cue never judges it.
func TestChangedFaceRefused(t *testing.T) {
	other := workerPhoto(t) // a real man's face: the cartoon faces of synth share their texture
	defer other.Close()
	otherSig := capture.FaceSignature(other, image.Rect(229, 149, 469, 389))
	require.NoError(t, otherSig.Valid())
	for _, tc := range []struct {
		name     string
		mode     Mode
		chosen   func(first gocv.Mat, face image.Rectangle) capture.Signature
		contrast float64 // of every frame of the challenge against the chosen one (0: 1)
		noise    float64 // grey levels of camera noise on every frame of the challenge
		changed  bool    // want face_changed
	}{
		{"the same face", ModeChallenge, capture.FaceSignature, 0, 0, false},
		{"the same face at 0.7 of its contrast", ModeChallenge, capture.FaceSignature, 0.7, 0, false},
		{"the same face under a camera's noise", ModeChallenge, capture.FaceSignature, 0, 4, false},
		{"another face chosen", ModeChallenge, func(gocv.Mat, image.Rectangle) capture.Signature { return otherSig }, 0, 0, true},
		{"another face chosen, the challenge under noise", ModeChallenge, func(gocv.Mat, image.Rectangle) capture.Signature { return otherSig }, 0, 4, true},
		{"the chosen box a tenth of a face to the side (a detector's jump)", ModeChallenge, func(first gocv.Mat, face image.Rectangle) capture.Signature {
			return capture.FaceSignature(first, face.Add(image.Pt(face.Dx()/10, 0)))
		}, 0, 0, false},
		{"the chosen face unknown", ModeChallenge, func(gocv.Mat, image.Rectangle) capture.Signature { return nil }, 0, 0, false},
		{"the chosen face no signature (a .json edited)", ModeChallenge, func(gocv.Mat, image.Rectangle) capture.Signature { return otherSig[1:] }, 0, 0, false},
		{"another face chosen, passive", ModePassive, func(gocv.Mat, image.Rectangle) capture.Signature { return otherSig }, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames, face := turnFrames(t, 20*math.Pi/180)
			cfg := Config{StartFace: tc.chosen(frames.Mats[0], face)}
			rng := rand.New(rand.NewSource(5))
			asLater(frames, tc.contrast, tc.noise, rng)
			r, err := Check(context.Background(), cfg, tc.mode, Left, boxFinder(face), frames)
			require.NoError(t, err)
			t.Logf("reasons %v, start_face_distance %.2f, frames %d", r.Reasons, r.Cues.StartFaceDistance, r.Cues.Frames)
			judged := tc.mode == ModeChallenge && cfg.StartFace.Valid() == nil
			if !judged {
				assert.Zero(t, r.Cues.StartFaceDistance, "not judged, not reported")
			}
			assert.Equal(t, tc.changed, slices.Contains(r.Reasons, ReasonFaceChanged))
			if tc.changed {
				assert.False(t, r.Live)
				assert.False(t, r.Unavailable(), "face_changed is an attack seen")
				assert.Greater(t, r.Cues.StartFaceDistance, maxStartFaceDistance)
				assert.LessOrEqual(t, r.Cues.Frames, 1, "a changed face decides at once")
				return
			}
			if judged {
				assert.LessOrEqual(t, r.Cues.StartFaceDistance, maxStartFaceDistance)
			}
			if tc.mode == ModeChallenge {
				assert.True(t, r.Live, "a head turning the asked way from the chosen face: %v", r.Reasons)
			}
		})
	}
}

// TestChangedFaceAfterABlurredStart: a start both blurred and unlike the
// chosen face is blurred_start (a worker who moved before the prompt
// holds still and tries again, without a lockout count); one whose face
// cannot be read (too small a box) cannot run (no_face), never taken for
// the same face.
func TestChangedFaceAfterABlurredStart(t *testing.T) {
	other := workerPhoto(t)
	defer other.Close()
	otherSig := capture.FaceSignature(other, image.Rect(229, 149, 469, 389))

	frames, face := turnFrames(t, 20*math.Pi/180)
	cfg := Config{StartDetail: capture.FaceDetail(frames.Mats[0], face), StartFace: otherSig}
	motionblur.Apply(&frames.Mats[0], 16, 0)
	r, err := Check(context.Background(), cfg, ModeChallenge, Left, boxFinder(face), frames)
	require.NoError(t, err)
	assert.Equal(t, []Reason{ReasonBlurredStart}, r.Reasons)
	assert.True(t, r.Unavailable())
	assert.Greater(t, r.Cues.StartFaceDistance, maxStartFaceDistance, "measured and reported all the same")

	frames, face = turnFrames(t, 20*math.Pi/180)
	tiny := image.Rectangle{Min: face.Min, Max: face.Min.Add(image.Pt(12, 12))}
	r, err = Check(context.Background(), Config{StartFace: otherSig}, ModeChallenge, Left, boxFinder(tiny), frames)
	require.NoError(t, err)
	assert.Equal(t, []Reason{ReasonNoFace}, r.Reasons)
	assert.True(t, r.Unavailable())
	assert.LessOrEqual(t, r.Cues.Frames, 1, "decided at once")
}
