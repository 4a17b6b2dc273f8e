package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/internal/demoscene"
)

// siteCamera is the simulated camera of one gate of `facegate demo --site`:
// a capture.FrameSource paced at fps that shows what the script puts in
// front of it — nobody, or a worker's face — drawn once by demoscene.
// Workers identify with their roster badge through the gate's identify
// path (as a network badge reader does), not through the picture: a QR
// read paces a step by the scanner's 0.5 s period and 5 s repeat guard.
// It is safe for concurrent use.
type siteCamera struct {
	fps    int
	start  time.Time
	scenes map[string]gocv.Mat // "empty", "face"

	mu     sync.Mutex
	scene  string
	closed bool
	wake   chan struct{} // closed and replaced by Close
}

// siteFrameSize is the demo cameras' picture: smaller than the gate's
// 1280x720 so that five gates' face detection fits on a small machine.
const (
	siteFrameWidth  = 640
	siteFrameHeight = 480
)

// newSiteScenes draws the scenes the site's cameras show (shared: the
// Mats are only read) and a func that frees them once every camera is done.
func newSiteScenes(images string) (map[string]gocv.Mat, func(), error) {
	scenes := map[string]gocv.Mat{}
	free := func() {
		for _, m := range scenes {
			m.Close()
		}
	}
	phases := map[string]demoscene.Phase{
		"empty": {Kind: demoscene.Empty},
		"face":  {Kind: demoscene.Face, Image: filepath.Join(images, demoscene.WorkerPhoto)},
	}
	for name, p := range phases {
		p.Duration = time.Millisecond // one frame
		s := demoscene.Scene{Width: siteFrameWidth, Height: siteFrameHeight, FPS: 10, Phases: []demoscene.Phase{p}}
		if err := s.Render(func(m gocv.Mat) error { scenes[name] = m.Clone(); return nil }); err != nil {
			free()
			return nil, nil, fmt.Errorf("site scene %s: %w", name, err)
		}
	}
	return scenes, free, nil
}

func newSiteCamera(scenes map[string]gocv.Mat, fps int) *siteCamera {
	return &siteCamera{fps: fps, start: time.Now(), scenes: scenes, scene: "empty", wake: make(chan struct{})}
}

// show puts a scene in front of the camera from the next frame on.
func (c *siteCamera) show(scene string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.scenes[scene]; ok {
		c.scene = scene
	}
}

func (c *siteCamera) tick(k uint64) time.Time {
	return c.start.Add(time.Duration(k) * time.Second / time.Duration(c.fps))
}

// Next hands out frame k (from start + k/fps on), k > after.
func (c *siteCamera) Next(ctx context.Context, after uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	k := uint64(time.Since(c.start) * time.Duration(c.fps) / time.Second)
	if k <= after {
		k = after + 1
	}
	c.mu.Lock()
	wake, closed := c.wake, c.closed
	c.mu.Unlock()
	if closed {
		return capture.FrameInfo{}, capture.ErrClosed
	}
	if wait := time.Until(c.tick(k)); wait > 0 {
		t := time.NewTimer(wait)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return capture.FrameInfo{}, capture.ErrClosed
	}
	src := c.scenes[c.scene]
	src.CopyTo(dst)
	return capture.FrameInfo{Seq: k, At: c.tick(k)}, nil
}

// Close ends every Next in progress and to come (capture.ErrClosed).
func (c *siteCamera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.wake)
	}
	return nil
}
