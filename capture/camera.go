package capture

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// CameraConfig describes the camera (config section "camera").
type CameraConfig struct {
	// Source is a camera source string, see ParseSource.
	Source string
	// Device settings for V4L2 cameras; FPS also paces file sources that
	// do not say their own rate. Defaults: 1280x720, 15 fps, MJPG.
	Width, Height, FPS int
	FourCC             string
	// FrozenAfter: identical frames for this long count as a frozen camera,
	// which is then reopened. 0 means 10 s. Not applied to still images.
	FrozenAfter time.Duration
}

func (c *CameraConfig) withDefaults() CameraConfig {
	out := *c
	if out.Width == 0 && out.Height == 0 {
		out.Width, out.Height = 1280, 720
	}
	if out.FPS == 0 {
		out.FPS = 15
	}
	if out.FourCC == "" {
		out.FourCC = "MJPG"
	}
	if out.FrozenAfter == 0 {
		out.FrozenAfter = 10 * time.Second
	}
	return out
}

// CameraState is the camera's health state.
type CameraState string

// Camera states reported in Health.
const (
	StateUp     CameraState = "up"
	StateDown   CameraState = "down"
	StateFrozen CameraState = "frozen"
)

// Health is a snapshot of the camera for metrics, MQTT and the kiosk.
type Health struct {
	State CameraState
	// FPS is the rate at which frames are taken from the camera (grabbed,
	// decoded or not): the camera's own rate, 0 when none.
	FPS float64
	// DecodedFPS is the rate of frames decoded and handed out. A V4L2
	// camera decodes only what consumers ask for (see Camera), so at idle
	// it is a few frames a second while FPS stays at the camera's rate.
	DecodedFPS float64
	LastFrame  time.Time // capture time of the newest frame (zero if none yet)
	// LastChange is when a frame last differed from the one before (still
	// images and folders count every frame as a change).
	LastChange time.Time
	Since      time.Time // when State last changed
	Reopens    int       // times the source was closed and opened again
	// Frames counts the frames taken from the camera (decoded or not)
	// since OpenCamera; it never goes back.
	Frames    uint64
	LastError string // the last open or read problem, "" when none
}

// FrameInfo describes one frame handed out by a Camera.
type FrameInfo struct {
	Seq uint64    // 1, 2, 3… in reading order; never reused
	At  time.Time // when the frame was read from the source
}

// FrameSource hands out the freshest frame. Camera implements it; tests use
// fakes.
type FrameSource interface {
	// Next waits for a frame newer than after (a Seq; 0 for any) and copies it
	// into dst, which the caller owns and reuses. It returns ctx's error when
	// ctx ends first, ErrClosed after Close.
	Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error)
}

const (
	backoffMin      = time.Second
	backoffMax      = 30 * time.Second
	maxReadFailures = 5                     // consecutive failed reads before reopening
	readRetryDelay  = 20 * time.Millisecond // between failed reads
	closeWait       = 3 * time.Second       // Close waits at most this for the reader
	staleAfter      = 2 * time.Second       // no frame for this long: down
	// decodeFloor: a grabbing reader decodes at least one frame this often
	// (and at least one per camera.fps grabs), so frozen and failing
	// cameras are still seen when nobody asks for frames. Below staleAfter.
	decodeFloor = time.Second
)

// errNoFrame: a camera or stream read returned no frame.
var errNoFrame = errors.New("no frame from the source")

// CameraOption changes how a Camera runs (mostly for tests).
type CameraOption func(*Camera)

// WithClock sets the time source (backoff, pacing, frozen detection, health).
func WithClock(c Clock) CameraOption { return func(cam *Camera) { cam.clock = c } }

// WithLogger sets the logger (slog.Default otherwise).
func WithLogger(l *slog.Logger) CameraOption { return func(cam *Camera) { cam.log = l } }

// withOpener replaces how the source is opened (tests: fake readers).
func withOpener(f func() (frameReader, error)) CameraOption {
	return func(cam *Camera) { cam.open = f }
}

// Camera reads a frame source in its own goroutine and keeps only the newest
// frame, so that whoever asks always gets the freshest picture. A source that
// fails is retried, then closed and reopened with backoff (1 s doubling to
// 30 s). It is safe for concurrent use.
//
// Decoding on demand: a V4L2 camera's frames are taken from the driver
// every time (Grab: the queue never holds a stale picture) but decoded
// (MJPG, ~13 ms per 720p frame) only when someone waits in Next, while
// DemandEveryFrame is held (a selection), or at least once a second (frozen
// and failure detection). Other sources decode every frame.
type Camera struct {
	cfg   CameraConfig
	src   Source
	clock Clock
	log   *slog.Logger
	open  func() (frameReader, error)

	cancel    context.CancelFunc
	done      chan struct{}
	closeWait time.Duration

	mu        sync.Mutex
	front     gocv.Mat // newest frame; valid when seq > 0 and !closed
	seq       uint64
	at        time.Time
	fresh     chan struct{} // closed and replaced on every new frame and on close
	closed    bool
	health    Health
	grabGap   gapAverage // between frames taken from the source
	decodeGap gapAverage // between frames decoded and published
	reopens   int
	waiting   int // goroutines in Next waiting on fresh (reset by publish)
	demand    int // DemandEveryFrame holders
	// stale: the reader grabbed a frame newer than front.
	stale bool
}

// gapAverage is a moving average of the time between events.
type gapAverage struct {
	avg  float64 // seconds
	has  bool
	prev time.Time
}

func (g *gapAverage) add(at time.Time) {
	if !g.prev.IsZero() {
		gap := at.Sub(g.prev).Seconds()
		if !g.has {
			g.avg, g.has = gap, true
		} else {
			g.avg += 0.1 * (gap - g.avg)
		}
	}
	g.prev = at
}

func (g *gapAverage) fps() float64 {
	if !g.has || g.avg <= 0 {
		return 0
	}
	return math.Round(10/g.avg) / 10
}

// OpenCamera parses cfg.Source and starts the reader goroutine under ctx.
// It returns at once: a camera that cannot be opened yet is retried in the
// background and reported as down by Health. Close (or ctx's end) stops it.
// A source string that cannot be parsed is an error wrapping ErrBadSource.
func OpenCamera(ctx context.Context, cfg CameraConfig, opts ...CameraOption) (*Camera, error) {
	src, err := ParseSource(cfg.Source)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Camera{
		cfg:       cfg,
		src:       src,
		clock:     SystemClock,
		log:       slog.Default(),
		fresh:     make(chan struct{}),
		front:     gocv.NewMat(),
		done:      make(chan struct{}),
		closeWait: closeWait,
	}
	for _, o := range opts {
		o(c)
	}
	if c.open == nil {
		ds := DeviceSettings{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, FourCC: cfg.FourCC}
		c.open = func() (frameReader, error) { return openReader(src, ds, true) }
	}
	now := c.clock.Now()
	c.health = Health{State: StateDown, Since: now, LastError: "not opened yet"}
	ctx, c.cancel = context.WithCancel(ctx)
	go c.run(ctx)
	return c, nil
}

// Source is the parsed source this camera reads.
func (c *Camera) Source() Source { return c.src }

// Close stops the reader goroutine and releases the source. It waits at most
// a few seconds: a driver stuck in a read is left to finish in the background
// (it then releases everything itself), so shutdown never hangs on a camera.
func (c *Camera) Close() error {
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-time.After(c.closeWait):
		return fmt.Errorf("capture: camera reader still inside a read after %s; it will release the device when it returns", c.closeWait)
	}
}

// Health returns the camera's current state and frame rate.
func (c *Camera) Health() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health
	now := c.clock.Now()
	if h.State == StateUp && !h.LastFrame.IsZero() && now.Sub(h.LastFrame) > staleAfter {
		h.State, h.Since = StateDown, h.LastFrame.Add(staleAfter)
		h.LastError = "no frame for " + staleAfter.String()
	}
	if h.State != StateUp {
		h.FPS, h.DecodedFPS = 0, 0
	} else {
		h.FPS, h.DecodedFPS = c.grabGap.fps(), c.decodeGap.fps()
	}
	h.Reopens = c.reopens
	return h
}

// Next implements FrameSource. While the camera is down or frozen, or its
// newest frame is older than staleAfter, it waits for a new frame: the last
// one is never handed out as the scene.
func (c *Camera) Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return FrameInfo{}, ErrClosed
		}
		// A frame is handed out only while it is the newest taken (once
		// the reader grabbed past it, the next one is decoded instead) and
		// the camera is up: the last picture of a camera that went down or
		// froze, or one older than staleAfter, is no picture of who stands
		// there now.
		if c.seq > after && c.seq > 0 && !c.stale && c.frontCurrent() {
			c.front.CopyTo(dst)
			info := FrameInfo{Seq: c.seq, At: c.at}
			c.mu.Unlock()
			return info, nil
		}
		wait := c.fresh
		c.waiting++ // the reader decodes the next frame it takes
		c.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-wait:
		}
		c.mu.Lock()
		if c.fresh == wait {
			c.waiting-- // not counted out by publish
		}
		c.mu.Unlock()
		if err != nil {
			return FrameInfo{}, err
		}
	}
}

// frontCurrent reports whether front shows the scene now: the camera is up
// and the frame is at most staleAfter old (under c.mu).
func (c *Camera) frontCurrent() bool {
	return c.health.State == StateUp && c.clock.Now().Sub(c.at) <= staleAfter
}

// DemandEveryFrame makes the camera decode every frame, not only those
// asked for, until release is called (idempotent): a consumer that takes
// frames back to back (a face selection) then finds each one decoded in
// parallel with its own work instead of waiting for the decode.
func (c *Camera) DemandEveryFrame() (release func()) {
	c.mu.Lock()
	c.demand++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.demand--
			c.mu.Unlock()
		})
	}
}

// wantDecode reports whether a grabbing reader should decode the next
// frame rather than only take it from the driver: someone waits or demands
// every frame, or the decode floor is reached.
func (c *Camera) wantDecode(now, lastRead time.Time, grabs int) bool {
	if grabs >= c.cfg.FPS || now.Sub(lastRead) >= decodeFloor {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting > 0 || c.demand > 0
}

// grabbed records a frame taken from the driver without decoding.
func (c *Camera) grabbed(at time.Time) {
	c.mu.Lock()
	c.grabGap.add(at)
	c.health.Frames++
	c.stale = true
	c.mu.Unlock()
}

// setState records a state change (under c.mu).
func (c *Camera) setState(s CameraState, errText string) {
	if c.health.State != s {
		c.health.State = s
		c.health.Since = c.clock.Now()
		c.log.Info("camera state", "state", string(s), "source", c.src.String(), "reason", errText)
	}
	switch {
	case s == StateUp:
		c.health.LastError = ""
	case errText != "":
		c.health.LastError = errText
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func (c *Camera) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-c.clock.After(d):
		return true
	}
}

func (c *Camera) run(ctx context.Context) {
	back := gocv.NewMat()
	defer func() {
		back.Close()
		c.mu.Lock()
		c.closed = true
		c.front.Close()
		close(c.fresh)
		c.setState(StateDown, "closed")
		c.mu.Unlock()
		close(c.done)
	}()
	backoff := backoffMin
	var frozenHash uint64 // hash of the picture a frozen camera kept sending
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			c.mu.Lock()
			c.reopens++
			c.mu.Unlock()
			if !c.sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, backoffMax)
		}
		r, err := c.open()
		if err != nil {
			c.mu.Lock()
			c.setState(StateDown, err.Error())
			c.mu.Unlock()
			c.log.Warn("camera open failed", "source", c.src.String(), "err", err, "retry_in", backoff)
			continue
		}
		ok, frozen := c.readLoop(ctx, r, &back, &frozenHash)
		r.close()
		if ok {
			backoff = backoffMin
		}
		if frozen {
			backoff = max(backoff, c.cfg.FrozenAfter/4)
		}
	}
}

// readLoop reads until the source fails, freezes or ctx ends. ok reports
// that at least one frame was delivered.
func (c *Camera) readLoop(ctx context.Context, r frameReader, back *gocv.Mat, frozenHash *uint64) (ok, frozen bool) {
	var period time.Duration
	if c.src.Finite() {
		fps := r.nominalFPS()
		if fps <= 0 || fps > 120 {
			fps = float64(c.cfg.FPS)
		}
		period = time.Duration(float64(time.Second) / fps)
	}
	checkFrozen := c.src.Kind != SourceImage && c.src.Kind != SourceFolder
	var lastHash uint64
	var sameSince time.Time
	failures := 0
	g, lazy := r.(grabber)
	var lastRead time.Time // decode floor: time of the last read and grabs since
	grabs := 0
	for ctx.Err() == nil {
		start := c.clock.Now()
		if lazy && !c.wantDecode(start, lastRead, grabs) {
			g.grab()
			grabs++
			c.grabbed(c.clock.Now())
			continue
		}
		if err := r.read(back); err != nil {
			failures++
			// OpenCV cannot tell a device or stream that stopped from one
			// that ended: only a file really ends. Anything else is a failed
			// read, retried before the source is reopened.
			end := errors.Is(err, ErrEndOfStream) && c.src.Finite()
			if !end && errors.Is(err, ErrEndOfStream) {
				err = errNoFrame
			}
			if failures >= maxReadFailures || end {
				c.mu.Lock()
				c.setState(StateDown, fmt.Sprintf("%d failed reads: %v", failures, err))
				c.mu.Unlock()
				return ok, false
			}
			if !c.sleep(ctx, readRetryDelay) {
				return ok, false
			}
			continue
		}
		failures = 0
		at := c.clock.Now()
		lastRead, grabs = at, 0
		if checkFrozen {
			h := frameHash(*back)
			switch {
			case h != lastHash || sameSince.IsZero():
				lastHash, sameSince = h, at
			case at.Sub(sameSince) >= c.cfg.FrozenAfter:
				*frozenHash = h
				c.mu.Lock()
				c.setState(StateFrozen, fmt.Sprintf("identical frames for %s", at.Sub(sameSince).Round(time.Second)))
				c.mu.Unlock()
				return ok, true
			}
			if h == *frozenHash {
				// Still the picture it froze on: not up again yet.
				continue
			}
		}
		*frozenHash = 0
		ok = true
		c.publish(back, at, !checkFrozen || sameSince.Equal(at))
		if period > 0 && !c.sleep(ctx, period-c.clock.Now().Sub(start)) {
			return ok, false
		}
	}
	return ok, false
}

// publish swaps the newly read frame in as the freshest one.
func (c *Camera) publish(back *gocv.Mat, at time.Time, changed bool) {
	c.mu.Lock()
	c.front, *back = *back, c.front
	c.seq++
	c.at = at
	c.grabGap.add(at)
	c.decodeGap.add(at)
	c.health.Frames++
	c.health.LastFrame = at
	if changed {
		c.health.LastChange = at
	}
	c.setState(StateUp, "")
	c.waiting = 0 // every waiter gets this frame
	c.stale = false
	old := c.fresh
	c.fresh = make(chan struct{})
	c.mu.Unlock()
	close(old)
}

// frameHash samples a few thousand bytes of the frame: enough to see any
// change (sensor noise changes every frame), cheap enough for every frame.
func frameHash(m gocv.Mat) uint64 {
	data, err := m.DataPtrUint8()
	if err != nil || len(data) == 0 {
		return 0
	}
	h := fnv.New64a()
	step := len(data)/4096 + 1
	var buf [1]byte
	for i := 0; i < len(data); i += step {
		buf[0] = data[i]
		h.Write(buf[:])
	}
	return h.Sum64()
}
