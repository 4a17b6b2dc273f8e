//go:build go1.25

package kiosk

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/atomicfile"
)

var padFail = LivenessResult{Score: 0.1, Method: "challenge", Reasons: []string{"planar_motion"}}

func lockoutPath(cfg *Options) string {
	return filepath.Join(cfg.StateDir, "kiosk", lockoutFileName)
}

// readLockout parses the lockout file as the kiosk would at start.
func readLockout(t *testing.T, path string) map[string][]time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("lockout file: %v", err)
	}
	f, err := parseLockout(b)
	if err != nil {
		t.Fatalf("lockout file %s does not parse: %v", b, err)
	}
	return f.Failures
}

func countAlerts(r *rig, code string) int {
	_, _, alerts := r.pub.snapshot()
	n := 0
	for _, a := range alerts {
		if a.Code == code {
			n++
		}
	}
	return n
}

func lockoutConfig(t *testing.T) *Options {
	cfg := testConfig(t)
	cfg.Policy.Attempts.Max = 0
	cfg.Policy.Liveness = LivenessChallenge
	cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per = 3, 10*time.Minute
	return cfg
}

// TestLivenessLockoutSurvivesARestart: each failure is on disk by the time
// its denial is published, hashed; a new kiosk on the same state directory
// (a crash and restart) still refuses the locked identity without a check.
func TestLivenessLockoutSurvivesARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := lockoutConfig(t)
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		stop := r.start(t)
		for i := 1; i <= 3; i++ {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
			m := readLockout(t, lockoutPath(cfg))
			if len(m) != 1 || len(m[lockoutKey(worker.SubmissionID)]) != i {
				t.Fatalf("after failure %d the file holds %v, want %d failures of the hashed id", i, m, i)
			}
		}
		stop() // the kiosk is gone; what it knew in RAM with it
		if b, _ := os.ReadFile(lockoutPath(cfg)); strings.Contains(string(b), worker.SubmissionID) {
			t.Fatalf("the raw submission id is in the file: %s", b)
		}

		time.Sleep(time.Minute)
		lc2 := &fakeLiveness{res: livePass, delay: time.Second}
		r2 := livenessRig(t, cfg, lc2)
		stop2 := r2.start(t)
		r2.identify(t, worker, 1)
		stop2()
		ev := r2.events()[0]
		if !slices.Equal(ev.Reason, []string{ReasonLivenessLocked}) || r2.relay.count() != 0 || len(lc2.reqs) != 0 {
			t.Fatalf("after a restart: %s %v, %d pulses, %d checks; want liveness_locked without a check",
				ev.Decision, ev.Reason, r2.relay.count(), len(lc2.reqs))
		}
		if n := countAlerts(r2, "state_dir"); n != 0 {
			t.Errorf("%d state_dir alerts on a sound file", n)
		}
	})
}

// TestPadStateOpenDropsExpired: at start only the failures younger than
// twice per are kept (a lockout lasts per after the last of its
// failures); a file of only old ones is an empty memory.
func TestPadStateOpenDropsExpired(t *testing.T) {
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	per := 10 * time.Minute
	a, b := lockoutKey("a"), lockoutKey("b")
	path := filepath.Join(t.TempDir(), lockoutFileName)
	f := lockoutFile{Format: lockoutFormat, Version: 1, Failures: map[string][]time.Time{
		a: {now.Add(-21 * time.Minute), now.Add(-9 * time.Minute), now.Add(-time.Minute)},
		b: {now.Add(-time.Hour), now.Add(-20 * time.Minute)},
	}}
	data, _ := json.Marshal(f)
	os.WriteFile(path, data, 0o600)

	var p padState
	if err := p.open(path, now, 3, per); err != nil {
		t.Fatal(err)
	}
	if got := p.fails[a]; len(got) != 2 || !got[0].Equal(now.Add(-9*time.Minute)) {
		t.Errorf("a: %v, want the two failures within 20m", got)
	}
	if _, ok := p.fails[b]; ok {
		t.Errorf("b kept with only expired failures: %v", p.fails[b])
	}
	if !p.locked("a", now, 2, per) || p.locked("a", now, 3, per) || p.locked("b", now, 1, per) {
		t.Error("the loaded memory does not lock as its failures say")
	}
	// The next save writes only what is kept.
	if _, err := p.fail("c", now, 3, per); err != nil {
		t.Fatal(err)
	}
	m := readLockout(t, path)
	if _, ok := m[b]; ok || len(m[a]) != 2 || len(m[lockoutKey("c")]) != 1 {
		t.Errorf("saved %v", m)
	}
}

// TestLockoutLastsPerAfterTheLockingFailure: a lockout lasts per from
// the failure that made it, not per from the first of its failures
// (which unlocked an identity 31 s after its alert); a clock stepped
// back, which stores failures out of order, changes nothing.
func TestLockoutLastsPerAfterTheLockingFailure(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const max, per = 3, 10 * time.Minute
	at := func(d ...time.Duration) []time.Time {
		var ts []time.Time
		for _, x := range d {
			ts = append(ts, t0.Add(x))
		}
		return ts
	}
	tests := []struct {
		name   string
		fails  []time.Time
		now    time.Duration
		locked bool
	}{
		{"right after the third failure", at(0, 9*time.Minute, 9*time.Minute+30*time.Second), 9*time.Minute + 31*time.Second, true},
		{"per after the first, 31 s after the third", at(0, 9*time.Minute, 9*time.Minute+30*time.Second), 10*time.Minute + time.Second, true},
		{"just before per after the third", at(0, 9*time.Minute, 9*time.Minute+30*time.Second), 19*time.Minute + 29*time.Second, true},
		{"per after the third", at(0, 9*time.Minute, 9*time.Minute+30*time.Second), 19*time.Minute + 30*time.Second, false},
		{"three failures spread over more than per never lock", at(0, 6*time.Minute, 11*time.Minute), 11 * time.Minute, false},
		{"two failures", at(0, time.Minute), 2 * time.Minute, false},
		{"out of order (a clock stepped back)", at(9*time.Minute+30*time.Second, 0, 9*time.Minute), 15 * time.Minute, true},
		{"a failure ahead of the clock still counts", at(0, time.Minute, 20*time.Minute), 2 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := padState{fails: map[string][]time.Time{lockoutKey("sub-1"): tc.fails}}
			require.Equal(t, tc.locked, p.locked("sub-1", t0.Add(tc.now), max, per))
		})
	}
	// fail reports the lockout (and so its alert) on the failure that makes it.
	var p padState
	for i, d := range []time.Duration{0, 9 * time.Minute, 9*time.Minute + 30*time.Second} {
		lockedOut, err := p.fail("sub-2", t0.Add(d), max, per)
		require.NoError(t, err)
		require.Equal(t, i == 2, lockedOut, "failure %d", i+1)
	}
	require.True(t, p.locked("sub-2", t0.Add(19*time.Minute), max, per))
}

// TestLivenessLockoutLastsPerEndToEnd: three photo failures within per,
// the last 9.5 min after the first; a try 31 s later is refused without
// a check (liveness_locked), and one per after the last runs a check.
func TestLivenessLockoutLastsPerEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, lockoutConfig(t), lc)
		stop := r.start(t)
		defer stop()
		idle := func() {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		}
		for i, wait := range []time.Duration{0, 9 * time.Minute, 30 * time.Second, 31 * time.Second, 10 * time.Minute} {
			time.Sleep(wait)
			idle()
			r.identify(t, worker, i+1)
		}
		var got [][]string
		for _, ev := range r.events() {
			got = append(got, ev.Reason)
		}
		require.Equal(t, [][]string{{ReasonLivenessFailed}, {ReasonLivenessFailed}, {ReasonLivenessFailed}, {ReasonLivenessLocked}, {ReasonLivenessFailed}}, got)
		require.Len(t, lc.reqs, 4, "no check while locked")
	})
}

// TestPadStateBound: past maxLockoutIdentities the identity whose newest
// failure is oldest is forgotten, on disk too.
func TestPadStateBound(t *testing.T) {
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	per := time.Hour
	path := filepath.Join(t.TempDir(), lockoutFileName)
	var p padState
	if err := p.open(path, now, 3, per); err != nil {
		t.Fatal(err)
	}
	for i := range maxLockoutIdentities {
		p.fails[lockoutKey(fmt.Sprint("id-", i))] = []time.Time{now.Add(-30 * time.Minute).Add(time.Duration(i) * time.Millisecond)}
	}
	if _, err := p.fail("new", now, 3, per); err != nil {
		t.Fatal(err)
	}
	m := readLockout(t, path)
	if len(m) != maxLockoutIdentities {
		t.Fatalf("%d identities in the file, want %d", len(m), maxLockoutIdentities)
	}
	if _, ok := m[lockoutKey("id-0")]; ok {
		t.Error("the oldest identity was kept")
	}
	for _, id := range []string{"id-1", fmt.Sprint("id-", maxLockoutIdentities-1), "new"} {
		if _, ok := m[lockoutKey(id)]; !ok {
			t.Errorf("%s dropped", id)
		}
	}
}

// TestPadStateBoundWithTheLockoutOff: a file over the bound, all of this
// gate's own identities, opened with the lockout off (max 0), is bounded
// (the lockout rule read out of its slice, and the daemon stopped at start).
func TestPadStateBoundWithTheLockoutOff(t *testing.T) {
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	f := lockoutFile{Format: lockoutFormat, Version: 1, Failures: map[string][]time.Time{}, Own: map[string]time.Time{}}
	for i := range maxLockoutIdentities + 2 {
		k, at := lockoutKey(fmt.Sprint("id-", i)), now.Add(-time.Minute).Add(time.Duration(i)*time.Millisecond)
		f.Failures[k], f.Own[k] = []time.Time{at}, at
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), lockoutFileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var p padState
	if err := p.open(path, now, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(p.fails) != maxLockoutIdentities {
		t.Fatalf("%d identities kept, want %d", len(p.fails), maxLockoutIdentities)
	}
	if p.locked("id-1", now, 0, time.Hour) {
		t.Error("an identity locked with the lockout off")
	}
}

// TestLivenessLockoutCorruptFile: a damaged file is set aside, alerted as
// state_dir, and the kiosk starts with an empty memory that it saves anew.
func TestLivenessLockoutCorruptFile(t *testing.T) {
	tests := []struct{ name, content string }{
		{"not json", "{\"format\":\"facegate-liveness-lockout\",\"vers"},
		{"raw id as key", `{"format":"facegate-liveness-lockout","version":1,"failures":{"sub-123":["2026-01-01T00:00:00Z"]}}`},
		{"wrong format", `{"format":"other","version":1,"failures":{}}`},
		{"unreadable", ""}, // a folder in its place
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := lockoutConfig(t)
				path := lockoutPath(cfg)
				os.MkdirAll(filepath.Dir(path), 0o750)
				if tc.content == "" {
					os.Mkdir(path, 0o750)
				} else {
					os.WriteFile(path, []byte(tc.content), 0o600)
				}
				lc := &fakeLiveness{res: padFail, delay: time.Second}
				r := livenessRig(t, cfg, lc)
				stop := r.start(t)
				r.identify(t, worker, 1)
				stop()
				_, _, alerts := r.pub.snapshot()
				i := slices.IndexFunc(alerts, func(a Alert) bool { return a.Code == "state_dir" })
				if i < 0 || !strings.Contains(alerts[i].Message, ".corrupt-") {
					t.Fatalf("alerts %+v, want state_dir naming the file set aside", alerts)
				}
				aside, _ := filepath.Glob(path + ".corrupt-*")
				if len(aside) != 1 {
					t.Fatalf("set aside: %v", aside)
				}
				if ev := r.events()[0]; !slices.Equal(ev.Reason, []string{ReasonLivenessFailed}) {
					t.Errorf("first session %v, want liveness_failed", ev.Reason)
				}
				if m := readLockout(t, path); len(m[lockoutKey(worker.SubmissionID)]) != 1 {
					t.Errorf("new file %v, want the one failure", m)
				}
			})
		})
	}
}

// TestLockoutSavedAtStopAfterAFailedSave: a memory whose last save failed
// (disk full) is saved at the stop when the disk has room again, with
// the stamp taken meanwhile.
func TestLockoutSavedAtStopAfterAFailedSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), lockoutFileName)
	per := 10 * time.Minute
	var full atomic.Bool
	full.Store(true)
	p := &padState{write: func(path string, b []byte, m fs.FileMode) error {
		if full.Load() {
			return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return atomicfile.Write(path, b, m)
	}}
	now := time.Now()
	require.NoError(t, p.open(path, now, 3, per))
	_, err := p.fail(worker.SubmissionID, now, 3, per)
	require.Error(t, err)
	key := lockoutKey(worker.SubmissionID)
	require.NoError(t, p.stamp(key, now.Add(time.Millisecond), now, 3, per), "reported with the failure")
	full.Store(false)
	p.stop()
	var again padState
	require.NoError(t, again.open(path, now, 3, per))
	require.Len(t, again.fails[key], 1)
	require.Len(t, again.stamped[key], 1)
}

// TestLivenessLockoutSaveFails: a failure that cannot be saved (disk full)
// still denies, is alerted, and still counts towards the lockout in RAM.
func TestLivenessLockoutSaveFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := lockoutConfig(t)
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		r.k.pad.write = func(path string, _ []byte, _ fs.FileMode) error {
			return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		stop := r.start(t)
		for i := 1; i <= 4; i++ {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		stop()
		evs := r.events()
		for i, want := range []string{ReasonLivenessFailed, ReasonLivenessFailed, ReasonLivenessFailed, ReasonLivenessLocked} {
			if !slices.Equal(evs[i].Reason, []string{want}) || evs[i].Decision != "denied" {
				t.Errorf("session %d: %s %v, want denied %s", i+1, evs[i].Decision, evs[i].Reason, want)
			}
		}
		if r.relay.count() != 0 {
			t.Errorf("%d pulses", r.relay.count())
		}
		if n := countAlerts(r, "state_dir"); n != 4 {
			t.Errorf("%d state_dir alerts, want one per unsaved failure and one for the last try at the stop (4)", n)
		}
		if n := countAlerts(r, AlertLivenessLockout); n != 1 {
			t.Errorf("%d lockout alerts, want 1", n)
		}
	})
}

func FuzzParseLockout(f *testing.F) {
	good, _ := json.Marshal(lockoutFile{Format: lockoutFormat, Version: 1, Failures: map[string][]time.Time{
		lockoutKey("a"): {time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	for _, s := range []string{string(good), "", "{}", "null", `{"format":"facegate-liveness-lockout","version":1,"failures":null}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{"` + lockoutKey("a") + `":[]}}`,
		string(good) + "{}", `{"format":"facegate-liveness-lockout","version":1,"failures":{},"x":1}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{"` + lockoutKey("a") + `":["2026-01-01T00:00:00Z"]},"own":{"` + lockoutKey("a") + `":"2026-01-01T00:00:00Z"}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"own":{"` + lockoutKey("a") + `":"2026-01-01T00:00:00Z"}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"unlocked":{"` + lockoutKey("a") + `":{"until":"2026-01-01T00:00:00.999999999Z","ahead":["2026-01-01T00:00:30Z"]}}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"unlocked":{"` + lockoutKey("a") + `":{"until":"0001-01-01T00:00:00Z"}}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"stamped":{"` + lockoutKey("a") + `":["2026-01-01T00:00:00.123Z"]}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"stamped":{"` + lockoutKey("a") + `":[]}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"stamped":{"beef":["2026-01-01T00:00:00Z"]}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"applied":["nonce-0000000000001","nonce-0000000000002"]}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"applied":[""]}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"shared":{"` + lockoutKey("a") + `":{"issued":"2026-01-01T00:00:00Z","cmd":"{\"body\":{}}"}}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"shared":{"` + lockoutKey("a") + `":{"issued":"2026-01-01T00:00:00Z","cmd":""}}}`,
		`{"format":"facegate-liveness-lockout","version":1,"failures":{},"shared":{"beef":{"issued":"2026-01-01T00:00:00Z","cmd":"x"}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		f, err := parseLockout(b)
		if err != nil {
			return
		}
		m, own := f.Failures, f.Own
		for k, ts := range f.Stamped {
			if !validPassbackKey(k) || len(ts) == 0 || len(ts) > maxLockoutTimes || slices.ContainsFunc(ts, time.Time.IsZero) {
				t.Fatalf("accepted stamps of key %q: %v", k, ts)
			}
		}
		for k, u := range f.Unlocked {
			if !validPassbackKey(k) || u.Until.IsZero() || len(u.Ahead) > maxLockoutTimes || slices.ContainsFunc(u.Ahead, time.Time.IsZero) {
				t.Fatalf("accepted an unlock of key %q: %+v", k, u)
			}
		}
		if len(f.Applied) > maxAppliedNonces || slices.ContainsFunc(f.Applied, func(n string) bool { return n == "" || len(n) > maxNonceBytes }) {
			t.Fatalf("accepted applied nonces %q", f.Applied)
		}
		for k, u := range f.Shared {
			if !validPassbackKey(k) || u.Issued.IsZero() || u.Cmd == "" || len(u.Cmd) > maxSharedUnlockBytes || len(f.Shared) > maxSharedUnlocks {
				t.Fatalf("accepted a shared unlock of key %q: %+v", k, u)
			}
		}
		for k, ts := range m {
			if !validPassbackKey(k) || len(ts) == 0 || len(ts) > maxLockoutTimes {
				t.Fatalf("accepted key %q with %d times", k, len(ts))
			}
		}
		// What was accepted survives a save and a load.
		for k := range own {
			if _, ok := m[k]; !ok {
				t.Fatalf("accepted an own failure of key %q without failures", k)
			}
		}
		again, _ := json.Marshal(f)
		f2, err := parseLockout(again)
		if err != nil || len(f2.Failures) != len(m) || len(f2.Own) != len(own) || len(f2.Unlocked) != len(f.Unlocked) || len(f2.Stamped) != len(f.Stamped) || len(f2.Shared) != len(f.Shared) || len(f2.Applied) != len(f.Applied) {
			t.Fatalf("round trip: %v, %d of %d keys, %d of %d own, %d of %d unlocks, %d of %d stamped", err, len(f2.Failures), len(m), len(f2.Own), len(own), len(f2.Unlocked), len(f.Unlocked), len(f2.Stamped), len(f.Stamped))
		}
	})
}
