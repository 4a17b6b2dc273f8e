package liveness

import (
	"context"
	"math"
)

// Turn is how far the head has turned so far, for a live display: a
// kiosk's meter that shows the worker how far to turn.
type Turn struct {
	// Yaw is the latest frame's turn the asked way, in face widths (the
	// check's yaw proxy, smoothed over the frames around it; negative: the
	// other way).
	Yaw float64
	// Need is the turn the check needs: MinAmplitude with landmarks,
	// MinAmplitudeTracked with tracked points.
	Need float64
	// Landmarks: YuNet's landmarks measure the turn.
	Landmarks bool
}

// Turn is the challenge's turn at the latest frame; false before Start, in
// the passive mode and when that frame's turn cannot be measured.
func (c *Checker) Turn() (Turn, bool) {
	if !c.started || c.mode != ModeChallenge || len(c.frames) == 0 {
		return Turn{}, false
	}
	yaw, lm := c.yawSeries(c.frames)
	y := yaw[len(yaw)-1]
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
