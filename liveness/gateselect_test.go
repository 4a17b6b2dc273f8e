package liveness

import (
	"context"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/demoscene"
)

// The evaluation starts a challenge from the face the gate's selection
// would have taken (Config.StartDetail): it runs capture.Selector itself
// over the frames before the prompt, with its window, its early stop on
// an excellent face and its detail measure, rather than an emulation of
// them (docs/liveness-rounds.md, sixteenth round).

// faceTimeout is how long a gate goes on looking for a first face its
// capture accepts (identity.timeout's default; identity.capture_timeout
// bounds the selection's window after it, which is far shorter).
const faceTimeout = 10 * time.Second

// captureLead is the selection's window (capture.SelectorConfig.Window,
// 600 ms by default): a challenge starts after it.
const captureLead = 600 * time.Millisecond

// leadFrames is how many frames a selection whose first frame shows an
// acceptable face reads at fps: the window's first frame, those within
// captureLead after it and the first one at or after its end (which
// closes it); fewer when only start frames come before frame start.
// A camera's frame times jitter, so a real window at 15 fps holds 10 or
// 11 frames; frameTime fixes it at the nominal count.
func leadFrames(fps float64, start int) int {
	return min(start, int(math.Ceil(captureLead.Seconds()*fps-1e-9))+1)
}

// gateSelection runs capture.Selector with an over the frames draw draws
// from frame from on, at fps, as a gate's selection reads its camera.
// Frames up to to-1 exist; when they run out, an open window closes
// there and a selection without a face ends with none. With timeout ≥ 0
// the gate also gives up when no face was accepted before frame
// from+timeout (identity.timeout). It returns the selection (ok false:
// none), the number of the frame the selection took and the first frame
// it did not draw (it stops early on an excellent face). With no face
// the selection is the zero Selection (Detail 0).
func gateSelection(t *testing.T, an *capture.Analyzer, draw func(int, *gocv.Mat), from, to, timeout int, fps float64) (sel capture.Selection, taken, next int, ok bool) {
	t.Helper()
	an.Reset()
	defer an.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &drawnFrames{draw: draw, from: from, to: to, timeout: timeout, next: from,
		frameTime: frameTime(fps), clock: newFrameClock(), giveUp: cancel}
	s := capture.NewSelector(src, an, capture.SelectorConfig{Window: captureLead, Clock: src.clock})
	defer s.Close()
	sel, err := s.SelectFace(ctx, func(p capture.Progress) { src.noteAccepted(p.Reason == capture.ReasonNone) })
	var noFace *capture.NoFaceError
	switch {
	case errors.As(err, &noFace):
		return capture.Selection{}, 0, src.next, false
	case err != nil:
		t.Fatalf("selection over frames %d to %d: %v", from, to-1, err)
	}
	return sel, src.frameAt(sel.CapturedAt), src.next, true
}

// drawnFrames is a capture.FrameSource of rendered or recorded frames
// numbered from from, frameTime apart; Next is called from SelectFace's
// goroutine only.
type drawnFrames struct {
	draw              func(int, *gocv.Mat)
	from, to, timeout int
	next              int
	frameTime         time.Duration
	clock             *frameClock
	giveUp            context.CancelFunc
	accepted          bool // a face was accepted (the window is open)
}

// frameTime is the time between frames at fps, rounded up to the
// nanosecond, so that a window of captureLead holds leadFrames frames.
func frameTime(fps float64) time.Duration {
	return time.Duration(math.Ceil(float64(time.Second) / fps))
}

// frameEpoch is the time of frame 0.
var frameEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (d *drawnFrames) at(i int) time.Time { return frameEpoch.Add(time.Duration(i) * d.frameTime) }

func (d *drawnFrames) frameAt(at time.Time) int {
	return int(math.Round(float64(at.Sub(frameEpoch)) / float64(d.frameTime)))
}

func (d *drawnFrames) noteAccepted(ok bool) { d.accepted = d.accepted || ok }

func (d *drawnFrames) Next(ctx context.Context, _ uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	// The kiosk's identity timer starts before the first frame is read,
	// so a frame at exactly the timeout comes too late.
	timedOut := !d.accepted && d.timeout >= 0 && d.next >= d.from+d.timeout
	if d.next >= d.to || timedOut {
		if d.accepted {
			d.clock.fire() // the window's timer: the selection finishes
		} else {
			d.giveUp() // the gate's timeout: no face
		}
		<-ctx.Done()
		return capture.FrameInfo{}, ctx.Err()
	}
	d.draw(d.next, dst)
	info := capture.FrameInfo{Seq: uint64(d.next - d.from + 1), At: d.at(d.next)}
	d.clock.set(info.At)
	d.next++
	return info, nil
}

// frameClock is the selection's clock: the time of the latest frame, and
// a window timer that fires only when the frames run out (the selector
// otherwise closes its window on the frames' times).
type frameClock struct {
	mu    sync.Mutex
	now   time.Time
	timer chan time.Time
	once  sync.Once
}

func newFrameClock() *frameClock { return &frameClock{timer: make(chan time.Time)} }

func (c *frameClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frameClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
}

func (c *frameClock) After(time.Duration) <-chan time.Time { return c.timer }

func (c *frameClock) fire() { c.once.Do(func() { close(c.timer) }) }

// renderedCaptureStart is the start (gateStart) after the face a
// gate's selection takes when the picture is presented from the
// captureLead before the prompt (frames -10 to -1 at attackFPS; a face
// accepted only late in them gets a window cut at the prompt); none for
// none. It draws every one
// of those frames, even after a selection that stopped early on an
// excellent face, since a render's motion is drawn frame after frame:
// draw goes on from there, frame 0 is the next it draws. The challenge
// still starts at frame 0, where at a gate the prompt would follow the
// frame that stopped the selection (up to 9 frames earlier).
func renderedCaptureStart(t *testing.T, finder Finder, draw func(int, *gocv.Mat)) gateStart {
	t.Helper()
	lead := leadFrames(attackFPS, math.MaxInt)
	sel, _, next, _ := gateSelection(t, finder.(AnalyzerFinder).An, draw, -lead, 0, -1, attackFPS)
	skipped := gocv.NewMat()
	defer skipped.Close()
	for i := next; i < 0; i++ {
		draw(i, &skipped)
	}
	return chosenAt(sel)
}

// laterCaptureStart is the start (gateStart) after the face
// taken by a gate that found none in the captureLead before the prompt
// and went on looking, up to faceTimeout for a first face; none for none. draw is a fresh closure of
// the kind's draws; the selection reads it from frame -170 (11.3 s
// before the prompt at attackFPS), so that its window closes before the
// first look's frames. The picture moves before the prompt as it does
// from frame -10 on (its shake or wobble does not depend on the time),
// so the face taken is one of the same motion, further from the prompt
// (and past the hand tremor's first frames).
func laterCaptureStart(t *testing.T, finder Finder, draw func(int, *gocv.Mat)) gateStart {
	t.Helper()
	lead := leadFrames(attackFPS, math.MaxInt)
	timeout := int(math.Round(faceTimeout.Seconds() * attackFPS))
	sel, _, _, _ := gateSelection(t, finder.(AnalyzerFinder).An, draw, -lead-timeout-lead, -lead, timeout, attackFPS)
	return chosenAt(sel)
}

// chosenStart is the start (gateStart) of the challenge that follows
// frames (at fps, the frames just before it) at a gate: after the face a
// gate's selection takes from them; none
// when no face is acceptable (the gate would not have started a challenge
// there, and the start is not judged).
func chosenStart(t *testing.T, an *capture.Analyzer, frames []gocv.Mat, fps float64) gateStart {
	t.Helper()
	draw := func(i int, dst *gocv.Mat) { frames[i].CopyTo(dst) }
	sel, _, _, _ := gateSelection(t, an, draw, 0, len(frames), -1, fps)
	return chosenAt(sel)
}

// gateStart is how a gate starts the challenge that follows its
// selection: the configuration the daemon gives the check of the chosen
// face (its detail, Config.StartDetail, and texture, Config.StartFace)
// and the chosen box the check starts from (GateFinder). Zero when the
// selection took none: a gate would not start a challenge there; the
// evaluation starts one on the best face of the first frame, and the
// start is not judged.
type gateStart struct {
	cfg Config
	box image.Rectangle
}

// chosenAt is the start after the selection sel.
func chosenAt(sel capture.Selection) gateStart {
	return gateStart{cfg: Config{StartDetail: sel.Detail, StartFace: sel.Signature}, box: sel.Face}
}

// none: no face was chosen.
func (g gateStart) none() bool { return g.cfg.StartDetail == 0 }

// finder is what the check starts with: finder (an AnalyzerFinder)
// looking for the chosen face as the daemon does, or finder itself when
// none was chosen.
func (g gateStart) finder(finder Finder) Finder {
	if g.box.Empty() {
		return finder
	}
	af := finder.(AnalyzerFinder)
	return GateFinder(af.An, af.YuNet, g.box)
}

// TestGateSelectionReadsFramesAsAGate: the evaluation's gate selection
// is capture.Selector reading the frames in order at their times: it
// takes a face of the 10 frames (600 ms at 15 fps) from the first it
// accepts, or stops at once on an excellent face; a gate that has
// accepted no face by its timeout takes none; a window still open when
// the frames run out (the first look, at the prompt) is cut there. The
// face taken comes with its frame's detail.
func TestGateSelectionReadsFramesAsAGate(t *testing.T) {
	img := workerPhoto(t)
	defer img.Close()
	blank := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer blank.Close()
	const never = 1.01 // no face is excellent: the window runs its course
	for _, tc := range []struct {
		name               string
		faceFrom           int // the first frame showing the face
		from, to, timeout  int
		excellent          float64 // the analyser's Excellent score
		takenFrom, takenTo int     // the frame taken is in this range; takenTo < takenFrom: none
		next               int
		fps                float64 // 0: attackFPS
	}{
		{"a face from the first frame", -170, -170, -10, 150, never, -170, -161, -160, 0},
		{"a face from 2.7 s before the prompt", -40, -170, -10, 150, never, -40, -31, -30, 0},
		{"the last frame that opens a window in time", -21, -170, -10, 150, never, -21, -12, -11, 0},
		{"a face only from the timeout on", -20, -170, -10, 150, never, 0, -1, -20, 0},
		{"no face", 0, -170, -10, 150, never, 0, -1, -20, 0},
		{"a face late in the first look: the window cut at the prompt", -3, -10, 0, -1, never, -3, -1, 0, 0},
		{"no face in the first look", 0, -10, 0, -1, never, 0, -1, 0, 0},
		{"an excellent face ends the window at once", -40, -170, -10, 150, 0.01, -40, -40, -39, 0},
		// A recording's rate: the window holds leadFrames frames.
		{"a face from the first frame at 30 fps", -100, -100, 0, -1, never, -100, -82, -81, 30},
		{"a face from the first frame at 25 fps", -100, -100, 0, -1, never, -100, -85, -84, 25},
		{"a face from the first frame at 24 fps", -100, -100, 0, -1, never, -100, -85, -84, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorHaar, AllowMultiple: true,
				Thresholds: capture.Thresholds{Excellent: tc.excellent}})
			require.NoError(t, err)
			defer an.Close()
			var drawn []int
			draw := func(i int, dst *gocv.Mat) {
				drawn = append(drawn, i)
				if i >= tc.faceFrom && tc.faceFrom != 0 {
					img.CopyTo(dst)
				} else {
					blank.CopyTo(dst)
				}
			}
			fps := tc.fps
			if fps == 0 {
				fps = attackFPS
			}
			if tc.fps != 0 {
				assert.Equal(t, tc.next-tc.from, leadFrames(fps, math.MaxInt), "leadFrames at %v fps", fps)
			}
			sel, taken, next, ok := gateSelection(t, an, draw, tc.from, tc.to, tc.timeout, fps)
			assert.Equal(t, tc.next, next, "first frame not drawn")
			require.NotEmpty(t, drawn)
			assert.Equal(t, tc.from, drawn[0], "first frame drawn")
			assert.Len(t, drawn, next-tc.from, "frames drawn once each, in order")
			if tc.takenTo < tc.takenFrom {
				assert.False(t, ok, "took frame %d", taken)
				return
			}
			require.True(t, ok, "took no face")
			assert.GreaterOrEqual(t, taken, tc.takenFrom, "frame taken")
			assert.LessOrEqual(t, taken, tc.takenTo, "frame taken")
			assert.InDelta(t, capture.FaceDetail(img, sel.Face), sel.Detail, 1e-9, "the taken face's detail")
			assert.Greater(t, sel.Detail, 0.0)
		})
	}
}

// TestThroughCaptureDrawsTheFramesTheSelectorSkipped: a selection that
// stops early on an excellent face still leaves the render drawn up to
// the prompt, each frame once, as the camera goes on sending frames (a
// render's tremor and smear are drawn frame after frame).
func TestThroughCaptureDrawsTheFramesTheSelectorSkipped(t *testing.T) {
	img := workerPhoto(t)
	defer img.Close()
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorHaar, AllowMultiple: true,
		Thresholds: capture.Thresholds{Excellent: 0.01}})
	require.NoError(t, err)
	defer an.Close()
	var drawn []int
	draw := func(i int, dst *gocv.Mat) {
		drawn = append(drawn, i)
		img.CopyTo(dst)
	}
	start := renderedCaptureStart(t, AnalyzerFinder{An: an}, draw)
	assert.Greater(t, start.cfg.StartDetail, 0.0, "detail of the face taken")
	assert.NoError(t, start.cfg.StartFace.Valid(), "texture of the face taken")
	assert.False(t, start.box.Empty(), "the box of the face taken")
	assert.Equal(t, []int{-10, -9, -8, -7, -6, -5, -4, -3, -2, -1}, drawn)
}

// workerPhoto is gocv's sample face.jpg (one frontal man with glasses,
// 640x480), the demo's worker; the caller closes it.
func workerPhoto(t *testing.T) gocv.Mat {
	t.Helper()
	dir, err := demoscene.ImagesDir(os.Getenv)
	require.NoError(t, err)
	img := gocv.IMRead(filepath.Join(dir, demoscene.WorkerPhoto), gocv.IMReadColor)
	require.False(t, img.Empty(), "read %s", demoscene.WorkerPhoto)
	return img
}
