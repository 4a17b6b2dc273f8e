package kiosk

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeScanner is a BadgeScanner: Run blocks until its ctx ends, counting
// the scanners running; show hands a payload to the running one. failNext
// makes the next Run return an error at once.
type fakeScanner struct {
	mu       sync.Mutex
	running  int
	starts   int
	found    func(string)
	failNext error
}

func (f *fakeScanner) Run(ctx context.Context, found func(string)) error {
	f.mu.Lock()
	f.starts++
	if err := f.failNext; err != nil {
		f.failNext = nil
		f.mu.Unlock()
		return err
	}
	f.running++
	f.found = found
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.running--
	f.found = nil
	f.mu.Unlock()
	return nil
}

func (f *fakeScanner) state() (running, starts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.starts
}

// show hands payload to the running scanner; false when none runs.
func (f *fakeScanner) show(payload string) bool {
	f.mu.Lock()
	found := f.found
	f.mu.Unlock()
	if found == nil {
		return false
	}
	found(payload)
	return true
}

func badgeRig(t *testing.T) (*rig, *fakeScanner) {
	r := newRig(t, nil)
	s := &fakeScanner{}
	r.k.badges = newBadgeLoop(s, r.k, quietLogger())
	return r, s
}

// The scanner runs only while the gate is idle: a badge starts a session,
// the session stops the scanner (the selector needs the CPU), idle starts
// it again, and a badge shown during the session is not a second one.
func TestBadgeScannerRunsWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, s := badgeRig(t)
		if running, _ := s.state(); running != 0 {
			t.Fatal("scanner running before Run")
		}
		stop := r.start(t)
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		if !s.show("FG1:S:sub-123:u-1") {
			t.Fatal("no scanner to show the badge to")
		}
		require.Eventually(t, func() bool { return r.k.Status().State != StateIdle }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 0 }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if running, starts := s.state(); running != 0 || starts != 2 {
			t.Fatalf("after Run: %d running, %d starts; want 0 and 2", running, starts)
		}
		evs := r.events()
		if len(evs) != 1 || evs[0].IdentitySource != SourceQR || evs[0].SubmissionID != "sub-123" {
			t.Fatalf("events %+v, want one session from the badge", evs)
		}
	})
}

// Drain stops the scanner at once; nothing scans while the daemon stops.
func TestBadgeScannerStopsOnDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, s := badgeRig(t)
		stop := r.start(t)
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		if err := r.k.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 0 }, time.Minute, 100*time.Millisecond)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if _, starts := s.state(); starts != 1 {
			t.Fatalf("%d starts, want 1", starts)
		}
	})
}

// A scanner that fails is started again the next time the gate is idle.
func TestBadgeScannerRestartsAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, s := badgeRig(t)
		s.failNext = errors.New("camera closed")
		stop := r.start(t)
		require.Eventually(t, func() bool { _, starts := s.state(); return starts == 1 }, time.Minute, 100*time.Millisecond)
		r.identify(t, worker, 1)
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// A scanner that fails while the gate stays idle is started again after
// the backoff, without waiting for a session (no badge could start one).
func TestBadgeScannerRestartsWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, s := badgeRig(t)
		s.failNext = errors.New("camera closed")
		stop := r.start(t)
		require.Eventually(t, func() bool { _, starts := s.state(); return starts == 1 }, time.Minute, 100*time.Millisecond)
		time.Sleep(badgeRetryMin / 2)
		if running, starts := s.state(); running != 0 || starts != 1 {
			t.Fatalf("before the backoff: %d running, %d starts; want 0 and 1", running, starts)
		}
		require.Eventually(t, func() bool { running, _ := s.state(); return running == 1 }, time.Minute, 100*time.Millisecond)
		if r.k.Status().State != StateIdle || len(r.events()) != 0 {
			t.Fatalf("state %s, %d events: the restart needed no session", r.k.Status().State, len(r.events()))
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if running, starts := s.state(); running != 0 || starts != 2 {
			t.Fatalf("after Run: %d running, %d starts; want 0 and 2", running, starts)
		}
	})
}
