package main

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/liveness"
)

// livenessChecker is kiosk.LivenessChecker over the capture camera: it
// reads every frame from the moment the challenge is shown for the
// liveness window and runs liveness.Check on them. It has its own
// analyzer (the selector's is not safe for concurrent use).
type livenessChecker struct {
	frames capture.FrameSource
	cfg    liveness.Config
	mu     sync.Mutex // one check at a time (the kiosk runs one session)
	an     *capture.Analyzer
	yunet  bool
	clips  *clipSaver // nil unless audit.save_liveness_clips
}

// clipPruner deletes saved clips past audit.liveness_clip_days or
// audit.liveness_clip_max_mb.
type clipPruner struct {
	dir      string
	keep     time.Duration
	maxBytes int64
	log      *slog.Logger
}

func (c clipPruner) prune(now time.Time) {
	if n, err := liveness.PruneClips(c.dir, now, c.keep, c.maxBytes); err != nil {
		c.log.Warn("liveness clip pruning failed", "err", err)
	} else if n > 0 {
		c.log.Info("old liveness clips deleted", "files", n)
	}
}

// every prunes each period until ctx ends or stop is called; stop waits
// for the goroutine.
func (c clipPruner) every(ctx context.Context, period time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				c.prune(now)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// clipSaver keeps each check's frames as a clip (audit.save_liveness_clips).
// Nothing it does changes a verdict: a clip that cannot be saved is logged.
type clipSaver struct {
	clipPruner
	fps      float64 // the camera's configured rate
	now      func() time.Time
	mu       sync.Mutex
	closed   bool // no clip is finished after close
	finishes sync.WaitGroup
}

// close waits for the clips being finished; a check still running then
// drops its clip.
func (c *clipSaver) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.finishes.Wait()
}

// record wraps src for one check; done finishes the clip with the check's
// verdict (err: the check failed, the clip is dropped). Finishing reads
// the clip back, so it runs after the verdict has gone to the kiosk.
func (c *clipSaver) record(src liveness.Frames, dir liveness.Direction, detector string, cfg liveness.Config, chosen image.Rectangle) (liveness.Frames, func(liveness.Result, error)) {
	rec := liveness.NewClipRecorder(src, c.dir, c.fps, dir, c.now())
	rec.ChosenDetail, rec.ChosenFace, rec.ChosenBox = cfg.StartDetail, cfg.StartFace, chosen
	return rec, func(res liveness.Result, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil || c.closed {
			rec.Abort()
			return
		}
		c.finishes.Add(1)
		go func() {
			defer c.finishes.Done()
			if path, err := rec.Finish(res, detector); err != nil {
				c.log.Warn("liveness clip not saved", "err", err)
			} else {
				c.log.Info("liveness clip saved", "path", path, "live", res.Live)
			}
			c.prune(c.now())
		}()
	}
}

// newLivenessChecker takes the selector's analyzer options (detector,
// cascades and model, not its quality gates), so that detector auto
// resolves the same way.
func newLivenessChecker(frames capture.FrameSource, sel capture.AnalyzerConfig) (*livenessChecker, error) {
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{
		Detector: sel.Detector, Cascade: sel.Cascade, EyeCascade: sel.EyeCascade, Model: sel.Model,
		AllowMultiple: true,
	})
	if err != nil {
		return nil, fmt.Errorf("liveness: %w", err)
	}
	// Detector() is what auto resolved to: YuNet's landmarks drive the
	// turn measurement whenever YuNet runs.
	return &livenessChecker{frames: frames, an: an, yunet: an.Detector() == capture.DetectorYuNet}, nil
}

// Close waits for the clips being saved and releases the analyzer. It does
// not wait for a check in progress (one stuck on a camera that stopped
// must not hold the shutdown); that check's clip is dropped.
func (l *livenessChecker) Close() error {
	if l.clips != nil {
		l.clips.close()
	}
	return l.an.Close()
}

// everyFrame is implemented by *capture.Camera: decode every frame while held.
type everyFrame interface{ DemandEveryFrame() (release func()) }

// CheckLiveness implements kiosk.LivenessChecker.
func (l *livenessChecker) CheckLiveness(ctx context.Context, req kiosk.LivenessRequest) (_ kiosk.LivenessResult, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mode, dir := liveness.Mode(req.Mode), liveness.Direction(req.Challenge)
	if ef, ok := l.frames.(everyFrame); ok {
		defer ef.DemandEveryFrame()()
	}
	l.an.Reset()
	cfg := l.cfg
	cfg.StartDetail, cfg.StartFace = req.Detail, req.Signature
	var res liveness.Result
	var src liveness.Frames = &cameraFrames{src: l.frames}
	if l.clips != nil && mode == liveness.ModeChallenge {
		var done func(liveness.Result, error)
		src, done = l.clips.record(src, dir, l.an.Detector(), cfg, req.Box)
		defer func() { done(res, err) }()
	}
	finder := liveness.GateFinder(l.an, l.yunet, req.Box)
	var watch func(liveness.Turn)
	if req.OnTurn != nil {
		watch = func(t liveness.Turn) { req.OnTurn(t.Yaw, t.Need) }
	}
	res, err = liveness.CheckWatching(ctx, cfg, mode, dir, finder, src, watch)
	if err != nil {
		return kiosk.LivenessResult{}, err
	}
	out := kiosk.LivenessResult{Live: res.Live, Score: res.Score, Method: string(res.Method), Unavailable: res.Unavailable()}
	noTurn := len(res.Reasons) > 0
	for _, r := range res.Reasons {
		out.Reasons = append(out.Reasons, string(r))
		switch r {
		case liveness.ReasonNoResponse, liveness.ReasonLate, liveness.ReasonWrongDirection:
		default:
			noTurn = false
		}
	}
	out.NoTurn = noTurn
	out.MovedEarly = slices.Contains(res.Reasons, liveness.ReasonBlurredStart)
	out.FaceAway = slices.Contains(res.Reasons, liveness.ReasonNoFace)
	if res.Method == liveness.ModeChallenge && !res.Unavailable() && res.Cues.YawFrames > 0 {
		yaw := res.Cues.Yaw
		out.Yaw, out.Landmarks = &yaw, res.Cues.Landmarks
	}
	return out, nil
}

// cameraFrames reads the camera's frames in order for liveness.Check.
type cameraFrames struct {
	src   capture.FrameSource
	after uint64
	first capture.FrameInfo
}

func (c *cameraFrames) Next(ctx context.Context, dst *gocv.Mat) (d time.Duration, err error) {
	info, err := c.src.Next(ctx, c.after, dst)
	if err != nil {
		return 0, err
	}
	if c.after == 0 {
		c.first = info
	}
	c.after = info.Seq
	return info.At.Sub(c.first.At), nil
}
