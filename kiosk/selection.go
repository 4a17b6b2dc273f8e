package kiosk

import (
	"context"
	"sync"
	"time"
)

// selection is one running FaceSelector.SelectFace call.
type selection struct {
	cancel context.CancelFunc
	done   chan struct{}
	notify chan struct{} // a new Progress is available
	face   Face          // valid after done
	err    error

	mu          sync.Mutex
	last        Progress
	capturing   bool
	capturingAt time.Time
}

func (k *Kiosk) startSelection(parent context.Context) *selection {
	ctx, cancel := context.WithCancel(parent)
	s := &selection{cancel: cancel, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(s.done)
		s.face, s.err = k.deps.Selector.SelectFace(ctx, func(p Progress) {
			s.mu.Lock()
			s.last = p
			if p.Reason == "" && !s.capturing {
				s.capturing, s.capturingAt = true, k.now()
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		})
	}()
	return s
}

func (s *selection) progress() (Progress, bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.capturing, s.capturingAt
}

// stop cancels the selection and waits for SelectFace to return.
func (s *selection) stop() {
	s.cancel()
	<-s.done
}

// box converts a face rectangle to fractions of the frame.
func box(p Progress) *Box {
	if p.Box.Empty() || p.Frame.X <= 0 || p.Frame.Y <= 0 {
		return nil
	}
	fx, fy := float64(p.Frame.X), float64(p.Frame.Y)
	return &Box{X: float64(p.Box.Min.X) / fx, Y: float64(p.Box.Min.Y) / fy, W: float64(p.Box.Dx()) / fx, H: float64(p.Box.Dy()) / fy}
}

func equalBox(a, b *Box) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
