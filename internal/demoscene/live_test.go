package demoscene

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/liveness"
)

// fakeClock is a settable time for Live.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// liveCheck plays one phase of a Live scene to the real liveness check:
// the challenge is shown at frame start, and every every-th frame from then
// on (a busy daemon skips frames) goes to liveness.Check with the Haar finder.
func liveCheck(t *testing.T, p Phase, dir liveness.Direction, start, every uint64) liveness.Result {
	t.Helper()
	p.Duration = 8 * time.Second
	s := Scene{Width: 1280, Height: 720, FPS: 10, Phases: []Phase{p}}
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l, err := NewLive(s, cascade, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	frameAt := func(k uint64, dst *gocv.Mat) time.Duration {
		clk.t = l.tick(k)
		info, err := l.Next(context.Background(), k-1, dst)
		if err != nil {
			t.Fatal(err)
		}
		if info.Seq != k {
			t.Fatalf("frame %d, want %d", info.Seq, k)
		}
		return info.At.Sub(l.tick(start))
	}
	clk.t = l.tick(start)
	l.React("challenge", string(dir))
	var mats []gocv.Mat
	defer func() {
		for i := range mats {
			mats[i].Close()
		}
	}()
	for k := start; k < start+26; k += every {
		m := gocv.NewMat()
		frameAt(k, &m)
		mats = append(mats, m)
	}
	an, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorHaar, AllowMultiple: true})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	r, err := liveness.Check(context.Background(), liveness.Config{}, liveness.ModeChallenge, dir,
		liveness.AnalyzerFinder{An: an}, &liveness.MatFrames{Mats: mats, FPS: 10 / float64(every)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLiveAnswersTheChallenge: the demo's people, played by Live, go
// through the real liveness check (Haar, as in configs/demo.yaml). The
// worker and the visitor turn their heads the asked way and pass; the
// print of the worker, turned by hand, moves as a plane and is refused as
// a photo (planar_motion, which the kiosk shows as "Photo or screen
// detected"), whichever way it is asked to turn.
func TestLiveAnswersTheChallenge(t *testing.T) {
	dir := imagesDir(t)
	worker := Phase{Kind: Face, Image: filepath.Join(dir, WorkerPhoto)}
	visitor := Phase{Kind: Face, Image: filepath.Join(dir, VisitorPhoto), Crop: visitorCrop}
	attack := Phase{Kind: Print, Image: filepath.Join(dir, WorkerPhoto)}
	for _, tc := range []struct {
		name         string
		p            Phase
		dir          liveness.Direction
		start, every uint64
		live         bool
	}{
		{"worker left", worker, liveness.Left, 20, 1, true},
		{"worker right", worker, liveness.Right, 20, 1, true},
		{"visitor left", visitor, liveness.Left, 20, 1, true},
		{"visitor right", visitor, liveness.Right, 20, 1, true},
		// Seen in the demo: a fitted plane of the face without its nose
		// column that locked onto part of it (RANSAC) had the nose lag.
		{"visitor right, 5 fps", visitor, liveness.Right, 20, 2, true},
		{"print left", attack, liveness.Left, 20, 1, false},
		{"print right", attack, liveness.Right, 20, 1, false},
		{"print right, 5 fps", attack, liveness.Right, 20, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := liveCheck(t, tc.p, tc.dir, tc.start, tc.every)
			t.Logf("live %v %v %+v", r.Live, r.Reasons, r.Cues)
			if r.Live != tc.live {
				t.Fatalf("live = %v, want %v (reasons %v)", r.Live, tc.live, r.Reasons)
			}
			if !tc.live && !slices.Contains(r.Reasons, liveness.ReasonPlanar) {
				t.Fatalf("the print was refused for %v, not as a plane", r.Reasons)
			}
			if tc.live && r.Cues.DurationMS > 1500 {
				t.Fatalf("the check took %d ms of the challenge: the turn should end it early", r.Cues.DurationMS)
			}
		})
	}
}

// TestLiveHoldsTheSceneDuringAChallenge: while the challenge is on the
// screen the scene does not move on to its next phase, and the person
// turns only after a reaction time, then back once it is gone.
func TestLiveHoldsTheSceneDuringAChallenge(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{
		{Kind: Face, Image: filepath.Join(dir, WorkerPhoto), Duration: time.Second},
		{Kind: Empty, Duration: time.Second},
	}}
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	l, err := NewLive(s, cascade, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := func(d time.Duration) (phase int, turn float64) {
		clk.t = l.start.Add(d)
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.phaseAt(l.sceneTime(clk.t)), l.turn(clk.t)
	}
	if p, tr := at(500 * time.Millisecond); p != 0 || tr != 0 {
		t.Fatalf("before the challenge: phase %d turn %v", p, tr)
	}
	l.React("challenge", "left")
	if _, tr := at(500*time.Millisecond + reactAfter/2); tr != 0 {
		t.Fatalf("turned %v before the reaction time", tr)
	}
	if p, tr := at(3 * time.Second); p != 0 || tr != 1 || l.dir != 1 {
		t.Fatalf("2.5 s into the challenge: phase %d (want the face held), turn %v, dir %v", p, tr, l.dir)
	}
	l.React("granted", "")
	if _, tr := at(3*time.Second + turnBack); tr != 0 {
		t.Fatalf("after the challenge: turn %v", tr)
	}
	// 0.5 s of the face were shown before the 2.5 s challenge, 0.5 s after.
	if p, _ := at(3400 * time.Millisecond); p != 0 {
		t.Fatalf("the face left early: phase %d", p)
	}
	if p, _ := at(4 * time.Second); p != 1 {
		t.Fatalf("the scene did not move on after the challenge: phase %d", p)
	}
	l.React("challenge", "right")
	if l.dir != -1 {
		t.Fatalf("dir = %v after a right challenge", l.dir)
	}
}

func TestLiveNextAfterClose(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{{Kind: Face, Image: filepath.Join(dir, WorkerPhoto), Duration: time.Second}}}
	l, err := NewLive(s, cascade, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMat()
	defer m.Close()
	if _, err := l.Next(context.Background(), 0, &m); err != nil || m.Cols() != 640 {
		t.Fatalf("first frame: %v, %dx%d", err, m.Cols(), m.Rows())
	}
	l.Close()
	if _, err := l.Next(context.Background(), 0, &m); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// capture.FrameSource's readers stop on capture.ErrClosed only, and a
// Close must not leave a reader asleep until its frame is due.
func TestLiveCloseWakesNext(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{{Kind: Face, Image: filepath.Join(dir, WorkerPhoto), Duration: time.Second}}}
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLive(s, cascade, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			m := gocv.NewMat()
			defer m.Close()
			_, err := l.Next(context.Background(), 1000, &m) // frame 1001 is 100 s away
			done <- err
		}()
		synctest.Wait()
		l.Close()
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, capture.ErrClosed) {
				t.Fatalf("Next woken by Close: %v, want capture.ErrClosed", err)
			}
		default:
			t.Fatal("Next still waits for its frame after Close")
		}
	})
}

// Several readers ask for the same frame: it is rendered once and copied,
// so that each gets the same picture and none can spoil another's.
func TestLiveRepeatsAFrame(t *testing.T) {
	dir := imagesDir(t)
	s := Scene{Width: 640, Height: 480, FPS: 10, Phases: []Phase{{Kind: Print, Image: filepath.Join(dir, WorkerPhoto), Duration: time.Second}}}
	at := time.Unix(1000, 0)
	l, err := NewLive(s, cascade, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, b := gocv.NewMat(), gocv.NewMat()
	defer a.Close()
	defer b.Close()
	ia, err := l.Next(context.Background(), 0, &a)
	if err != nil {
		t.Fatal(err)
	}
	first := a.Clone()
	defer first.Close()
	a.SetTo(gocv.NewScalar(0, 0, 0, 0)) // the first reader draws on its copy
	ib, err := l.Next(context.Background(), 0, &b)
	if err != nil {
		t.Fatal(err)
	}
	if ia.Seq != ib.Seq || l.rendered != ib.Seq {
		t.Fatalf("second read: frame %d (first %d, rendered %d)", ib.Seq, ia.Seq, l.rendered)
	}
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.AbsDiff(first, b, &diff)
	flat := diff.Reshape(1, 0)
	defer flat.Close()
	if n := gocv.CountNonZero(flat); n != 0 || b.Cols() != 640 || b.Rows() != 480 {
		t.Fatalf("the repeat differs in %d values (%dx%d)", n, b.Cols(), b.Rows())
	}
}
