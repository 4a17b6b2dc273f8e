package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// SelectorConfig tunes the selection window.
type SelectorConfig struct {
	// Window is how long to keep looking for a better face after the first
	// acceptable one (default 600 ms). An excellent face ends it early.
	Window time.Duration
	// JPEGQuality of the 960x720 crop (default 85).
	JPEGQuality int
	// FrameTimeout: no new frame for this long fails the selection with
	// ErrCameraDown (default 3 s).
	FrameTimeout time.Duration
	// Clock is the time source (SystemClock by default).
	Clock Clock
}

// Selection is the face chosen for one session. It holds no OpenCV memory.
type Selection struct {
	JPEG    []byte          // 960x720 JPEG of Crop
	Face    image.Rectangle // the face, source pixels
	Crop    image.Rectangle // the 4:3 source box that was scaled to 960x720
	Frame   image.Point     // size of the source frame
	Score   float64         // 0..1
	Quality Quality         // measured values of the chosen face
	// Detail is the chosen face's FaceDetail (0 when it cannot be
	// measured): a liveness challenge must start on a face about as
	// detailed.
	Detail float64
	// Signature is the chosen face's FaceSignature (nil when it cannot be
	// measured): a liveness challenge must start on the same face.
	Signature  Signature
	CapturedAt time.Time // when the chosen frame was read from the camera
	// Faces is the most faces seen in one frame during the selection (a
	// tailgating guard for the caller).
	Faces int
	// Frames is how many frames were analysed.
	Frames int
}

// everyFrameDemander is a FrameSource that decodes frames only on demand
// unless told a consumer wants every frame (Camera).
type everyFrameDemander interface {
	DemandEveryFrame() (release func())
}

// healthReporter is a source that knows whether its camera is up (Camera).
type healthReporter interface {
	Health() Health
}

// Selector picks the best face from a FrameSource. One SelectFace runs at a
// time; Boxes may be called concurrently (by the preview).
type Selector struct {
	src   FrameSource
	an    *Analyzer
	cfg   SelectorConfig
	clock Clock

	running atomic.Bool
	boxes   atomic.Pointer[overlay]

	mu     sync.Mutex // guards the Mats below, closed and the analyzer
	frame  gocv.Mat
	best   gocv.Mat
	crop   *cropper
	closed bool
	// watchedAt is when Watch last analysed a frame (zero: never); a
	// selection starting soon after keeps the analyzer's state.
	watchedAt time.Time

	wmu        sync.Mutex // guards watchFrame (Watch reads frames without mu)
	watchFrame gocv.Mat
}

// watchFresh: a selection that starts within this long of Watch's last
// analysis starts from its state (learnt scene, tracked face).
const watchFresh = time.Second

type overlay struct {
	boxes []image.Rectangle
	at    time.Time
}

// NewSelector returns a Selector reading src and analysing with an, which
// the Selector uses exclusively from now on (the caller still closes it,
// after the Selector).
func NewSelector(src FrameSource, an *Analyzer, cfg SelectorConfig) *Selector {
	if cfg.Window <= 0 {
		cfg.Window = 600 * time.Millisecond
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = 3 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &Selector{src: src, an: an, cfg: cfg, clock: cfg.Clock,
		frame: gocv.NewMat(), best: gocv.NewMat(), crop: newCropper(cfg.JPEGQuality), watchFrame: gocv.NewMat()}
}

// Watch analyses one frame every interval while no SelectFace runs, until
// ctx ends (then it returns nil) or the Selector is closed (ErrClosed).
// Between people it learns the empty scene and finds a person walking up,
// so that a selection started by a badge read finds the face tracked and
// its first frame is not a cold whole-frame scan. An unchanged empty scene
// costs a thumbnail per interval and a full detection every 30 analysed
// frames. Frame errors are waited out (the camera reconnects on its own).
// Call it from one goroutine; a SelectFace that starts during one of its
// analyses waits for that analysis (at most one frame's detection).
func (s *Selector) Watch(ctx context.Context, interval time.Duration) error {
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.clock.After(interval):
		}
		if s.running.Load() {
			continue
		}
		s.wmu.Lock()
		if s.watchFrame.Ptr() == nil {
			s.wmu.Unlock()
			return ErrClosed
		}
		fctx, cancel := context.WithTimeout(ctx, interval)
		info, err := s.src.Next(fctx, seq, &s.watchFrame)
		cancel()
		if err != nil {
			s.wmu.Unlock()
			continue
		}
		seq = info.Seq
		if !s.mu.TryLock() { // a selection started meanwhile: it has the analyzer
			s.wmu.Unlock()
			continue
		}
		if s.closed {
			s.mu.Unlock()
			s.wmu.Unlock()
			return ErrClosed
		}
		if _, err := s.an.Analyze(s.watchFrame); err == nil {
			s.watchedAt = s.clock.Now()
		}
		s.mu.Unlock()
		s.wmu.Unlock()
	}
}

// Close releases the Selector's images. It waits for a running SelectFace
// to return; cancel its context first.
func (s *Selector) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.frame.Close()
		s.best.Close()
		s.crop.close()
		s.wmu.Lock()
		s.watchFrame.Close()
		s.wmu.Unlock()
	}
	return nil
}

// Boxes returns the face boxes of the latest analysed frame (source pixels)
// when it is less than a second old, for the preview. Safe to call from any
// goroutine.
func (s *Selector) Boxes() []image.Rectangle {
	o := s.boxes.Load()
	if o == nil || s.clock.Now().Sub(o.at) > time.Second {
		return nil
	}
	return o.boxes
}

// Progress is reported for every analysed frame of a selection.
type Progress struct {
	// Reason is why no face is acceptable in this frame, ReasonNone when one
	// is (the first ReasonNone starts the selection window).
	Reason Reason
	// Box is the largest face seen (empty when none), in frame pixels.
	Box image.Rectangle
	// Frame is the frame size.
	Frame image.Point
	// Faces is the number of faces in this frame.
	Faces int
}

// SelectFace waits for the first acceptable face, keeps the best one over
// the window (stopping early on an excellent face) and returns it cropped to
// 960x720. progress (may be nil) is called for every analysed frame with the
// current reason, from SelectFace's goroutine; it must not block and must
// not call back into the Selector.
//
// Errors: *NoFaceError (matching ErrNoFace and ctx's error) when ctx ends
// before any acceptable face, ErrCameraDown when frames stop coming (also
// matching ctx's error when ctx ended while the camera was not up),
// ErrBusy when another SelectFace runs, ErrClosed after Close.
func (s *Selector) SelectFace(ctx context.Context, progress func(Progress)) (Selection, error) {
	if !s.running.CompareAndSwap(false, true) {
		return Selection{}, ErrBusy
	}
	defer s.running.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Selection{}, ErrClosed
	}
	// Same camera, new person: the tracked faces go, the learnt empty
	// scene stays (with a fixed identity the selection watches the empty
	// scene between people, and an arrival is then searched where it is) —
	// unless Watch has just analysed the scene: its tracked face is the
	// person in front of the camera now.
	started := s.clock.Now()
	if s.watchedAt.IsZero() || started.Sub(s.watchedAt) > watchFresh {
		s.an.forgetFaces()
	}
	if d, ok := s.src.(everyFrameDemander); ok {
		// Frames are taken back to back: have them decoded ahead.
		defer d.DemandEveryFrame()()
	}

	// The window ends on the clock even if the camera stalls.
	wctx, cancelWindow := context.WithCancel(ctx)
	defer cancelWindow()

	var (
		seq       uint64
		sel       Selection
		found     bool
		deadline  time.Time
		lastR     Reason = ReasonNoFace
		noFace           = &NoFaceError{Counts: map[Reason]int{}}
		faces, nf int
		// wholeSeen: a frame of this selection was searched whole. A
		// tracked Haar frame looks only near the tracked face, so a
		// second person who stepped in since the last full scan (a
		// tailgater) is not seen there: the window does not end before
		// one whole search.
		wholeSeen bool
		// windowOver: the window ended on the clock before a whole
		// search; the next frame searched whole ends the selection.
		windowOver bool
	)
	for {
		fctx, cancel := context.WithTimeout(wctx, s.cfg.FrameTimeout)
		info, err := s.src.Next(fctx, seq, &s.frame)
		frameTimedOut := errors.Is(fctx.Err(), context.DeadlineExceeded) && wctx.Err() == nil
		cancel()
		if err != nil {
			switch {
			case found && wctx.Err() != nil && ctx.Err() == nil:
				if !wholeSeen {
					// The window ended on the clock before one frame was
					// searched whole: one more frame, searched whole.
					s.an.scanFullNext()
					wctx, windowOver = ctx, true
					continue
				}
				return s.finish(sel, faces, nf) // window over
			case frameTimedOut:
				return Selection{}, fmt.Errorf("%w: no frame for %s", ErrCameraDown, s.cfg.FrameTimeout)
			case ctx.Err() != nil:
				if found {
					return Selection{}, ctx.Err()
				}
				// Ended while the camera is out: that, not the faces, is
				// why nothing was selected.
				if h, ok := s.src.(healthReporter); ok {
					if st := h.Health(); st.State != StateUp {
						why := string(st.State)
						if st.LastError != "" {
							why += ": " + st.LastError
						}
						return Selection{}, fmt.Errorf("%w (%s) when the selection ended: %w", ErrCameraDown, why, ctx.Err())
					}
				}
				noFace.Cause = ctx.Err()
				noFace.Last = lastR
				return Selection{}, noFace
			case errors.Is(err, ErrClosed):
				return Selection{}, ErrClosed
			default:
				return Selection{}, fmt.Errorf("capture: read frame: %w", err)
			}
		}
		seq = info.Seq
		if info.At.Before(started) {
			// Read before this selection began (the newest frame of a
			// camera that stalled since): it shows whoever stood there
			// then, not the person identified now.
			continue
		}
		an, err := s.an.Analyze(s.frame)
		if err != nil {
			return Selection{}, err
		}
		wholeSeen = wholeSeen || s.an.searchedWhole()
		nf++
		faces = max(faces, len(an.Candidates))
		s.publishBoxes(an)
		if progress != nil {
			p := Progress{Reason: an.Reason, Frame: image.Pt(s.frame.Cols(), s.frame.Rows()), Faces: len(an.Candidates)}
			if len(an.Candidates) > 0 {
				p.Box = an.Candidates[0].Face.Box
			}
			progress(p)
		}
		if windowOver && wholeSeen {
			return s.finish(sel, faces, nf)
		}
		if an.Best < 0 {
			noFace.Counts[an.Reason]++
			noFace.Frames++
			lastR = an.Reason
			continue
		}
		c := an.Candidates[an.Best]
		if !found || c.Score > sel.Score {
			s.frame.CopyTo(&s.best)
			sel = Selection{Face: c.Face.Box, Score: c.Score, Quality: c.Quality, CapturedAt: info.At,
				Frame: image.Pt(s.frame.Cols(), s.frame.Rows())}
		}
		if !found {
			found = true
			deadline = info.At.Add(s.cfg.Window)
			go func(d time.Duration) {
				select {
				case <-s.clock.After(d):
					cancelWindow()
				case <-wctx.Done():
				}
			}(s.cfg.Window)
		}
		if sel.Score >= s.an.thresholds.Excellent || !info.At.Before(deadline) {
			if !wholeSeen {
				s.an.scanFullNext()
				continue
			}
			return s.finish(sel, faces, nf)
		}
	}
}

// finish crops and encodes the best frame once.
func (s *Selector) finish(sel Selection, faces, frames int) (Selection, error) {
	jpeg, box, err := s.crop.crop(s.best, sel.Face)
	if err != nil {
		return Selection{}, err
	}
	sel.JPEG, sel.Crop, sel.Faces, sel.Frames = jpeg, box, faces, frames
	in := sel.Face.Intersect(image.Rect(0, 0, s.best.Cols(), s.best.Rows()))
	if d := FaceDetail(s.best, in); d > 0 {
		sel.Detail = d // not NaN
	}
	sel.Signature = FaceSignature(s.best, in)
	return sel, nil
}

func (s *Selector) publishBoxes(an Analysis) {
	o := &overlay{at: s.clock.Now()}
	for _, c := range an.Candidates {
		o.boxes = append(o.boxes, c.Face.Box)
	}
	s.boxes.Store(o)
}
