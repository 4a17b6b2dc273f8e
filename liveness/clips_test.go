package liveness

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/smalldisk"
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
		_, err := rec.Finish(Result{}, "haar")
		assert.ErrorContains(t, err, "frame size changed")
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries, "no partial clip left")
	})
	t.Run("disk full", func(t *testing.T) {
		frames, face := turnFrames(t, 20*math.Pi/180)
		dir := smalldisk.Mount(t, "256k") // a clip of this turn is ~1 MB
		rec := NewClipRecorder(frames, filepath.Join(dir, "clips"), testFPS, Left, time.Now())
		r, err := Check(context.Background(), Config{}, ModeChallenge, Left, boxFinder(face), rec)
		require.NoError(t, err)
		assert.True(t, r.Live, "%v", r.Reasons)
		_, err = rec.Finish(r, "haar")
		assert.Error(t, err)
		entries, _ := os.ReadDir(filepath.Join(dir, "clips"))
		assert.Empty(t, entries, "no clip cut short, no verdict without its clip")
	})
	t.Run("the encoder falls behind", func(t *testing.T) {
		frames, _ := turnFrames(t, 0)
		dir := t.TempDir()
		rec := NewClipRecorder(frames, dir, testFPS, Left, time.Now())
		// An encoder that never takes a frame: a card that stalls.
		rec.queue, rec.encoded = make(chan gocv.Mat, clipQueue), make(chan error, 1)
		m := gocv.NewMat()
		defer m.Close()
		for i := 0; i <= clipQueue+2; i++ {
			_, err := rec.Next(context.Background(), &m)
			require.NoError(t, err, "frame %d: the check must get every frame", i)
		}
		assert.ErrorContains(t, rec.Err(), "fell behind")
		assert.Len(t, rec.queue, clipQueue, "nothing queued once recording stopped")
		go func() { // what encode does once the queue is closed
			for f := range rec.queue {
				f.Close()
			}
			rec.encoded <- nil
		}()
		_, err := rec.Finish(Result{}, "haar")
		assert.ErrorContains(t, err, "fell behind")
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries)
	})
}

// TestSavedClipPlaysAtItsRealTimes: the camera gave a slow check 8 frames a
// second, the clip plays at the camera's 15. A turn starting 1.5 s after
// the challenge is late for the daemon; played at 15 fps it would start at
// 0.8 s and be accepted. With the saved times it is late again.
func TestSavedClipPlaysAtItsRealTimes(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	slow := &MatFrames{FPS: 8}
	for i := 0; i < 21; i++ {
		f := gocv.NewMat()
		synth.Turn(img, &f, face, ramp(time.Duration(i)*time.Second/8, 1500*time.Millisecond, 600*time.Millisecond, 20*math.Pi/180))
		slow.Mats = append(slow.Mats, f)
	}
	defer func() {
		for _, f := range slow.Mats {
			f.Close()
		}
	}()
	dir := t.TempDir()
	rec := NewClipRecorder(slow, dir, testFPS, Left, time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC))
	daemon, err := Check(context.Background(), Config{}, ModeChallenge, Left, boxFinder(face), rec)
	require.NoError(t, err)
	require.Equal(t, []Reason{ReasonLate}, daemon.Reasons, "%+v", daemon.Cues)
	rec.ChosenBox = face
	path, err := rec.Finish(daemon, "haar")
	require.NoError(t, err)
	labelled := filepath.Join(dir, "bonafide_"+filepath.Base(path))
	require.NoError(t, os.Rename(path, labelled))

	replay := func(timed bool) Result {
		v, err := OpenVideo(labelled)
		require.NoError(t, err)
		defer v.Close()
		if timed {
			saved, ok, err := ReadSavedClip(labelled)
			require.NoError(t, err)
			require.True(t, ok, "the .json beside the clip, found through its label")
			require.NotEmpty(t, saved.Times)
			assert.Equal(t, face, saved.ChosenBox, "the face the check started from")
			v.SetTimes(saved.Times)
		}
		r, err := Check(context.Background(), Config{}, ModeChallenge, Left, boxFinder(face), v)
		require.NoError(t, err)
		return r
	}
	assert.True(t, replay(false).Live, "at the nominal rate the late turn looks in time: the test needs it to")
	assert.Equal(t, daemon.Reasons, replay(true).Reasons)
}

func TestReadSavedClipRefusesBadValues(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "left_x.avi")
	for _, tc := range []struct{ json, err string }{
		{`{"frame_ms": [0, 66.7, 50]}`, "frame_ms[2] = 50"},
		{`{"frame_ms": [-1]}`, "frame_ms[0] = -1"},
		{`{"frame_ms": "soon"}`, "left_x.json"},
		{`{"frame_ms": [0], "chosen_detail": -3}`, "chosen_detail = -3"},
		{`{"frame_ms": [0], "chosen_detail": 1e300}`, "chosen_detail = 1e+300"},
		{`{"frame_ms": [0], "chosen_detail": 5e-324}`, "chosen_detail = 5e-324"},
		{`{"frame_ms": [0], "chosen_face": [0.5, 0.5]}`, "chosen_face: face signature: 2 values"},
		{`{"frame_ms": [0], "chosen_face": []}`, "chosen_face: face signature: 0 values"},
		{`{"frame_ms": [0], "chosen_face": [` + strings.Repeat("0.1, ", capture.SignatureLen-1) + `-0.1]}`, fmt.Sprintf("chosen_face: face signature: value %d is -0.1", capture.SignatureLen-1)},
		{`{"frame_ms": [0], "chosen_face": "x"}`, "left_x.json"},
		{`{"frame_ms": [0], "chosen_box": [10, 20, 5, 40]}`, "chosen_box = [10 20 5 40] is not a box"},
		{`{"frame_ms": [0], "chosen_box": [10, 20, 30, 20]}`, "chosen_box = [10 20 30 20] is not a box"},
		{`{"frame_ms": [0], "chosen_box": [10, 20, 30]}`, "chosen_box = [10 20 30] is not a box"},
		{`{"frame_ms": [0], "chosen_box": [10, 20, 30, 40, 50]}`, "chosen_box = [10 20 30 40 50] is not a box"},
		{`{"frame_ms": [0], "chosen_box": [10, 20, 30, 99999999]}`, "chosen_box = [10 20 30 99999999] is not a box"},
		{`{"frame_ms": [0], "chosen_box": [0.5, 1, 2, 3]}`, "left_x.json"},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "left_x.json"), []byte(tc.json), 0o640))
		_, _, err := ReadSavedClip(clip)
		assert.ErrorContains(t, err, tc.err, tc.json)
	}
	_, ok, err := ReadSavedClip(filepath.Join(dir, "right_y.avi"))
	assert.NoError(t, err)
	assert.False(t, ok, "no .json: the nominal rate")
	// The thirteenth round's daemon kept the selection's sharpness, a
	// measure the check no longer compares with: that start is unjudged.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "left_x.json"), []byte(`{"frame_ms": [0], "chosen_sharpness": 412.5}`), 0o640))
	saved, ok, err := ReadSavedClip(clip)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, saved.ChosenDetail, "an older clip's sharpness is not a detail")
	// A clip the daemon did not name is never paired with a .json that
	// happens to sit beside it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clip.json"), []byte("not json"), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "my_clip.json"), []byte("not json"), 0o640))
	_, ok, err = ReadSavedClip(filepath.Join(dir, "my_clip.mp4"))
	assert.NoError(t, err)
	assert.False(t, ok)
}

func TestPruneClips(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	files := map[string]time.Duration{ // name: age
		"left_old.avi": 8 * 24 * time.Hour, "left_old.json": 8 * 24 * time.Hour,
		"right_new.avi": time.Hour, "right_new.json": time.Hour,
		"bonafide_left_labelled.avi": 9 * 24 * time.Hour,  // labelled by the site: still a clip
		"left_crash.part.avi":        2 * time.Hour,       // a crash mid-clip
		"left_now.part.avi":          time.Minute,         // being written
		".left_crash.json.tmp123":    2 * time.Hour,       // atomicfile's, left by a crash
		"left_future.avi":            -3 * 24 * time.Hour, // written while the clock was wrong
		"notes.txt":                  30 * 24 * time.Hour,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o640))
		require.NoError(t, os.Chtimes(p, now.Add(-age), now.Add(-age)))
	}
	n, err := PruneClips(dir, now, 7*24*time.Hour, 0)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"right_new.avi", "right_new.json", "left_now.part.avi", "notes.txt"}, left)
	n, err = PruneClips(filepath.Join(dir, "none"), now, time.Hour, 0)
	assert.NoError(t, err)
	assert.Zero(t, n)
}

// TestPruneClipsBySize: past the limit the oldest clips go first.
func TestPruneClipsBySize(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i, name := range []string{"left_1.avi", "left_2.avi", "left_3.avi", "left_4.avi"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, make([]byte, 1000), 0o640))
		at := now.Add(-time.Duration(4-i) * time.Hour)
		require.NoError(t, os.Chtimes(p, at, at))
	}
	n, err := PruneClips(dir, now, 7*24*time.Hour, 2500)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.Equal(t, []string{"left_3.avi", "left_4.avi"}, left)
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
	rec.stop()
	require.NoError(t, rec.Err())
	require.NoError(t, verifyClip(rec.part(), len(frames.Mats)))
	assert.ErrorContains(t, verifyClip(rec.part(), len(frames.Mats)+1), "frames readable")
	st, err := os.Stat(rec.part())
	require.NoError(t, err)
	require.NoError(t, os.Truncate(rec.part(), st.Size()/2))
	assert.Error(t, verifyClip(rec.part(), len(frames.Mats)))
	rec.queue = make(chan gocv.Mat) // as if still recording: Finish publishes
	rec.encoded = make(chan error, 1)
	rec.encoded <- nil
	_, err = rec.Finish(Result{}, "haar")
	assert.ErrorContains(t, err, "frames readable", "a clip cut short is not published")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// FuzzReadSavedClip: the .json beside a clip is a file anyone may have
// edited; whatever it holds, reading it never panics, and what it gives
// is usable: frame times from 0 that never go back, a face's detail or 0
// (unknown).
func FuzzReadSavedClip(f *testing.F) {
	for _, s := range []string{`{"frame_ms": [0, 66.7, 133.3], "chosen_detail": 0.0825}`, `{"chosen_face": [0.5, 0.5]}`, `{"chosen_box": [1, 2, 3, 4]}`, `{"frame_ms": []}`, `{}`, `null`, `{"chosen_detail": "x"}`, `[`} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	clip := filepath.Join(dir, "right_x.avi")
	f.Fuzz(func(t *testing.T, b []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "right_x.json"), b, 0o640))
		saved, ok, err := ReadSavedClip(clip)
		if err != nil {
			return
		}
		require.True(t, ok)
		require.True(t, saved.ChosenDetail == 0 || KnownDetail(saved.ChosenDetail), "chosen detail %v", saved.ChosenDetail)
		require.True(t, saved.ChosenFace == nil || saved.ChosenFace.Valid() == nil, "chosen face %v", saved.ChosenFace)
		box := saved.ChosenBox
		require.True(t, box == image.Rectangle{} || (box.Dx() > 0 && box.Dy() > 0 && box.In(image.Rect(-maxClipSide, -maxClipSide, maxClipSide+1, maxClipSide+1))), "chosen box %v", box)
		for i, at := range saved.Times {
			require.True(t, at >= 0 && (i == 0 || at >= saved.Times[i-1]), "times %v", saved.Times)
		}
	})
}
