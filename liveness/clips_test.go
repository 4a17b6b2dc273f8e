package liveness

import (
	"context"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// boxFinder starts every check on one box (no landmarks).
type boxFinder image.Rectangle

func (f boxFinder) Face(gocv.Mat) (image.Rectangle, *Landmarks, bool, error) {
	return image.Rectangle(f), nil, true, nil
}
func (boxFinder) Landmarks(gocv.Mat, image.Rectangle) (*Landmarks, error) { return nil, nil }

// turnFrames renders synth.Face turning by peak radians, 38 frames at testFPS.
func turnFrames(t *testing.T, peak float64) (*MatFrames, image.Rectangle) {
	t.Helper()
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	m := &MatFrames{FPS: testFPS}
	for i := 0; i < 38; i++ {
		f := gocv.NewMat()
		synth.Turn(img, &f, face, ramp(time.Duration(i)*time.Second/testFPS, 300*time.Millisecond, 600*time.Millisecond, peak))
		m.Mats = append(m.Mats, f)
	}
	t.Cleanup(func() {
		for _, f := range m.Mats {
			f.Close()
		}
	})
	return m, face
}

// TestClipRecorderReplaysTheCheck: a recorded challenge read back as the
// camera gives the verdict the check gave live, and its .json carries that
// verdict and every frame's time.
func TestClipRecorderReplaysTheCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  Direction
		live bool
	}{{"asked way", Left, true}, {"other way", Right, false}} {
		t.Run(tc.name, func(t *testing.T) {
			frames, face := turnFrames(t, 20*math.Pi/180)
			dir := filepath.Join(t.TempDir(), "clips")
			start := time.Date(2026, 12, 3, 10, 45, 0, 120e6, time.UTC)
			rec := NewClipRecorder(frames, dir, testFPS, tc.dir, start)
			live, err := Check(context.Background(), Config{}, ModeChallenge, tc.dir, boxFinder(face), rec)
			require.NoError(t, err)
			require.Equal(t, tc.live, live.Live, "live check: %v %+v", live.Reasons, live.Cues)
			path, err := rec.Finish(live, "haar")
			require.NoError(t, err)
			assert.Equal(t, filepath.Join(dir, string(tc.dir)+"_20261203T104500.120Z.avi"), path)

			v, err := OpenVideo(path)
			require.NoError(t, err)
			defer v.Close()
			again, err := Check(context.Background(), Config{}, ModeChallenge, tc.dir, boxFinder(face), v)
			require.NoError(t, err)
			assert.Equal(t, live.Live, again.Live, "replayed: %v %+v", again.Reasons, again.Cues)
			assert.Equal(t, live.Reasons, again.Reasons)

			b, err := os.ReadFile(filepath.Join(dir, string(tc.dir)+"_20261203T104500.120Z.json"))
			require.NoError(t, err)
			var info clipInfo
			require.NoError(t, json.Unmarshal(b, &info))
			assert.Equal(t, tc.dir, info.Challenge)
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
			assert.Equal(t, live.Live, info.Live)
			assert.Equal(t, "haar", info.Detector)
			assert.Len(t, info.FrameMS, live.Cues.Frames)
			entries, _ := os.ReadDir(dir)
			assert.Len(t, entries, 2, "the clip and its .json, nothing half-written")
		})
	}
}

// TestClipRecorderFailureNeverStopsTheCheck: a clip that cannot be written
// (its folder is a file; the frame size changes) stops the recording, not
// the check, and leaves no partial clip.
func TestClipRecorderFailureNeverStopsTheCheck(t *testing.T) {
	t.Run("folder is a file", func(t *testing.T) {
		frames, face := turnFrames(t, 20*math.Pi/180)
		notDir := filepath.Join(t.TempDir(), "clips")
		require.NoError(t, os.WriteFile(notDir, nil, 0o640))
		rec := NewClipRecorder(frames, notDir, testFPS, Left, time.Now())
		r, err := Check(context.Background(), Config{}, ModeChallenge, Left, boxFinder(face), rec)
		require.NoError(t, err)
		assert.True(t, r.Live, "%v", r.Reasons)
		assert.Error(t, rec.Err())
		_, err = rec.Finish(r, "haar")
		assert.Error(t, err)
	})
	t.Run("frame size changes", func(t *testing.T) {
		frames, _ := turnFrames(t, 20*math.Pi/180)
		small := gocv.NewMat()
		defer small.Close()
		gocv.Resize(frames.Mats[5], &small, image.Pt(320, 240), 0, 0, gocv.InterpolationArea)
		frames.Mats[5].Close()
		frames.Mats[5] = small.Clone()
		dir := t.TempDir()
		rec := NewClipRecorder(&MatFrames{Mats: frames.Mats[:6], FPS: testFPS}, dir, testFPS, Left, time.Now())
		m := gocv.NewMat()
		defer m.Close()
		for {
			if _, err := rec.Next(context.Background(), &m); err != nil {
				break
			}
		}
		assert.ErrorContains(t, rec.Err(), "frame size changed")
		_, err := rec.Finish(Result{}, "haar")
		assert.Error(t, err)
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries, "no partial clip left")
	})
}

func TestPruneClips(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	files := map[string]time.Duration{ // name: age
		"left_old.avi": 8 * 24 * time.Hour, "left_old.json": 8 * 24 * time.Hour,
		"right_new.avi": time.Hour, "right_new.json": time.Hour,
		"bonafide_left_labelled.avi": 9 * 24 * time.Hour, // labelled by the site: still a clip
		"left_crash.part.avi":        2 * time.Hour,      // a crash mid-clip
		"left_now.part.avi":          time.Minute,        // being written
		"notes.txt":                  30 * 24 * time.Hour,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o640))
		require.NoError(t, os.Chtimes(p, now.Add(-age), now.Add(-age)))
	}
	n, err := PruneClips(dir, now, 7*24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"right_new.avi", "right_new.json", "left_now.part.avi", "notes.txt"}, left)
	n, err = PruneClips(filepath.Join(dir, "none"), now, time.Hour)
	assert.NoError(t, err)
	assert.Zero(t, n)
}

// TestVerifyClip: OpenCV's writer reports no error, so a clip cut short (a
// full disk) is caught by reading it back.
func TestVerifyClip(t *testing.T) {
	frames, _ := turnFrames(t, 0)
	dir := t.TempDir()
	rec := NewClipRecorder(frames, dir, testFPS, Left, time.Now())
	m := gocv.NewMat()
	defer m.Close()
	for {
		if _, err := rec.Next(context.Background(), &m); err != nil {
			break
		}
	}
	require.NoError(t, rec.w.Close())
	rec.w = nil
	require.NoError(t, verifyClip(rec.part(), len(frames.Mats)))
	assert.ErrorContains(t, verifyClip(rec.part(), len(frames.Mats)+1), "frames readable")
	st, err := os.Stat(rec.part())
	require.NoError(t, err)
	require.NoError(t, os.Truncate(rec.part(), st.Size()/2))
	assert.Error(t, verifyClip(rec.part(), len(frames.Mats)))
	_, err = rec.Finish(Result{}, "haar")
	assert.Error(t, err, "a clip cut short is not published")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}
