package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"
)

// TestLivenessEval: one rendered turn to the person's left, copied under
// four labels. As bona fide it is refused when the challenge was right
// (BPCER 1 / 2); as a replay it is accepted when the challenge was left
// (APCER 1 / 2). The counts come from the real check on each clip.
func TestLivenessEval(t *testing.T) {
	clip, err := os.ReadFile(writeTurnClip(t, 20*math.Pi/180))
	require.NoError(t, err)
	dir := t.TempDir()
	for _, name := range []string{"bonafide_left_anna.avi", "bonafide_right_anna.avi", "replay_left_1.avi", "Replay_RIGHT_2.avi"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), clip, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".notes"), []byte("hidden files are skipped"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "left_20261203T110000.000Z.json"), []byte("{}"), 0o644)) // a saved clip's verdict

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"liveness", "eval", "--dir", dir, "--json"}, nil, nil, &out, &errOut)
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	var got struct {
		Clips []evalClip  `json:"clips"`
		Kinds []evalTally `json:"kinds"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Len(t, got.Clips, 4)
	live := map[string]bool{}
	for _, c := range got.Clips {
		live[c.File] = c.Live
	}
	assert.Equal(t, map[string]bool{"bonafide_left_anna.avi": true, "bonafide_right_anna.avi": false, "replay_left_1.avi": true, "Replay_RIGHT_2.avi": false}, live)
	require.Len(t, got.Kinds, 2)
	assert.Equal(t, evalTally{Kind: "bonafide", Clips: 2, Misclassified: 1, Rate: 0.5, Upper95: got.Kinds[0].Upper95, Measure: "BPCER"}, got.Kinds[0])
	assert.Equal(t, evalTally{Kind: "replay", Clips: 2, Misclassified: 1, Rate: 0.5, Upper95: got.Kinds[1].Upper95, Measure: "APCER"}, got.Kinds[1])
	assert.InDelta(t, 0.9747, got.Kinds[0].Upper95, 1e-3)

	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"liveness", "eval", "--dir", dir}, nil, nil, &out, &errOut)
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	assert.Contains(t, out.String(), "bonafide BPCER  50.0 % (1 / 2;")
	assert.Contains(t, out.String(), "replay   APCER  50.0 % (1 / 2;")
}

func TestLivenessEvalRefusesBadInput(t *testing.T) {
	clip, err := os.ReadFile(writeTurnClip(t, 0))
	require.NoError(t, err)
	named := func(files map[string][]byte) string {
		dir := t.TempDir()
		for name, b := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
		return dir
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no dir", nil, []string{"--dir is required"}},
		{"missing dir", []string{"--dir", filepath.Join(t.TempDir(), "none")}, []string{"no such file"}},
		{"empty dir", []string{"--dir", named(nil)}, []string{"no clip in"}},
		{"every bad name is listed before any clip runs", []string{"--dir", named(map[string][]byte{
			"bonafide_left.avi": clip, "photo_left.avi": clip, "print_up.avi": clip, "notes.txt": clip})},
			[]string{"3 file(s)", `"photo_left.avi": kind "photo"`, `"print_up.avi": challenge "up"`, `"notes.txt": not KIND`}},
		{"a FIFO, a folder link and a half-written clip", []string{"--dir", fifoDir(t, clip)},
			[]string{`"bonafide_left_fifo.avi": not a regular file`, `"print_left_dir.avi": not a regular file`, `"bonafide_left_x.part.avi": a clip still being written`}},
		{"unreadable clip", []string{"--dir", named(map[string][]byte{"print_left_a.avi": []byte("not a video")})}, []string{"print_left_a.avi:"}},
		{"yunet without model", []string{"--dir", named(nil), "--detector", "yunet"}, []string{"needs --model"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"liveness", "eval"}, tc.args...), nil, nil, &out, &errOut)
			assert.Equal(t, exitError, code, "stdout %s", out.String())
			for _, w := range tc.want {
				assert.Contains(t, errOut.String(), w)
			}
		})
	}
}

// TestUpper95: the one-sided 95 % Clopper-Pearson bounds docs/liveness.md
// quotes.
func TestUpper95(t *testing.T) {
	for _, tc := range []struct {
		k, n int
		want float64
	}{
		{0, 17, 0.162}, {2, 9, 0.550}, {3, 151, 0.051}, {1, 11, 0.364}, {2, 14, 0.385}, {0, 1, 0.95}, {5, 5, 1}, {0, 0, 1},
	} {
		assert.InDelta(t, tc.want, upper95(tc.k, tc.n), 0.001, "%d / %d", tc.k, tc.n)
	}
}

func TestParseClipName(t *testing.T) {
	for _, tc := range []struct{ name, kind, dir, err string }{
		{"bonafide_left.mp4", "bonafide", "left", ""},
		{"BENT_Right_gate2_0930.MOV", "bent", "right", ""},
		{"screen_left_phone_glare.webm", "screen", "left", ""},
		{"print-left.mp4", "", "", "not KIND"},
		{"mask_left.mp4", "", "", `kind "mask"`},
		{"print__left.mp4", "", "", `challenge ""`},
	} {
		kind, dir, err := parseClipName(tc.name)
		if tc.err != "" {
			if assert.Error(t, err, tc.name) {
				assert.True(t, strings.Contains(err.Error(), tc.err), "%s: %v", tc.name, err)
			}
			continue
		}
		assert.NoError(t, err, tc.name)
		assert.Equal(t, tc.kind, kind, tc.name)
		assert.Equal(t, tc.dir, string(dir), tc.name)
	}
}

// fifoDir holds one good clip and entries eval must refuse by name before
// running anything: a FIFO (OpenCV's open would block on it for ever), a
// link to a folder and a clip the daemon was still writing.
func fifoDir(t *testing.T, clip []byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bonafide_right_ok.avi"), clip, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bonafide_left_x.part.avi"), clip, 0o644))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "bonafide_left_fifo.avi"), 0o644))
	require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(dir, "print_left_dir.avi")))
	return dir
}

// TestLivenessEvalCountsWhatCouldNotRun: a clip with no face is a bona fide
// refusal (the gate denies it) and is counted as one that could not run.
func TestLivenessEvalCountsWhatCouldNotRun(t *testing.T) {
	dir := t.TempDir()
	w, err := gocv.VideoWriterFile(filepath.Join(dir, "bonafide_left_empty.avi"), "MJPG", 15, 320, 240, true)
	require.NoError(t, err)
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 240, 320, gocv.MatTypeCV8UC3)
	defer grey.Close()
	for range 10 {
		require.NoError(t, w.Write(grey))
	}
	require.NoError(t, w.Close())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"liveness", "eval", "--dir", dir, "--json"}, nil, nil, &out, &errOut)
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	var got struct {
		Kinds []evalTally `json:"kinds"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Len(t, got.Kinds, 1)
	assert.Equal(t, 1, got.Kinds[0].Misclassified)
	assert.Equal(t, 1, got.Kinds[0].Unavailable)
}
