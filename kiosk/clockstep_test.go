package kiosk

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The tests of clock steps elsewhere in this package build their times
// with time.Date: times without a monotonic reading, so that a "step" moves
// every comparison. The daemon's times come from time.Now and carry one:
// within the process, a comparison of two of them ignores a step of the
// wall clock, a comparison with a time read from a file, a peer's event or
// a signed command (wall clock only) does not. These tests use times as
// the daemon has them after a step.

// stepWall is t, a time.Now reading, as time.Now would return it had the
// system clock been stepped by d (whole seconds) just before: the same
// monotonic reading, the wall clock moved by d.
func stepWall(t *testing.T, now time.Time, d time.Duration) time.Time {
	t.Helper()
	// time.Time's layout (go/src/time/time.go): with hasMonotonic set,
	// wall holds 33 bits of seconds since 1885 above 30 bits of
	// nanoseconds, and ext the monotonic reading.
	type layout struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	const hasMonotonic = 1 << 63
	l := (*layout)(unsafe.Pointer(&now))
	require.NotZero(t, l.wall&hasMonotonic, "stepWall needs a time.Now reading")
	require.Zero(t, d%time.Second)
	s := int64(d / time.Second)
	if s >= 0 {
		l.wall += uint64(s) << 30
	} else {
		l.wall -= uint64(-s) << 30
	}
	return now
}

func TestStepWallHelper(t *testing.T) {
	now := time.Now()
	back := stepWall(t, now, -time.Hour)
	require.Equal(t, time.Duration(0), back.Sub(now), "monotonic reading kept")
	require.Equal(t, -time.Hour, back.Round(0).Sub(now.Round(0)), "wall clock stepped")
}

// TestUnlockAfterAClockStepBackClearsOwnFailures: a worker locked out at
// this gate, then the clock is set back an hour (an operator, or NTP
// correcting a clock that ran ahead), then the site office unlocks the
// worker (POST /api/liveness/unlock → Kiosk.Unlock), or another gate's
// signed cmd/unlock arrives (Kiosk.SiteUnlock). The unlock must clear the
// failures (docs/kiosk.md: "It clears the failures stamped up to the end
// of the current second, and those a peer with a fast clock stamped
// later"): the worker's next try is checked again. Both compute upTo as
// unlockEnd(time.Unix(…)), a wall-clock time; the failures this gate
// counted carry a monotonic reading: before now by the process's clock,
// after upTo by the wall clock, so unlockWith keeps them (neither "up to"
// nor "ahead of now"), answers failures_cleared 0 and the worker stays
// locked out.
func TestUnlockAfterAClockStepBackClearsOwnFailures(t *testing.T) {
	for _, via := range []string{"http", "site"} {
		t.Run(via, func(t *testing.T) {
			cfg := unlockConfig(t)
			max, per := cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per
			var mu sync.Mutex
			clock := time.Now()
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
				Publisher: &fakePublisher{}, Broker: &fakeBroker{connected: true}, Logger: quietLogger(), Now: now})
			require.NoError(t, err)
			id := worker.SubmissionID
			for range max { // what the failed sessions record
				_, err := k.pad.fail(id, now(), max, per)
				require.NoError(t, err)
				mu.Lock()
				clock = clock.Add(time.Second)
				mu.Unlock()
			}
			mu.Lock()
			clock = stepWall(t, clock, -time.Hour) // the clock set back an hour
			mu.Unlock()
			require.True(t, k.pad.locked(id, now(), max, per), "locked out before the unlock")

			var u Unlocked
			if via == "http" {
				u, err = k.Unlock(UnlockRequest{SubmissionID: id, By: "site-office", Reason: "checked in person"})
				require.NoError(t, err)
			} else {
				var applied bool
				u, applied = k.SiteUnlock(SiteUnlock{Key: lockoutKey(id), Nonce: "nonce-0123456789abcdef", By: "site-office",
					Issued: time.Unix(now().Unix(), 0), Received: now()})
				require.True(t, applied)
			}
			require.True(t, u.WasLocked)
			require.Equal(t, max, u.Cleared, "failures cleared by the unlock")
			require.False(t, k.pad.locked(id, now().Add(time.Second), max, per), "still locked out after the unlock")
		})
	}
}

// TestPassbackSurvivesARestartAfterAForwardStep: a Pi without an RTC
// boots on its saved time, an hour behind; the worker is granted; NTP
// steps the clock forward; another worker is granted (passback.json is
// rewritten); the daemon restarts (watchdog, crash, power cut) 20 s after
// the first grant. The first worker's badge, passed back, must still be
// refused within the window (docs/kiosk.md: "a restart inside the window
// still refuses"). grant saves each remembered time's wall clock as it
// was read (t.Round(0)), an hour stale for the grant made before the
// step, so after the restart it looks an hour old and the badge opens.
func TestPassbackSurvivesARestartAfterAForwardStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passback.json")
	const window = 5 * time.Minute
	p, err := openPassback(path)
	require.NoError(t, err)
	boot := time.Now() // its wall clock an hour behind the real time
	require.NoError(t, p.grant("sub-a", boot, window))
	synced := stepWall(t, boot.Add(10*time.Second), time.Hour) // NTP steps the clock forward
	require.True(t, p.check("sub-a", synced, window), "refused in the same process (monotonic clock)")
	require.NoError(t, p.grant("sub-b", synced, window))

	restarted, err := openPassback(path)
	require.NoError(t, err)
	after := synced.Add(10 * time.Second).Round(0) // the next process: 20 s after sub-a's grant
	require.True(t, restarted.check("sub-a", after, window), "sub-a granted 20 s ago is not refused after the restart")
}

// TestLockoutSurvivesARestartAfterAForwardStep: as above for the liveness
// lockout (docs/kiosk.md: the memory is saved "so that a restart does not
// give an attacker fresh tries"): an identity locked out while the clock
// was an hour behind, NTP steps it forward, another failure is saved
// (another identity), the daemon restarts a minute after the lockout. The
// saved failure times are the stale wall-clock readings: after the
// restart they are an hour old, past the horizon, and the lockout is gone.
func TestLockoutSurvivesARestartAfterAForwardStep(t *testing.T) {
	cfg := lockoutConfig(t)
	max, per := cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per
	now, set, newKiosk := steppedKiosks(t, cfg)
	k := newKiosk()
	boot := now()
	for i := range max { // what the failed sessions record
		set(boot.Add(time.Duration(i) * time.Second))
		_, err := k.pad.fail("sub-a", now(), max, per)
		require.NoError(t, err)
	}
	set(stepWall(t, boot.Add(30*time.Second), time.Hour)) // NTP steps the clock forward
	require.True(t, k.pad.locked("sub-a", now(), max, per), "locked in the same process (monotonic clock)")
	_, err := k.pad.fail("sub-b", now(), max, per) // any later save
	require.NoError(t, err)

	set(now().Add(30 * time.Second).Round(0)) // the next process, a minute after the lockout
	k2 := newKiosk()
	require.True(t, k2.pad.locked("sub-a", now(), max, per), "lockout forgotten after the restart: fresh tries for the attacker")
}

// TestLockoutSurvivesAStepThenARestart: as above, but nothing else is
// saved between the step and the restart. The gate stops (a restart), or
// its self-test runs and then it is killed: either way the failures are
// saved again on the wall clock as it reads after the step. Until
// 2026-12-07 the file kept the stale stamps, an hour old after the
// restart, and the lockout was gone.
func TestLockoutSurvivesAStepThenARestart(t *testing.T) {
	for _, how := range []string{"stopped", "killed after a self-test"} {
		t.Run(how, func(t *testing.T) {
			cfg := lockoutConfig(t)
			cfg.Page.HealthInterval = time.Hour
			max, per := cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per
			now, set, newKiosk := steppedKiosks(t, cfg)
			cfg.Policy.AntiPassback = AntiPassback{Mode: "hard", Window: 5 * time.Minute}
			k := newKiosk()
			boot := now()
			for i := range max {
				set(boot.Add(time.Duration(i) * time.Second))
				_, err := k.pad.fail("sub-a", now(), max, per)
				require.NoError(t, err)
			}
			require.NoError(t, k.passback.grant("sub-b", now(), cfg.Policy.AntiPassback.Window))
			set(stepWall(t, boot.Add(30*time.Second), time.Hour)) // NTP steps the clock forward
			files := []string{filepath.Join(cfg.StateDir, "kiosk", lockoutFileName), filepath.Join(cfg.StateDir, "kiosk", "passback.json")}
			var before []string
			for _, f := range files {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				before = append(before, string(b))
			}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- k.Run(ctx) }()
			if how == "stopped" {
				require.Eventually(t, func() bool { return k.Status().State == StateIdle }, 5*time.Second, 5*time.Millisecond)
				cancel()
				require.NoError(t, <-done)
			} else {
				// The first self-test runs at once; then the process dies.
				require.Eventually(t, func() bool {
					for i, f := range files {
						if b, err := os.ReadFile(f); err != nil || string(b) == before[i] {
							return false
						}
					}
					return true
				}, 5*time.Second, 5*time.Millisecond, "the self-test did not save the memories again after the step")
				defer func() { cancel(); <-done }()
			}

			set(now().Add(30 * time.Second).Round(0)) // the next process, a minute after the lockout
			k2 := newKiosk()
			require.True(t, k2.pad.locked("sub-a", now(), max, per), "lockout forgotten after the restart: fresh tries for the attacker")
			require.True(t, k2.passback.check("sub-b", now(), cfg.Policy.AntiPassback.Window), "anti-passback forgotten after the restart")
		})
	}
}

// TestPassbackSurvivesAStepThenARestart: the anti-passback memory the same
// way, with no grant between the step and the restart.
func TestPassbackSurvivesAStepThenARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passback.json")
	const window = 5 * time.Minute
	p, err := openPassback(path)
	require.NoError(t, err)
	boot := time.Now() // its wall clock an hour behind the real time
	require.NoError(t, p.grant("sub-a", boot, window))
	synced := stepWall(t, boot.Add(10*time.Second), time.Hour) // NTP steps the clock forward
	require.NoError(t, p.resaveAfterStep(synced))              // the self-test, or the stop

	restarted, err := openPassback(path)
	require.NoError(t, err)
	after := synced.Add(10 * time.Second).Round(0)
	require.True(t, restarted.check("sub-a", after, window), "sub-a granted 20 s ago is not refused after the restart")

	// Without a step, nothing is written.
	require.NoError(t, os.Remove(path))
	require.NoError(t, p.resaveAfterStep(synced.Add(time.Minute)))
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "saved again without a step")
}

// steppedKiosks is a clock the test sets (starting at time.Now, with its
// monotonic reading, as the daemon's times are) and a maker of kiosks on
// cfg that read it: each one a restart on the same state directory.
func steppedKiosks(t *testing.T, cfg *Options) (now func() time.Time, set func(time.Time), newKiosk func() *Kiosk) {
	var mu sync.Mutex
	clock := time.Now()
	now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set = func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
	newKiosk = func() *Kiosk {
		k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
			Publisher: &fakePublisher{}, Broker: &fakeBroker{connected: true}, Logger: quietLogger(), Now: now})
		require.NoError(t, err)
		return k
	}
	return now, set, newKiosk
}
