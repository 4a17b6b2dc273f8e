package liveness

import (
	"context"
	"math"
)

// Turn is how far the head has turned so far, for a live display: a
// kiosk's meter that shows the worker how far to turn.
type Turn struct {
	// Yaw is the turn the asked way, in face widths (negative: the other
	// way): the check's yaw proxy as its verdict reads it, smoothed over
	// a frame and its neighbours, so one frame late (the newest frame's
	// window is not complete yet).
	Yaw float64
	// Need is the turn the check needs: MinAmplitude with landmarks,
	// MinAmplitudeTracked with tracked points.
	Need float64
	// Landmarks: YuNet's landmarks measure the turn.
	Landmarks bool
}

// Turn is the challenge's turn at the frame before the latest (the first
// frame's, 0, until there is one); false before Start, in the passive
// mode and when that frame's turn cannot be measured. The newest frame's
// smoothing has no later frame yet, and one frame that jumps (landmark
// jitter) would show a turn the verdict never sees.
func (c *Checker) Turn() (Turn, bool) {
	if !c.started || c.mode != ModeChallenge || len(c.frames) == 0 {
		return Turn{}, false
	}
	yaw, lm := c.currentSeries()
	y := yaw[max(0, len(yaw)-2)]
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return Turn{}, false
	}
	return Turn{Yaw: y * c.dir.sign(), Need: c.amplitude(lm), Landmarks: lm}, true
}

// CheckWatching is Check that also hands watch the turn after each frame
// it analyses (Checker.Turn), from the goroutine that runs the check:
// watch must return quickly. A nil watch is Check.
func CheckWatching(ctx context.Context, cfg Config, mode Mode, dir Direction, finder Finder, frames Frames, watch func(Turn)) (Result, error) {
	return check(ctx, cfg, mode, dir, finder, frames, watch)
}
