//go:build go1.25

package kiosk

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// peerFailures runs n photo failures of id at a gate named gate that
// publishes submission ids as privacy says, and returns its events.
func peerFailures(t *testing.T, gate string, privacy record.Privacy, id Identity, n int) []record.Event {
	t.Helper()
	evs, _ := peerFailuresAndList(t, gate, privacy, id, n)
	return evs
}

// peerFailuresAndList is peerFailures, with the gate's failure list
// (LockoutList) after them.
func peerFailuresAndList(t *testing.T, gate string, privacy record.Privacy, id Identity, n int) ([]record.Event, []byte) {
	t.Helper()
	cfg := lockoutConfig(t)
	cfg.Gate, cfg.Privacy = gate, privacy
	cfg.Policy.LivenessLockout.Max = 100 // this gate alone never locks
	r := livenessRig(t, cfg, &fakeLiveness{res: padFail, delay: time.Second})
	stop := r.start(t)
	defer stop()
	for i := 1; i <= n; i++ {
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		r.identify(t, id, i)
	}
	return r.events(), r.k.LockoutList()
}

// TestLivenessLockoutIsSiteWide: two photo failures at another gate (its
// events, as the site's MQTT brings them, once of them twice) and one at
// this gate lock the identity out here: this gate raises the lockout
// alert on its own failure, and the next try is refused without a check.
// Each gate alone saw fewer than max.
func TestLivenessLockoutIsSiteWide(t *testing.T) {
	for _, privacy := range []record.Privacy{record.PrivacyPlain, record.PrivacyHash} {
		t.Run(string(privacy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				east := peerFailures(t, "east", privacy, worker, 2)
				require.Len(t, east, 2)
				for _, ev := range east {
					require.Equal(t, []string{ReasonLivenessFailed}, ev.Reason)
				}

				cfg := lockoutConfig(t)
				lc := &fakeLiveness{res: padFail, delay: time.Second}
				r := livenessRig(t, cfg, lc)
				stop := r.start(t)
				defer stop()
				require.True(t, r.k.PeerEvent(east[0]), "east's first failure")
				require.False(t, r.k.PeerEvent(east[0]), "the same event delivered again")
				m := readLockout(t, lockoutPath(cfg))
				require.Len(t, m[lockoutKey(worker.SubmissionID)], 1, "the peer's failure is saved at once: %v", m)
				require.True(t, r.k.PeerEvent(east[1]), "east's second failure")

				r.identify(t, worker, 1)
				require.Equal(t, []string{ReasonLivenessFailed}, r.events()[0].Reason)
				require.Equal(t, 1, countAlerts(r, AlertLivenessLockout), "this gate's failure made the count")
				require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
				r.identify(t, worker, 2)
				require.Equal(t, []string{ReasonLivenessLocked}, r.events()[1].Reason)
				require.Len(t, lc.reqs, 1, "a locked identity is refused without a check")
				require.Len(t, readLockout(t, lockoutPath(cfg))[lockoutKey(worker.SubmissionID)], 3)
				require.Contains(t, scrape(t, r.k), "facegate_liveness_site_failures_total 2\n")
			})
		})
	}
}

// TestPeerEventCountsOnlyPeersFailures: what a peer's event adds to the
// lockout, one change at a time from a real failure event of gate east.
func TestPeerEventCountsOnlyPeersFailures(t *testing.T) {
	// In a synctest bubble the clock starts at the same instant each time.
	ts := func(d time.Duration) string { return time.Now().Add(d).UTC().Format("2006-01-02T15:04:05.000Z07:00") }
	tests := []struct {
		name   string
		change func(ev *record.Event)
		counts bool
	}{
		{"a failure of another gate", func(*record.Event) {}, true},
		{"a wrong answer (no turn)", func(ev *record.Event) { ev.Reason = []string{ReasonLivenessNoTurn} }, true},
		{"a plain id", func(ev *record.Event) { ev.SubmissionID = worker.SubmissionID }, true},
		{"a hash in capitals", func(ev *record.Event) { ev.SubmissionID = "sha256:" + strings.ToUpper(lockoutKey(worker.SubmissionID)) }, true},
		{"stamped 50 s ahead", func(ev *record.Event) { ev.TS = ts(50 * time.Second) }, true},
		{"stamped 19 min ago (twice per is remembered)", func(ev *record.Event) { ev.TS = ts(-19 * time.Minute) }, true},
		{"this gate's own event", func(ev *record.Event) { ev.Gate = "gate"; ev.Site = "site" }, false},
		{"a gate of the same name at another site", func(ev *record.Event) { ev.Gate = "gate"; ev.Site = "other" }, true},
		{"no id (mqtt.submission_id: omit)", func(ev *record.Event) { ev.SubmissionID = "" }, false},
		{"a hash that is not one", func(ev *record.Event) { ev.SubmissionID = "sha256:beef" }, false},
		{"the check could not run", func(ev *record.Event) { ev.Reason = []string{ReasonLivenessUnavailable} }, false},
		{"already locked (no check ran)", func(ev *record.Event) { ev.Reason = []string{ReasonLivenessLocked}; ev.Liveness = nil }, false},
		{"a shadow trial's refusal", func(ev *record.Event) { ev.Liveness.Shadow = true }, false},
		{"live", func(ev *record.Event) { ev.Liveness.Live = true }, false},
		{"granted", func(ev *record.Event) { ev.Decision = record.DecisionGranted }, false},
		{"no liveness", func(ev *record.Event) { ev.Liveness = nil }, false},
		{"a bad timestamp", func(ev *record.Event) { ev.TS = "yesterday" }, false},
		{"stamped 70 s ahead", func(ev *record.Event) { ev.TS = ts(70 * time.Second) }, false},
		{"stamped 20 min 1 s ago", func(ev *record.Event) { ev.TS = ts(-20*time.Minute - time.Second) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ev := peerFailures(t, "east", record.PrivacyHash, worker, 1)[0]
				require.True(t, strings.HasPrefix(ev.SubmissionID, "sha256:"))
				tc.change(&ev)
				r := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail})
				require.Equal(t, tc.counts, r.k.PeerEvent(ev))
				want := 0
				if tc.counts {
					want = 1
				}
				require.Len(t, r.k.pad.fails[lockoutKey(worker.SubmissionID)], want)
			})
		})
	}
}

// TestLivenessLockoutAlertWhenFailuresCross: east refuses the worker
// twice, then this gate once before it hears of east's (max 3). Once
// the events arrive both are locked, and each alerts exactly when its own
// failure is the newest of the ones that locked it; a peer's failure that
// is the newest raises nothing here (its gate alerts).
func TestLivenessLockoutAlertWhenFailuresCross(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		east := peerFailures(t, "east", record.PrivacyPlain, worker, 2) // at about 0 and 3 s
		time.Sleep(time.Minute)
		cfg := lockoutConfig(t)
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail, delay: time.Second})
		stop := r.start(t)
		defer stop()
		r.identify(t, worker, 1)
		require.Zero(t, countAlerts(r, AlertLivenessLockout))
		require.True(t, r.k.PeerEvent(east[0]))
		require.Zero(t, countAlerts(r, AlertLivenessLockout), "two failures")
		require.True(t, r.k.PeerEvent(east[1]))
		require.Equal(t, 1, countAlerts(r, AlertLivenessLockout), "east's older failure locks the worker; north's is the newest")
		require.False(t, r.k.PeerEvent(east[0]))
		require.Equal(t, 1, countAlerts(r, AlertLivenessLockout), "already locked: one alert")

		// A gate whose own failure is not the newest does not alert.
		r2 := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail, delay: time.Second})
		stop2 := r2.start(t)
		defer stop2()
		r2.identify(t, worker, 1)
		time.Sleep(time.Minute)
		later := peerFailures(t, "west", record.PrivacyPlain, worker, 2)
		require.True(t, r2.k.PeerEvent(later[0]))
		require.True(t, r2.k.PeerEvent(later[1]))
		require.True(t, r2.k.pad.locked(worker.SubmissionID, time.Now(), 3, 10*time.Minute))
		require.Zero(t, countAlerts(r2, AlertLivenessLockout), "west's failure is the newest: west alerts, not this gate")
	})
}

// TestPadStatePeerKeepsTheNewest: peers' failures arrive in any order;
// the memory stays sorted and keeps the newest keptTimes(max) (6 for max
// 3); one older than those adds nothing.
func TestPadStatePeerKeepsTheNewest(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const per = 10 * time.Minute
	var p padState
	key := lockoutKey("sub-1")
	now := t0.Add(5 * time.Minute)
	sec := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, i := range []int{5, 9, 0, 7, 3, 8, 1, 6, 4, 2} {
		added, _, _, err := p.peer(key, sec(i), now, 3, per)
		require.NoError(t, err)
		require.Equal(t, i != 2, added, "failure at %d s", i)
	}
	require.Equal(t, []time.Time{sec(4), sec(5), sec(6), sec(7), sec(8), sec(9)}, p.fails[key])
	added, _, _, _ := p.peer(key, sec(10), now, 0, per)
	require.False(t, added, "max 0 (the lockout off) counts nothing")
}

// TestKeptTimesDecideAsAll: locked's rule on an identity's newest
// keptTimes(max) failures is its rule on all of them, over random
// histories, clocks and policies.
func TestKeptTimesDecideAsAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for range 20000 {
		max := 1 + rng.IntN(6)
		per := time.Duration(1+rng.IntN(20)) * time.Minute
		var ts []time.Time
		for range rng.IntN(25) {
			ts = append(ts, t0.Add(time.Duration(rng.IntN(3600))*time.Second))
		}
		slices.SortFunc(ts, time.Time.Compare)
		now := t0.Add(time.Duration(rng.IntN(4000)) * time.Second)
		kept := ts
		if n := keptTimes(max); len(kept) > n {
			kept = kept[len(kept)-n:]
		}
		if lockedBy(ts, now, max, per) != lockedBy(kept, now, max, per) {
			t.Fatalf("max %d per %v now %v: all %v, kept %v", max, per, now, ts, kept)
		}
	}
}

// FuzzPeerFailureKey: whatever a peer's event holds, a counted failure has
// a lowercase sha256 key, the one this gate's own failure of the same id
// makes, and its time counts once.
func FuzzPeerFailureKey(f *testing.F) {
	f.Add("sub-1", ReasonLivenessFailed, "2026-12-06T08:00:00.000Z")
	f.Add("sha256:"+strings.ToUpper(lockoutKey("sub-1")), ReasonLivenessNoTurn, "2026-12-06T07:55:00Z")
	f.Add("sha256:", ReasonLivenessFailed, "2026-12-06T08:04:59.999+00:00")
	f.Fuzz(func(t *testing.T, id, reason, ts string) {
		ev := record.Event{Decision: record.DecisionDenied, Reason: []string{reason}, SubmissionID: id, TS: ts,
			Liveness: &record.Liveness{Method: LivenessChallenge}}
		key, ok := peerFailureKey(ev)
		if !ok {
			return
		}
		if !validPassbackKey(key) || key != strings.ToLower(key) {
			t.Fatalf("id %q: key %q", id, key)
		}
		if !strings.HasPrefix(id, "sha256:") && key != lockoutKey(id) {
			t.Fatalf("id %q: key %q, this gate's own failure would be %q", id, key, lockoutKey(id))
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return
		}
		var p padState
		now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
		first, _, _, _ := p.peer(key, at, now, 3, 10*time.Minute)
		again, _, _, _ := p.peer(key, at, now, 3, 10*time.Minute)
		if again || len(p.fails[key]) > 1 || first != (len(p.fails[key]) == 1) {
			t.Fatalf("ts %q: first %v again %v, kept %v", ts, first, again, p.fails[key])
		}
	})
}

// The red-team review of 2026-12-06 (site-wide lockout), one test per
// finding that was fixed.
var (
	rtT0  = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	rtPer = 10 * time.Minute
)

// A flood of made-up peer failures (10,000 identities, stamped up to a
// minute ahead, locked out or not) never forgets an identity this gate
// saw fail: before the flood, between its failures or after it, the
// third of its failures locks it. The flood crowds out only identities
// that peers alone reported (second review, 2026-12-06: a flood evicted
// every new real failure the moment it was stored).
func TestPadStateFloodKeepsThisGatesFailures(t *testing.T) {
	flood := func(p *padState, now time.Time, failures int) {
		for i := range maxLockoutIdentities + 10 {
			for j := range failures {
				at := now.Add(50*time.Second + time.Duration(j)*time.Millisecond)
				_, _, _, err := p.peer(lockoutKey(fmt.Sprint("fake-", i)), at, now, 3, rtPer)
				require.NoError(t, err)
			}
		}
	}
	sec := func(i int) time.Time { return rtT0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name     string
		before   int // own failures before the flood
		failures int // per made-up identity
	}{{"a flood before the failures", 0, 1}, {"a flood between them", 2, 1}, {"a flood after them", 3, 1}, {"a flood of lockouts between them", 2, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			var p padState
			peerOnly := lockoutKey("reported-by-a-peer")
			_, _, _, err := p.peer(peerOnly, sec(0), sec(0), 3, rtPer)
			require.NoError(t, err)
			for i := range tc.before {
				_, err := p.fail("sub-1", sec(i+1), 3, rtPer)
				require.NoError(t, err)
			}
			flood(&p, sec(4), tc.failures)
			for i := tc.before; i < 3; i++ {
				_, err := p.fail("sub-1", sec(i+5), 3, rtPer)
				require.NoError(t, err)
			}
			require.LessOrEqual(t, len(p.fails), maxLockoutIdentities)
			require.True(t, p.locked("sub-1", sec(9), 3, rtPer), "the lockout survives the flood")
			require.NotContains(t, p.fails, peerOnly, "a peer's report is what a flood crowds out")
		})
	}
}

// The lockout file's size and a flood's cost at a full memory (10,000
// identities, each with the 6 failures max 3 keeps): one more made-up
// identity per op.
func BenchmarkPadStatePeerFlood(b *testing.B) {
	var p padState
	now := rtT0.Add(time.Hour)
	for i := range maxLockoutIdentities {
		for j := range 6 {
			_, _, _, _ = p.peer(lockoutKey(fmt.Sprint("fake-", i)), now.Add(-time.Duration(j)*time.Second), now, 3, rtPer)
		}
	}
	data, err := json.Marshal(lockoutFile{Format: lockoutFormat, Version: 1, Failures: p.fails, Own: p.own})
	require.NoError(b, err)
	i := 0
	for b.Loop() {
		_, _, _, _ = p.peer(lockoutKey(fmt.Sprint("new-", i)), now, now, 3, rtPer)
		i++
	}
	b.ReportMetric(float64(len(data))/1e6, "file-MB")
}

// A slow disk (a write of 250 ms) still writes a burst of peers'
// failures together: the pause is counted from the end of the write.
func TestPadStatePeerSavesCoalesceOnASlowDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		p := padState{path: filepath.Join(t.TempDir(), lockoutFileName), write: func(path string, data []byte, perm fs.FileMode) error {
			n.Add(1)
			time.Sleep(250 * time.Millisecond)
			return os.WriteFile(path, data, perm)
		}}
		for i := range 20 {
			_, _, _, err := p.peer(lockoutKey(fmt.Sprint("sub-", i)), time.Now(), time.Now(), 3, rtPer)
			require.NoError(t, err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, int32(2), n.Load(), "the first at once, the other 19 together")
		require.Len(t, readLockout(t, p.path), 20)
	})
}

// Two gates fail the identity 2 ms apart, each event stamped after its
// save (5 ms later, to the millisecond): both lock once each hears the
// other, and at least one alerts.
func TestPadStateCrossingFailuresAlert(t *testing.T) {
	key := lockoutKey("sub-1")
	const save = 5 * time.Millisecond
	tA := rtT0.Add(400 * time.Microsecond)
	tB := tA.Add(2 * time.Millisecond)
	var a, b padState
	_, err := a.fail("sub-1", tA, 2, rtPer)
	require.NoError(t, err)
	_, err = b.fail("sub-1", tB, 2, rtPer)
	require.NoError(t, err)
	now := tB.Add(50 * time.Millisecond)
	_, lockedA, alertA, _ := a.peer(key, tB.Add(save).Truncate(time.Millisecond), now, 2, rtPer)
	_, lockedB, alertB, _ := b.peer(key, tA.Add(save).Truncate(time.Millisecond), now, 2, rtPer)
	require.True(t, lockedA && lockedB)
	require.True(t, alertA || alertB, "no lockout alert anywhere")
}

// A peer's failure locks the identity while this gate's check runs (the
// peer alerts); this gate's failure then reports no new lockout, so no
// second alert.
func TestPadStateFailOnALockedIdentity(t *testing.T) {
	key := lockoutKey("sub-1")
	var p padState
	for i := range 3 {
		at := rtT0.Add(time.Duration(i) * time.Second)
		_, _, alert, err := p.peer(key, at, at, 3, rtPer)
		require.NoError(t, err)
		require.False(t, alert, "the peers' failures: their gate alerts")
	}
	lockedOut, err := p.fail("sub-1", rtT0.Add(4*time.Second), 3, rtPer)
	require.NoError(t, err)
	require.False(t, lockedOut, "already locked: no second alert")
}

// A peer's failure stamped ahead of this gate's clock (within the minute
// allowed) locks for at most per and that minute.
func TestPadStateAheadLocksAtMostAMinuteLonger(t *testing.T) {
	key := lockoutKey("sub-1")
	var p padState
	for _, d := range []time.Duration{-2 * time.Second, -time.Second, maxPeerFailureAhead} {
		_, _, _, err := p.peer(key, rtT0.Add(d), rtT0, 3, rtPer)
		require.NoError(t, err)
	}
	require.True(t, p.locked("sub-1", rtT0, 3, rtPer))
	require.False(t, p.locked("sub-1", rtT0.Add(rtPer+maxPeerFailureAhead), 3, rtPer))
}

// This gate's failure after a peer's stamped ahead keeps the memory
// sorted (trimming and eviction read the newest last).
func TestPadStateFailAfterAPeerAheadStaysSorted(t *testing.T) {
	var p padState
	_, _, _, err := p.peer(lockoutKey("sub-1"), rtT0.Add(50*time.Second), rtT0, 100, rtPer)
	require.NoError(t, err)
	_, err = p.fail("sub-1", rtT0.Add(time.Second), 100, rtPer)
	require.NoError(t, err)
	require.True(t, slices.IsSortedFunc(p.fails[lockoutKey("sub-1")], time.Time.Compare))
}

// A flood of peers' failures (500 at once) writes the file twice, not
// 500 times: the first at once, the rest together peerSaveEvery later,
// all of them on disk then; this gate's own failure is saved at once
// whatever came before.
func TestPadStatePeerSavesCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), lockoutFileName)
		var n atomic.Int32 // the deferred save writes from a timer's goroutine
		writes := func() int { return int(n.Load()) }
		p := padState{write: func(path string, data []byte, perm fs.FileMode) error {
			n.Add(1)
			return os.WriteFile(path, data, perm)
		}}
		require.NoError(t, p.open(path, time.Now(), 3, rtPer))
		now := time.Now()
		for i := range 500 {
			_, _, _, err := p.peer(lockoutKey(fmt.Sprint("sub-", i)), now.Add(-time.Second), now, 3, rtPer)
			require.NoError(t, err)
		}
		require.Equal(t, 1, writes(), "the first at once, the rest deferred")
		time.Sleep(peerSaveEvery)
		synctest.Wait()
		require.Equal(t, 2, writes())
		require.Len(t, readLockout(t, path), 500)

		_, _, _, err := p.peer(lockoutKey("late"), now, time.Now(), 3, rtPer)
		require.NoError(t, err)
		require.Equal(t, 2, writes(), "deferred again")
		_, err = p.fail("own", time.Now(), 3, rtPer)
		require.NoError(t, err)
		require.Equal(t, 3, writes(), "this gate's own failure: at once, with the peer's")
		m := readLockout(t, path)
		require.Contains(t, m, lockoutKey("late"))
		time.Sleep(peerSaveEvery)
		synctest.Wait()
		require.Equal(t, 3, writes(), "nothing left to save")
	})
}

// A peer's failure waiting for its deferred save is written when the
// kiosk stops, and one that arrives after it (the broker may still
// deliver the site's events) at once.
func TestPeerFailuresSavedWhenTheKioskStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		east := peerFailures(t, "east", record.PrivacyHash, worker, 3)
		cfg := lockoutConfig(t)
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		stop := r.start(t)
		saved := func() int { return len(readLockout(t, lockoutPath(cfg))[lockoutKey(worker.SubmissionID)]) }
		require.True(t, r.k.PeerEvent(east[0]))
		require.True(t, r.k.PeerEvent(east[1]))
		require.Equal(t, 1, saved(), "the second is deferred")
		require.NoError(t, stop())
		require.Equal(t, 2, saved(), "saved when the kiosk stopped")
		require.True(t, r.k.PeerEvent(east[2]))
		require.Equal(t, 3, saved(), "after the stop: at once")
	})
}

// Two gates' failures of one identity stamped in the same millisecond
// count twice; each delivered again counts no more.
func TestPeerFailuresInOneMillisecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		east := peerFailures(t, "east", record.PrivacyPlain, worker, 1)[0]
		west := east
		west.Gate, west.EventID = "west", "west-1"
		r := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail})
		for _, ev := range []record.Event{east, west, east, west} {
			r.k.PeerEvent(ev)
		}
		require.Len(t, r.k.pad.fails[lockoutKey(worker.SubmissionID)], 2)
	})
}
