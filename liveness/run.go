package liveness

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/regularfile"
)

// Frames is where a check reads its frames: Next fills dst and returns the
// frame's time after the challenge; io.EOF at the end.
type Frames interface {
	Next(ctx context.Context, dst *gocv.Mat) (time.Duration, error)
}

// Finder finds the face a check starts from and, when it has them, the
// landmarks of the face near a box in a later frame (nil without).
type Finder interface {
	Face(frame gocv.Mat) (box image.Rectangle, lm *Landmarks, ok bool, err error)
	Landmarks(frame gocv.Mat, near image.Rectangle) (*Landmarks, error)
}

// Check runs one check over frames: the first frame is where the challenge
// was issued. A frame source error other than io.EOF is returned; a check
// that cannot run (no face, too few frames) is a Result with an
// Unavailable reason, not an error.
func Check(ctx context.Context, cfg Config, mode Mode, dir Direction, finder Finder, frames Frames) (Result, error) {
	return check(ctx, cfg, mode, dir, finder, frames, nil)
}

func check(ctx context.Context, cfg Config, mode Mode, dir Direction, finder Finder, frames Frames, watch func(Turn)) (Result, error) {
	c, err := NewChecker(cfg, mode, dir)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	var box image.Rectangle
	show := func() {
		if watch == nil {
			return
		}
		if t, ok := c.Turn(); ok {
			watch(t)
		}
	}
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		at, err := frames.Next(ctx, &frame)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return Result{Method: mode, Reasons: []Reason{ReasonTooFewFrames}, Cues: Cues{OnsetMS: -1}}, nil
			}
			break
		}
		if err != nil {
			return Result{}, fmt.Errorf("liveness: frame %d: %w", n, err)
		}
		if n == 0 {
			var lm *Landmarks
			var ok bool
			box, lm, ok, err = finder.Face(frame)
			if errors.Is(err, ErrFaceCut) || errors.Is(err, ErrFaceMoved) {
				return Result{Method: mode, Reasons: []Reason{ReasonNoFace}, Cues: Cues{Frames: 1, OnsetMS: -1}}, nil
			}
			if err != nil {
				return Result{}, fmt.Errorf("liveness: find the face: %w", err)
			}
			if !ok {
				return Result{Method: mode, Reasons: []Reason{ReasonNoFace}, Cues: Cues{Frames: 1, OnsetMS: -1}}, nil
			}
			if err := c.Start(frame, box, lm, at); err != nil {
				return Result{}, err
			}
			if c.Done() {
				break // the start alone decides (blurred_start)
			}
			show()
			continue
		}
		if at-c.frames[0].at > c.cfg.Window {
			break
		}
		lm, err := finder.Landmarks(frame, box)
		if err != nil {
			return Result{}, fmt.Errorf("liveness: landmarks of frame %d: %w", n, err)
		}
		if err := c.Add(frame, lm, at); err != nil {
			return Result{}, err
		}
		show()
		if c.Done() {
			break
		}
	}
	return c.Result()
}

// AnalyzerFinder is a Finder over a capture.Analyzer. With YuNet (set
// YuNet), every frame is analysed again for its landmarks. It does not close
// the analyzer.
//
// The face the check starts from: with Near set (the daemon sets the face
// the capture chose, the one the FaceAuth call is about), the face found
// overlapping Near most, so that the check never measures another person or
// a picture beside the worker; none found is no face, faces found but none
// overlapping is ErrFaceMoved, and one that is cut by the frame's edge is
// ErrFaceCut. Without Near (a clip given to
// `facegate liveness`), the best acceptable face, else the largest, inside
// the frame. With Near, Face is for the first frame of a check on an
// analyzer reset before it, as the daemon's is: the search knows the
// chosen face's size (capture.Analyzer.ExpectFace).
type AnalyzerFinder struct {
	An    *capture.Analyzer
	YuNet bool
	Near  image.Rectangle
}

// ErrFaceCut: the chosen face reaches out of the frame, so the check cannot
// run on it (Check reports it as no_face, an unavailable check).
var ErrFaceCut = errors.New("liveness: the face is cut by the frame's edge")

// ErrFaceMoved: faces are found, none where the chosen one was (the
// person moved away between the choice and the challenge, or another
// face is in view). Check reports it as no_face, an unavailable check:
// starting on the chosen box would read whatever is there now as a
// changed face, an attack counted towards the lockout.
var ErrFaceMoved = errors.New("liveness: no face where the chosen one was")

// Face implements Finder.
func (f AnalyzerFinder) Face(frame gocv.Mat) (image.Rectangle, *Landmarks, bool, error) {
	// Knowing the chosen face's size saves Haar most of its first search;
	// when that finds no face at all, the search of every size tells a
	// face elsewhere (ErrFaceMoved) from none.
	narrowed := f.An.ExpectFace(f.Near)
	a, err := f.An.Analyze(frame)
	if err == nil && narrowed && len(a.Candidates) == 0 {
		f.An.Reset()
		a, err = f.An.Analyze(frame)
	}
	if err != nil {
		return image.Rectangle{}, nil, false, err
	}
	best, err := startFace(a, image.Rect(0, 0, frame.Cols(), frame.Rows()), f.Near)
	if err != nil || best < 0 {
		return image.Rectangle{}, nil, false, err
	}
	face := a.Candidates[best].Face
	return face.Box, landmarksOf(face), true, nil
}

// GateFinder is the finder of a check at a gate: it starts on the face
// the capture chose (chosen, the one the FaceAuth call is about), never
// on another person or a picture beside it (AnalyzerFinder with Near),
// and on the chosen box itself when the detector finds no face at all
// (the face was chosen a moment before). A face found but cut by the
// frame's edge (ErrFaceCut), or faces found none of which is near the
// chosen one (ErrFaceMoved), are not replaced by the old box: the check
// is unavailable. The daemon and the evaluation start their checks with
// it.
func GateFinder(an *capture.Analyzer, yunet bool, chosen image.Rectangle) Finder {
	return chosenFinder{inner: AnalyzerFinder{An: an, YuNet: yunet, Near: chosen}, chosen: chosen}
}

type chosenFinder struct {
	inner  Finder
	chosen image.Rectangle
}

func (f chosenFinder) Face(frame gocv.Mat) (image.Rectangle, *Landmarks, bool, error) {
	b, lm, ok, err := f.inner.Face(frame)
	if err != nil || ok {
		return b, lm, ok, err
	}
	return f.chosen, nil, inside(f.chosen, image.Rect(0, 0, frame.Cols(), frame.Rows())), nil
}

func (f chosenFinder) Landmarks(frame gocv.Mat, near image.Rectangle) (*Landmarks, error) {
	return f.inner.Landmarks(frame, near)
}

// minNearOverlap is the least intersection over union with Near for a face
// to be the chosen one (it moved a little since the choice).
const minNearOverlap = 0.3

// startFace is the candidate a check starts from (-1 none); see
// AnalyzerFinder. A box reaching out of the frame (YuNet's, for a face cut
// by the edge) cannot start a check: Checker.Start refuses it.
func startFace(a capture.Analysis, frame, near image.Rectangle) (int, error) {
	if !near.Empty() {
		best, bestIoU := -1, minNearOverlap
		for i, c := range a.Candidates {
			if v := capture.IoU(c.Face.Box, near); v >= bestIoU {
				best, bestIoU = i, v
			}
		}
		if best >= 0 && !inside(a.Candidates[best].Face.Box, frame) {
			return -1, ErrFaceCut
		}
		if best < 0 && len(a.Candidates) > 0 {
			return -1, ErrFaceMoved
		}
		return best, nil
	}
	if a.Best >= 0 && inside(a.Candidates[a.Best].Face.Box, frame) {
		return a.Best, nil
	}
	for i, c := range a.Candidates { // largest first
		if inside(c.Face.Box, frame) {
			return i, nil
		}
	}
	return -1, nil
}

// inside: a box to start from (Rectangle.In holds for an empty one too).
func inside(box, frame image.Rectangle) bool { return !box.Empty() && box.In(frame) }

// Landmarks implements Finder: the landmarks of the face overlapping near most.
func (f AnalyzerFinder) Landmarks(frame gocv.Mat, near image.Rectangle) (*Landmarks, error) {
	if !f.YuNet {
		return nil, nil // Haar has none: do not pay for a detection
	}
	a, err := f.An.Analyze(frame)
	if err != nil {
		return nil, err
	}
	var best *capture.Face
	bestArea := 0
	for i := range a.Candidates {
		in := a.Candidates[i].Face.Box.Intersect(near)
		if s := in.Dx() * in.Dy(); s > bestArea {
			best, bestArea = &a.Candidates[i].Face, s
		}
	}
	if best == nil {
		return nil, nil
	}
	return landmarksOf(*best), nil
}

func landmarksOf(f capture.Face) *Landmarks {
	if !f.HasLandmarks {
		return nil
	}
	lm := Landmarks(f.Landmarks)
	return &lm
}

// VideoFrames reads a video file; frame i is at i/fps after the challenge,
// or at its real time when SetTimes gave them.
type VideoFrames struct {
	vc    *gocv.VideoCapture
	fps   float64
	n     int
	times []time.Duration
}

// SetTimes gives each frame's real time after the challenge (a saved
// clip's, ReadSavedClip): a clip plays at its nominal rate where the camera's
// frames came when they came.
func (v *VideoFrames) SetTimes(t []time.Duration) { v.times = t }

// OpenVideo opens a video file for Check. Close it.
// Only a regular file is opened: OpenCV's open of a named pipe blocks in C
// (no signal ends it), of a device opens a camera, and a name with a '%'
// is a printf pattern it expands into other files (img%03d.png reads
// img000.png, img001.png, …).
func OpenVideo(path string) (*VideoFrames, error) {
	if strings.Contains(path, "%") {
		return nil, fmt.Errorf("liveness: open %s: a name with %%, which OpenCV would read as a pattern of other files' names", path)
	}
	f, _, err := regularfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("liveness: open %s: %w", path, err)
	}
	f.Close()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("liveness: open %s: %w", path, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("liveness: open %s: not a video OpenCV can read", path)
	}
	fps := vc.Get(gocv.VideoCaptureFPS)
	if fps <= 0 || fps > 240 {
		fps = 15
	}
	return &VideoFrames{vc: vc, fps: fps}, nil
}

// Seek moves to frame i (0-based); the next frame read is at time 0 again.
func (v *VideoFrames) Seek(i int) {
	v.vc.Set(gocv.VideoCapturePosFrames, float64(i))
	v.n = 0
}

// FPS is the file's frame rate (15 when it does not say).
func (v *VideoFrames) FPS() float64 { return v.fps }

// Next implements Frames.
func (v *VideoFrames) Next(_ context.Context, dst *gocv.Mat) (time.Duration, error) {
	if !v.vc.Read(dst) || dst.Empty() {
		return 0, io.EOF
	}
	at := time.Duration(float64(v.n) / v.fps * float64(time.Second))
	if v.times != nil {
		if v.n >= len(v.times) {
			return 0, fmt.Errorf("liveness: the clip has more frames than the %d frame times saved with it", len(v.times))
		}
		at = v.times[v.n]
	}
	v.n++
	return at, nil
}

// Close releases the file.
func (v *VideoFrames) Close() error { return v.vc.Close() }

// MatFrames plays frames from memory at fps (tests, evaluation, demo).
type MatFrames struct {
	Mats []gocv.Mat
	FPS  float64
	i    int
}

// Next implements Frames.
func (m *MatFrames) Next(_ context.Context, dst *gocv.Mat) (time.Duration, error) {
	if m.i >= len(m.Mats) {
		return 0, io.EOF
	}
	m.Mats[m.i].CopyTo(dst)
	at := time.Duration(float64(m.i) / m.FPS * float64(time.Second))
	m.i++
	return at, nil
}
