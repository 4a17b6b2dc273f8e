package demoscene

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness/synth"
)

// How the demo's people answer "turn your head a little to the left": after
// a reaction time the worker turns the head (synth.Turn: an ellipsoid head
// with a nose, so that the nose moves more than the cheeks) and holds it until the
// challenge leaves the screen; the attacker turns the print (a plane) the
// same way. Values of a person answering promptly, not measurements.
const (
	reactAfter  = 300 * time.Millisecond
	turnRise    = 500 * time.Millisecond
	turnBack    = 500 * time.Millisecond
	headPeakYaw = 0.32               // radians (18°): "a little"
	printYaw    = 35 * math.Pi / 180 // the attacker turns the sheet further
	printSlide  = 0.15               // of the sheet's width, towards the asked side
	printFocal  = 1.1                // the camera's focal length, in frame widths (a 50° webcam)
	printHeight = 0.8                // the sheet's height, in frame heights
	printMargin = 0.06               // the white paper margin, of the photo's width
	maxPause    = 10 * time.Second   // a challenge freezes the scene at most this long
	yawSteps    = 24                 // the head's turn is rendered at this many yaws per side, once
	maxWaitLive = 5 * time.Second    // Next never waits longer than this for a frame
	printTremor = 1.2                // pixels of hand tremor
	printRollSD = 0.3                // degrees of hand tremor
)

// Live plays a scene as a camera in real time (a capture.FrameSource): frame
// k exists from the start + k/fps on, and Next hands out the newest one.
// Unlike a pre-rendered video, its people react to the kiosk (React): a
// Face turns the head the asked way, a Print is turned by the hand holding
// it. While a challenge is on the screen the scene holds its place, so that
// a slow machine does not make the person walk off mid-answer.
type Live struct {
	s        Scene
	r        *renderer
	now      func() time.Time
	start    time.Time
	length   time.Duration
	starts   []time.Duration   // scene time at which each phase begins
	faces    []image.Rectangle // per Face phase: where turned patches go in the layer
	turned   [][2][]gocv.Mat   // per Face phase: the turned face region, [0] left, [1] right, by yaw step
	sheets   []gocv.Mat        // per Print phase: the sheet (photo with its paper margin)
	shake    *synth.Shake      // the attacker's hand
	wake     chan struct{}     // closed by Close: wakes a Next waiting for its frame
	mu       sync.Mutex
	frame    gocv.Mat // the last frame rendered (number rendered), for the other readers
	scratch  gocv.Mat // a Face layer with a turned patch pasted in
	rendered uint64
	asked    string        // "left" or "right" while the challenge is shown
	since    time.Time     // when it was asked, or when it left the screen
	dir      float64       // +1 left, -1 right: the last challenge's side
	paused   time.Duration // scene time spent frozen by finished challenges
	shook    uint64        // the last frame number the hand moved at
	closed   bool
	health   capture.Health
}

// NewLive prepares scene s to be played as a camera from now on (now is
// time.Now in production). It finds each person's face with the Haar
// cascade (faceCascade: a path, "" to search the usual folders) and renders
// every head turn once, so that frames cost a copy.
func NewLive(s Scene, faceCascade string, now func() time.Time) (*Live, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if faceCascade == "" {
		p, err := capture.FindCascade(capture.FaceCascadeName)
		if err != nil {
			return nil, fmt.Errorf("demoscene: %w", err)
		}
		faceCascade = p
	}
	cc := gocv.NewCascadeClassifier()
	defer cc.Close()
	if !cc.Load(faceCascade) {
		return nil, fmt.Errorf("demoscene: cannot load the face cascade %s", faceCascade)
	}
	r, err := newRenderer(s)
	if err != nil {
		return nil, err
	}
	l := &Live{s: s, r: r, now: now, length: s.Length(), shake: synth.NewShake(7, printTremor, printRollSD),
		faces: make([]image.Rectangle, len(s.Phases)), turned: make([][2][]gocv.Mat, len(s.Phases)),
		sheets: make([]gocv.Mat, len(s.Phases)), wake: make(chan struct{}), frame: gocv.NewMat(), scratch: gocv.NewMat()}
	var at time.Duration
	for i, p := range s.Phases {
		l.starts = append(l.starts, at)
		at += time.Duration(s.phaseFrames(p)) * time.Second / time.Duration(s.FPS)
		if p.Kind != Face && p.Kind != Print {
			continue
		}
		face, ok := largestFace(cc, r.layers[i])
		if !ok {
			l.Close()
			return nil, fmt.Errorf("%w: phase %d: no face found in %s", ErrScene, i, p.Image)
		}
		if p.Kind == Print {
			l.sheets[i] = paperSheet(r.layers[i])
			continue
		}
		// Turn moves only the pixels of the head around the face box: only
		// that region is turned and kept (a full layer per yaw step was
		// ~190 MB).
		box := synth.HeadBox(face).Intersect(image.Rect(0, 0, r.layers[i].Cols(), r.layers[i].Rows()))
		l.faces[i] = box
		region := r.layers[i].Region(box)
		for side, sign := range []float64{1, -1} {
			for k := 1; k <= yawSteps; k++ {
				m := gocv.NewMat()
				synth.Turn(region, &m, face.Sub(box.Min), sign*headPeakYaw*float64(k)/yawSteps)
				l.turned[i][side] = append(l.turned[i][side], m)
			}
		}
		region.Close()
	}
	l.start = now()
	l.health = capture.Health{State: capture.StateUp, FPS: float64(s.FPS), Since: l.start}
	return l, nil
}

// largestFace is the widest face the cascade finds in img.
func largestFace(cc gocv.CascadeClassifier, img gocv.Mat) (image.Rectangle, bool) {
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	var best image.Rectangle
	for _, f := range cc.DetectMultiScale(gray) {
		if f.Dx() > best.Dx() {
			best = f
		}
	}
	return best, best.Dx() > 0
}

// paperSheet is the photo as printed: a white margin around it.
func paperSheet(photo gocv.Mat) gocv.Mat {
	m := int(printMargin * float64(photo.Cols()))
	out := gocv.NewMat()
	gocv.CopyMakeBorder(photo, &out, m, m, m, m, gocv.BorderConstant, color.RGBA{245, 245, 240, 0})
	return out
}

// Close releases the rendered layers and wakes a waiting Next; Next then
// returns capture.ErrClosed.
func (l *Live) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.wake)
	l.r.close()
	l.frame.Close()
	l.scratch.Close()
	for _, t := range l.turned {
		for _, side := range t {
			for _, m := range side {
				m.Close()
			}
		}
	}
	for _, m := range l.sheets {
		m.Close()
	}
}

// React is told every kiosk state with its challenge ("left" or "right"
// while the state is "challenge", else ""). It must not block.
func (l *Live) React(state, challenge string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	on := state == "challenge" && (challenge == "left" || challenge == "right")
	switch {
	case on && l.asked == "":
		l.asked, l.since = challenge, now
		l.dir = 1
		if challenge == "right" {
			l.dir = -1
		}
	case !on && l.asked != "":
		l.paused += min(now.Sub(l.since), maxPause)
		l.asked, l.since = "", now
	}
}

// sceneTime is where in the loop the scene is at now (mu held): real time
// less the time frozen by challenges.
func (l *Live) sceneTime(now time.Time) time.Duration {
	t := now.Sub(l.start) - l.paused
	if l.asked != "" {
		t -= min(now.Sub(l.since), maxPause)
	}
	if t < 0 {
		t = 0
	}
	return t % l.length
}

// turn is how far (0..1) the person has turned the asked way at now (mu held).
func (l *Live) turn(now time.Time) float64 {
	if l.since.IsZero() {
		return 0
	}
	d := now.Sub(l.since)
	if l.asked != "" {
		return smooth(float64(d-reactAfter) / float64(turnRise))
	}
	return 1 - smooth(float64(d)/float64(turnBack)) // turning back to the camera
}

// smooth is a cosine ease from 0 (x <= 0) to 1 (x >= 1).
func smooth(x float64) float64 {
	x = math.Max(0, math.Min(1, x))
	return (1 - math.Cos(math.Pi*x)) / 2
}

// phaseAt is the phase showing at scene time t.
func (l *Live) phaseAt(t time.Duration) int {
	i := len(l.starts) - 1
	for i > 0 && l.starts[i] > t {
		i--
	}
	return i
}

func (l *Live) tick(k uint64) time.Time {
	return l.start.Add(time.Duration(k) * time.Second / time.Duration(l.s.FPS))
}

// Next implements capture.FrameSource: it waits for frame after+1 (or
// hands out the newest) and renders it into dst.
func (l *Live) Next(ctx context.Context, after uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return capture.FrameInfo{}, capture.ErrClosed
	}
	wake := l.wake
	k := uint64(l.now().Sub(l.start) * time.Duration(l.s.FPS) / time.Second)
	l.mu.Unlock()
	if k <= after {
		k = after + 1
	}
	if wait := l.tick(k).Sub(l.now()); wait > 0 {
		t := time.NewTimer(min(wait, maxWaitLive))
		select {
		case <-ctx.Done():
			t.Stop()
			return capture.FrameInfo{}, ctx.Err()
		case <-wake:
			t.Stop()
			return capture.FrameInfo{}, capture.ErrClosed
		case <-t.C:
		}
	}
	at := l.tick(k)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return capture.FrameInfo{}, capture.ErrClosed
	}
	// Every reader (kiosk, liveness, preview) asks for the same frame:
	// it is rendered once (a Print costs ~8 ms) and copied for the rest.
	if l.rendered != k || l.frame.Empty() {
		if err := l.render(&l.frame, at, k); err != nil {
			return capture.FrameInfo{}, err
		}
		l.rendered = k
	}
	l.frame.CopyTo(dst)
	l.health.LastFrame = at
	return capture.FrameInfo{Seq: k, At: at}, nil
}

// Health implements the daemon's camera health: the scene is always up.
func (l *Live) Health() capture.Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// render draws frame k, shown at at (mu held).
func (l *Live) render(dst *gocv.Mat, at time.Time, k uint64) error {
	t := l.sceneTime(at)
	i := l.phaseAt(t)
	n := int(t * time.Duration(l.s.FPS) / time.Second)
	turn := l.turn(at)
	switch l.s.Phases[i].Kind {
	case Face:
		layer := l.r.layers[i]
		if step := int(math.Round(turn * yawSteps)); step > 0 {
			side := 0
			if l.dir < 0 {
				side = 1
			}
			l.r.layers[i].CopyTo(&l.scratch)
			roi := l.scratch.Region(l.faces[i])
			l.turned[i][side][step-1].CopyTo(&roi)
			roi.Close()
			layer = l.scratch
		}
		l.r.drawLayer(dst, layer, i, n)
	case Print:
		for ; l.shook < k; l.shook++ {
			l.shake.Step()
		}
		sheet := l.sheets[i]
		w, h := float64(l.s.Width), float64(l.s.Height)
		scale := printHeight * h / float64(sheet.Rows())
		// Imitating a head that turns to its left (nose towards the
		// image's right), the sheet's right edge goes away from the camera.
		yaw := -l.dir * printYaw * turn
		tx := w/2 + l.dir*printSlide*float64(sheet.Cols())*scale*turn + l.shake.X
		m := synth.PlanePose(image.Pt(sheet.Cols(), sheet.Rows()), yaw, 0, l.shake.Rot*math.Pi/180, scale, tx, h/2+l.shake.Y, printFocal*w)
		synth.OverBackground(sheet, l.r.background, dst, m)
		m.Close()
		l.r.overlay(dst, i, n)
	default:
		return l.r.draw(dst, i, n)
	}
	return nil
}
