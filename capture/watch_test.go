package capture

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// liveSource is a camera: Next hands out the current scene as a new frame
// every 10 ms.
type liveSource struct {
	mu     sync.Mutex
	scenes map[string]gocv.Mat
	scene  string
	seq    uint64
}

func (s *liveSource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (FrameInfo, error) {
	select {
	case <-ctx.Done():
		return FrameInfo{}, ctx.Err()
	case <-time.After(10 * time.Millisecond):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m := s.scenes[s.scene]
	m.CopyTo(dst)
	return FrameInfo{Seq: s.seq, At: time.Now()}, nil
}

func (s *liveSource) show(scene string) {
	s.mu.Lock()
	s.scene = scene
	s.mu.Unlock()
}

// TestWatchedArrivalIsNotCold: with Watch running between people, the
// person who walked up is tracked when the selection starts (a badge read),
// so the selection's first frame is a search near that face; without it,
// the first frame is a whole-frame scan.
func TestWatchedArrivalIsNotCold(t *testing.T) {
	if testing.Short() {
		// Under qemu-user (make test-arm64) one 1280x720 frame takes longer
		// than Watch's fetch timeout; make test runs it natively.
		t.Skip("-short: the watched arrival needs native speed (run without -short)")
	}
	for _, watch := range []bool{false, true} {
		t.Run(map[bool]string{false: "not watched", true: "watched"}[watch], func(t *testing.T) {
			scene := benchScene(t, 1280, 720)
			person := benchFrame(t, 1280, 720)
			src := &liveSource{scenes: map[string]gocv.Mat{"empty": scene, "person": person}, scene: "empty"}
			defer scene.Close()
			defer person.Close()
			s := newTestSelector(t, src, SelectorConfig{Window: 100 * time.Millisecond, Clock: SystemClock}, Thresholds{})
			ctx := context.Background()
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			watchDone := make(chan error, 1)
			if watch {
				go func() { watchDone <- s.Watch(wctx, 50*time.Millisecond) }()
			}
			time.Sleep(100 * time.Millisecond)
			src.show("person")
			if watch {
				deadline := time.Now().Add(60 * time.Second)
				for {
					s.mu.Lock()
					tracked := len(s.an.track) > 0
					s.mu.Unlock()
					if tracked {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("Watch never tracked the person")
					}
					time.Sleep(5 * time.Millisecond)
				}
				stopWatch()
				if err := <-watchDone; err != nil {
					t.Fatalf("Watch after ctx ended: %v", err)
				}
				if s.an.framesSinceFullScan >= trackFullEvery {
					// The next frame would be the periodic full scan
					// anyway: have it done, so that the check below can
					// tell a tracked frame from a whole-frame scan.
					if _, err := s.an.Analyze(person); err != nil {
						t.Fatal(err)
					}
				}
			}
			first := -1
			_, err := s.SelectFace(ctx, func(Progress) {
				if first < 0 { // SelectFace's goroutine, under s.mu
					first = s.an.framesSinceFullScan
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if tracked := first > 0; tracked != watch {
				t.Fatalf("first frame of the selection: %d frames since a full scan; watched %v", first, watch)
			}
		})
	}
}

func TestWatchEndsWhenClosed(t *testing.T) {
	scene := benchScene(t, 640, 360)
	defer scene.Close()
	src := &liveSource{scenes: map[string]gocv.Mat{"empty": scene}, scene: "empty"}
	s := newTestSelector(t, src, SelectorConfig{Clock: SystemClock}, Thresholds{})
	done := make(chan error, 1)
	go func() { done <- s.Watch(context.Background(), 5*time.Millisecond) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Watch after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not end after Close")
	}
}
