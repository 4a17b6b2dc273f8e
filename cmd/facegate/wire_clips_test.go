package main

import (
	"bytes"
	"context"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/liveness"
	"github.com/facegate/facegate/liveness/synth"
)

// turningCamera is a capture.FrameSource that hands out a rendered head
// turning to the person's left, one frame per Next at 15 fps, then waits.
type turningCamera struct {
	frames []gocv.Mat
	start  time.Time
	limit  int // frames handed out before Next waits for ctx; 0: all
}

func newTurningCamera(t *testing.T) (*turningCamera, kiosk.LivenessRequest) {
	t.Helper()
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	c := &turningCamera{start: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)}
	for i := 0; i < 45; i++ {
		x := math.Min(1, math.Max(0, (float64(i)/15-0.3)/0.6))
		f := gocv.NewMat()
		synth.Turn(img, &f, face, 20*math.Pi/180*(1-math.Cos(math.Pi*x))/2)
		c.frames = append(c.frames, f)
	}
	t.Cleanup(func() {
		for _, f := range c.frames {
			f.Close()
		}
	})
	return c, kiosk.LivenessRequest{Mode: "challenge", Challenge: "left", Box: face, Frame: image.Pt(640, 480)}
}

func (c *turningCamera) Next(ctx context.Context, after uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	if int(after) >= len(c.frames) || (c.limit > 0 && int(after) >= c.limit) {
		<-ctx.Done()
		return capture.FrameInfo{}, ctx.Err()
	}
	c.frames[after].CopyTo(dst)
	return capture.FrameInfo{Seq: after + 1, At: c.start.Add(time.Duration(after) * time.Second / 15)}, nil
}

// clipChecker is the daemon's liveness checker (Haar) on cam, saving clips
// into dir; its clock stands still at clipTime (a clip's name).
func clipChecker(t *testing.T, cam capture.FrameSource, dir string, logs io.Writer) *livenessChecker {
	t.Helper()
	cfg := config.Default()
	cfg.StateDir = t.TempDir()
	cfg.Capture.Detector = capture.DetectorHaar
	l, err := newLivenessChecker(cam, analyzerOptions(cfg))
	require.NoError(t, err)
	l.clips = &clipSaver{clipPruner: clipPruner{dir: dir, keep: 7 * 24 * time.Hour, log: slog.New(slog.NewTextHandler(logs, nil))},
		fps: 15, now: func() time.Time { return clipTime }}
	return l
}

// clipTime is now, not a fixed date: pruning expires clips dated more than
// a day from the clock.
var clipTime = time.Now().UTC().Truncate(time.Second)

// TestLivenessClipsAreSavedAndReplay: with audit.save_liveness_clips the
// daemon's check leaves a clip and its verdict, and `facegate liveness`
// on that clip gives the daemon's verdict again, starting on the face the
// daemon started from (the .json's chosen_box). A clip that cannot be
// saved changes nothing in the verdict and is logged.
func TestLivenessClipsAreSavedAndReplay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		writable bool
	}{{"saved", true}, {"folder is a file", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cam, req := newTurningCamera(t)
			dir := filepath.Join(t.TempDir(), "liveness-clips")
			if !tc.writable {
				require.NoError(t, os.WriteFile(dir, nil, 0o640))
			}
			var logs bytes.Buffer
			l := clipChecker(t, cam, dir, &logs)
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := l.CheckLiveness(ctx, req)
			require.NoError(t, err)
			require.True(t, res.Live, "daemon check: %+v", res)
			l.clips.finishes.Wait()
			if !tc.writable {
				assert.Contains(t, logs.String(), "liveness clip not saved")
				return
			}
			assert.Contains(t, logs.String(), "liveness clip saved")
			name := "left_" + clipTime.Format("20060102T150405.000Z")
			clip := filepath.Join(dir, name+".avi")
			require.FileExists(t, clip)
			require.FileExists(t, filepath.Join(dir, name+".json"))
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"liveness", "--video", clip, "--challenge", "left"}, nil, nil, &out, &errOut)
			assert.Equal(t, exitOK, code, "replayed clip: %s %s", out.String(), errOut.String())
			saved, ok, err := liveness.ReadSavedClip(clip)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, req.Box, saved.ChosenBox, "the face the daemon's check started from")
			// Had the capture chosen a corner with no face, the rerun
			// starts there too, and finds no turn.
			js := filepath.Join(dir, name+".json")
			b, err := os.ReadFile(js)
			require.NoError(t, err)
			corner := regexp.MustCompile(`"chosen_box": \[[^]]*\]`).ReplaceAll(b, []byte(`"chosen_box": [0, 0, 60, 60]`))
			require.NotEqual(t, b, corner)
			require.NoError(t, os.WriteFile(js, corner, 0o640))
			out.Reset()
			code = run(context.Background(), []string{"liveness", "--json", "--video", clip, "--challenge", "left"}, nil, nil, &out, &errOut)
			assert.Equal(t, exitNegative, code, "replayed from the corner: %s %s", out.String(), errOut.String())
		})
	}
}

// TestLivenessClipsOnlyOfFinishedChallenges: a check cut short (shutdown)
// leaves no clip, and passive checks are not recorded.
func TestLivenessClipsOnlyOfFinishedChallenges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		cancel bool
	}{{"cancelled", "challenge", true}, {"passive", "passive", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cam, req := newTurningCamera(t)
			req.Mode = tc.mode
			if tc.cancel {
				cam.limit = 3 // too few to decide; then Next waits for ctx
			}
			dir := filepath.Join(t.TempDir(), "liveness-clips")
			l := clipChecker(t, cam, dir, io.Discard)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if tc.cancel {
				ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			}
			defer cancel()
			res, err := l.CheckLiveness(ctx, req)
			if tc.cancel {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				require.NoError(t, err)
				assert.Nil(t, res.Yaw, "a passive check measures no turn")
			}
			require.NoError(t, l.Close())
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries)
		})
	}
}

// TestDaemonCheckJudgesItsStartFace: the daemon's check compares the face
// at the challenge's start with the texture of the face the capture chose
// (the request's signature). The turning head that was chosen is live;
// another face chosen (a picture held up for the capture) is refused as
// face_changed, an attack, not a check that could not run. The saved clip
// keeps the texture, and `facegate liveness` on the clip judges its start
// the same way.
func TestDaemonCheckJudgesItsStartFace(t *testing.T) {
	other, otherFace := demoWorkerFace(t)
	defer other.Close()
	for _, tc := range []struct {
		name    string
		other   bool
		live    bool
		cliCode int
	}{{"the chosen face turns", false, true, exitOK}, {"another face was chosen", true, false, exitNegative}} {
		t.Run(tc.name, func(t *testing.T) {
			cam, req := newTurningCamera(t)
			req.Detail = capture.FaceDetail(cam.frames[0], req.Box)
			req.Signature = capture.FaceSignature(cam.frames[0], req.Box)
			if tc.other {
				req.Signature = capture.FaceSignature(other, otherFace)
			}
			require.NoError(t, capture.Signature(req.Signature).Valid())
			dir := filepath.Join(t.TempDir(), "liveness-clips")
			l := clipChecker(t, cam, dir, io.Discard)
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := l.CheckLiveness(ctx, req)
			require.NoError(t, err)
			assert.Equal(t, tc.live, res.Live, "daemon check: %+v", res)
			if !tc.live {
				assert.Equal(t, []string{"face_changed"}, res.Reasons)
				assert.False(t, res.Unavailable, "an attack seen")
				assert.False(t, res.MovedEarly || res.NoTurn, "not coached as a turn")
			}
			l.clips.finishes.Wait()
			name := "left_" + clipTime.Format("20060102T150405.000Z")
			saved, ok, err := liveness.ReadSavedClip(filepath.Join(dir, name+".avi"))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, capture.Signature(req.Signature), saved.ChosenFace)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"liveness", "--json", "--video", filepath.Join(dir, name+".avi"), "--challenge", "left"}, nil, nil, &out, &errOut)
			assert.Equal(t, tc.cliCode, code, "replayed clip: %s %s", out.String(), errOut.String())
			assert.Equal(t, !tc.live, strings.Contains(out.String(), `"face_changed"`), out.String())
		})
	}
}

// demoWorkerFace is gocv's face.jpg, the demo's worker (a real man's face,
// not the cartoon faces of liveness/synth, which share their texture), and
// its face box.
func demoWorkerFace(t *testing.T) (gocv.Mat, image.Rectangle) {
	t.Helper()
	dir, err := demoscene.ImagesDir(os.Getenv)
	require.NoError(t, err)
	img := gocv.IMRead(filepath.Join(dir, demoscene.WorkerPhoto), gocv.IMReadColor)
	require.False(t, img.Empty(), "read %s", demoscene.WorkerPhoto)
	return img, image.Rect(229, 149, 469, 389)
}

// TestDaemonCheckJudgesItsStart: the daemon's check compares the face at
// the challenge's start with the face the capture chose (the request's
// sharpness). Started as sharp as it, the turning head is live; had the
// chosen face been four times sharper, the start was blurred and the
// check cannot run. Either way the saved clip keeps that sharpness, and
// `facegate liveness` on the clip judges its start the same way.
func TestDaemonCheckJudgesItsStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chosen  float64 // times the first frame's face detail
		live    bool
		cliCode int
	}{{"as sharp as the chosen face", 1, true, exitOK}, {"four times blurrier than the chosen face", 4, false, exitNegative}} {
		t.Run(tc.name, func(t *testing.T) {
			cam, req := newTurningCamera(t)
			req.Detail = tc.chosen * capture.FaceDetail(cam.frames[0], req.Box)
			require.True(t, liveness.KnownDetail(req.Detail), "detail %v", req.Detail)
			dir := filepath.Join(t.TempDir(), "liveness-clips")
			l := clipChecker(t, cam, dir, io.Discard)
			defer l.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var turns, needs []float64
			req.OnTurn = func(yaw, need float64) { turns, needs = append(turns, yaw), append(needs, need) }
			res, err := l.CheckLiveness(ctx, req)
			require.NoError(t, err)
			assert.Equal(t, tc.live, res.Live, "daemon check: %+v", res)
			if tc.live && assert.NotEmpty(t, turns, "the kiosk's meter is fed") {
				assert.Equal(t, 0.0, turns[0], "the first frame is the start")
				assert.GreaterOrEqual(t, slices.Max(turns), 0.02, "the meter shows the turn the check measures, to its need")
				assert.LessOrEqual(t, slices.Max(turns), *res.Yaw, "no more than the check measured")
				assert.Equal(t, 0.02, needs[0], "Haar: the tracked points' need")
			} else if !tc.live {
				assert.Empty(t, turns, "a check that could not run shows no turn")
			}
			if !tc.live {
				assert.True(t, res.Unavailable)
				assert.Equal(t, []string{"blurred_start"}, res.Reasons)
				assert.True(t, res.MovedEarly, "the kiosk asks the worker to hold still")
				assert.Nil(t, res.Yaw, "a check that could not run measured no turn")
			} else if assert.NotNil(t, res.Yaw, "the turn, for the event") {
				assert.Greater(t, *res.Yaw, 0.035, "the turning head's turn the asked way")
				assert.False(t, res.Landmarks, "Haar: tracked points")
			}
			l.clips.finishes.Wait()
			name := "left_" + clipTime.Format("20060102T150405.000Z")
			saved, ok, err := liveness.ReadSavedClip(filepath.Join(dir, name+".avi"))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, req.Detail, saved.ChosenDetail)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"liveness", "--json", "--video", filepath.Join(dir, name+".avi"), "--challenge", "left"}, nil, nil, &out, &errOut)
			assert.Equal(t, tc.cliCode, code, "replayed clip: %s %s", out.String(), errOut.String())
			assert.Equal(t, !tc.live, strings.Contains(out.String(), `"blurred_start"`), out.String())
		})
	}
}

// TestDaemonCheckOnAFaceThatMovedCoaches: the capture chose a face where
// the camera now shows none, and a face elsewhere (the worker stepped aside
// before the prompt): the check cannot run (no_face), is not counted as an
// attack, and the kiosk asks the worker to stay in front of the camera.
func TestDaemonCheckOnAFaceThatMovedCoaches(t *testing.T) {
	img, face := demoWorkerFace(t)
	defer img.Close()
	cam := &turningCamera{start: time.Now()}
	for range 20 {
		cam.frames = append(cam.frames, img.Clone())
	}
	t.Cleanup(func() {
		for _, f := range cam.frames {
			f.Close()
		}
	})
	// The chosen box: an empty corner, clear of the face the detector finds.
	box := image.Rect(0, 0, 80, 80)
	require.False(t, box.Overlaps(face))
	req := kiosk.LivenessRequest{Mode: "challenge", Challenge: "left", Box: box, Frame: image.Pt(img.Cols(), img.Rows())}
	l := clipChecker(t, cam, t.TempDir(), io.Discard)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := l.CheckLiveness(ctx, req)
	require.NoError(t, err)
	assert.False(t, res.Live)
	assert.True(t, res.Unavailable, "a check that could not run, not an attack")
	assert.Equal(t, []string{"no_face"}, res.Reasons)
	assert.True(t, res.FaceAway, "the kiosk asks the worker to stay in view")
	assert.False(t, res.MovedEarly || res.NoTurn)
}
