//go:build go1.25

package kiosk

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// listOf decodes a failure list for a test.
func listOf(t *testing.T, b []byte) failureList {
	t.Helper()
	l, _, err := parseFailureList(b)
	require.NoError(t, err, "%s", b)
	return l
}

// TestFailureListCarriesTheEventsStamps: a gate's list holds the failures
// it counted, hashed and stamped exactly as its decision events were, is
// published again after each, and an unlock takes them out of it.
func TestFailureListCarriesTheEventsStamps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := unlockConfig(t)
		cfg.Policy.LivenessLockout.Max = 100
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail, delay: time.Second})
		site := &fakeLockoutSite{}
		r.k.deps.LockoutSite = site
		stop := r.start(t)
		defer stop()
		for i := 1; i <= 2; i++ {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		evs := r.events()
		require.Len(t, evs, 2)
		key := lockoutKey(worker.SubmissionID)
		l := listOf(t, r.k.LockoutList())
		require.Equal(t, failureList{Format: failureListFormat, Version: 1, Site: "site", Gate: "gate",
			Failures: map[string][]string{key: {evs[0].TS, evs[1].TS}}}, l)
		require.NotContains(t, string(r.k.LockoutList()), worker.SubmissionID, "hashed ids only")
		require.EqualValues(t, 2, site.changed.Load(), "published again after each failure")

		// Kept across a restart (the file), and the same bytes each time.
		time.Sleep(peerSaveEvery) // the stamp's deferred save
		synctest.Wait()
		before := r.k.LockoutList()
		var p padState
		require.NoError(t, p.open(lockoutPath(cfg), time.Now(), 100, cfg.Policy.LivenessLockout.Per))
		require.Equal(t, map[string][]time.Time{key: p.stamped[key]}, p.stampedList(time.Now(), cfg.Policy.LivenessLockout.Per))
		require.Len(t, p.stamped[key], 2)
		require.Equal(t, before, r.k.LockoutList())

		// Another gate's unlock made between the two failures (by its
		// second) takes the first out.
		first, err := time.Parse(time.RFC3339Nano, evs[0].TS)
		require.NoError(t, err)
		require.Equal(t, 1, func() int {
			u, _ := r.k.SiteUnlock(SiteUnlock{Key: key, Issued: first, Received: time.Now(), By: "ops"})
			return u.Cleared
		}())
		require.Equal(t, []string{evs[1].TS}, listOf(t, r.k.LockoutList()).Failures[key])
		a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
		require.Equal(t, 1, a.Cleared)
		require.Empty(t, listOf(t, r.k.LockoutList()).Failures, "an unlock takes the failures out of the list")
		require.EqualValues(t, 5, site.changed.Load(), "and after each unlock (this gate's twice: its unlock list changed too)")

		// Past the horizon a failure leaves the list.
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		r.identify(t, worker, 3)
		require.Len(t, listOf(t, r.k.LockoutList()).Failures[key], 1)
		time.Sleep(2 * cfg.Policy.LivenessLockout.Per)
		require.Empty(t, listOf(t, r.k.LockoutList()).Failures)

		cfg.Policy.LivenessLockout.Max = 0
		off := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		require.Nil(t, off.k.LockoutList(), "no list while the lockout is off")
	})
}

// TestPeerFailuresLearnTheMissedFailures: a gate that missed east's
// events learns its failures from east's list, once, as the events
// would have counted them: the identity is locked out here, and the
// events delivered afterwards add nothing.
func TestPeerFailuresLearnTheMissedFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		east, list := peerFailuresAndList(t, "east", record.PrivacyHash, worker, 3)
		require.Len(t, east, 3)
		cfg := lockoutConfig(t)
		lc := &fakeLiveness{res: padFail}
		r := livenessRig(t, cfg, lc)
		stop := r.start(t)
		defer stop()
		n, err := r.k.PeerFailures("east", list)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		n, err = r.k.PeerFailures("east", list)
		require.NoError(t, err)
		require.Zero(t, n, "a list delivered again adds nothing")
		for _, ev := range east {
			require.False(t, r.k.PeerEvent(ev), "the event of a failure learnt from the list")
		}
		time.Sleep(peerSaveEvery) // the deferred save
		synctest.Wait()
		require.Len(t, readLockout(t, lockoutPath(cfg))[lockoutKey(worker.SubmissionID)], 3, "saved")
		require.Contains(t, scrape(t, r.k), "facegate_liveness_site_failures_total 3\n")

		r.identify(t, worker, 1)
		require.Equal(t, []string{ReasonLivenessLocked}, r.events()[0].Reason)
		require.Empty(t, lc.reqs, "locked out without a check")
		n, err = r.k.PeerFailures("gate", list)
		require.NoError(t, err)
		require.Zero(t, n, "this gate's own list")
	})
}

// TestPeerFailuresRefused: what a list adds, one change at a time from a
// real list of gate east with two failures.
func TestPeerFailuresRefused(t *testing.T) {
	ts := func(d time.Duration) string { return record.Timestamp(time.Now().Add(d)) }
	key := lockoutKey(worker.SubmissionID)
	tests := []struct {
		name   string
		gate   string
		change func(l *failureList)
		added  int
		err    string
	}{
		{"east's list", "east", func(*failureList) {}, 2, ""},
		{"on another gate's topic", "west", func(*failureList) {}, 0, `of site "site" gate "east"`},
		{"of another site", "east", func(l *failureList) { l.Site = "other" }, 0, `of site "other"`},
		{"a stamp 50 s ahead", "east", func(l *failureList) { l.Failures[key] = []string{ts(50 * time.Second)} }, 1, ""},
		{"a stamp 70 s ahead", "east", func(l *failureList) { l.Failures[key] = []string{ts(70 * time.Second)} }, 0, ""},
		{"a stamp 20 min 1 s ago", "east", func(l *failureList) { l.Failures[key] = []string{ts(-20*time.Minute - time.Second)} }, 0, ""},
		{"a stamp 19 min ago", "east", func(l *failureList) { l.Failures[key] = []string{ts(-19 * time.Minute)} }, 1, ""},
		{"a key that is not a hash", "east", func(l *failureList) { l.Failures["beef"] = []string{ts(0)} }, 0, `key "beef" is not a sha256`},
		{"a bad stamp", "east", func(l *failureList) { l.Failures[key] = []string{"yesterday"} }, 0, `stamp "yesterday"`},
		{"no stamps", "east", func(l *failureList) { l.Failures[key] = []string{} }, 0, "want 1 or more"},
		{"another format", "east", func(l *failureList) { l.Format = "facegate-liveness-lockout" }, 0, "want \"facegate-liveness-failures\" version 1"},
		{"version 2", "east", func(l *failureList) { l.Version = 2 }, 0, "version 2"},
		{"no gate", "east", func(l *failureList) { l.Gate = "" }, 0, "site and gate must be 1..128 bytes"},
		{"a key in capitals", "east", func(l *failureList) {
			l.Failures[strings.ToUpper(key)] = l.Failures[key]
			delete(l.Failures, key)
		}, 0, "lower-case hex"},
		{"a stamp in another zone", "east", func(l *failureList) {
			at, _ := time.Parse(time.RFC3339Nano, l.Failures[key][0])
			l.Failures[key][0] = at.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000Z07:00")
		}, 0, "is not a UTC time to the millisecond"},
		{"a stamp finer than the millisecond", "east", func(l *failureList) {
			l.Failures[key][0] = strings.Replace(l.Failures[key][0], "Z", "001Z", 1)
		}, 0, "is not a UTC time to the millisecond"},
		{"stamps out of order", "east", func(l *failureList) { slices.Reverse(l.Failures[key]) }, 0, "is not after the one before it"},
		{"a stamp twice", "east", func(l *failureList) { l.Failures[key][1] = l.Failures[key][0] }, 0, "is not after the one before it"},
		{"no failures object", "east", func(l *failureList) { l.Failures = nil }, 0, "no failures object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, list := peerFailuresAndList(t, "east", record.PrivacyHash, worker, 2)
				l := listOf(t, list)
				tc.change(&l)
				b, err := json.Marshal(l)
				require.NoError(t, err)
				r := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail})
				n, err := r.k.PeerFailures(tc.gate, b)
				if tc.err != "" {
					require.ErrorContains(t, err, tc.err)
					require.ErrorContains(t, err, `gate "`+tc.gate+`"`, "the error names the topic's gate")
				} else {
					require.NoError(t, err)
				}
				require.Equal(t, tc.added, n)
			})
		})
	}
	t.Run("too many stamps", func(t *testing.T) {
		l := failureList{Format: failureListFormat, Version: 1, Site: "site", Gate: "east", Failures: map[string][]string{}}
		for i := range maxFailureListTimes/maxLockoutTimes + 1 {
			k := lockoutKey(strings.Repeat("x", i+1))
			for j := range maxLockoutTimes {
				l.Failures[k] = append(l.Failures[k], record.Timestamp(time.Now().Add(time.Duration(j)*time.Second)))
			}
		}
		b, err := json.Marshal(l)
		require.NoError(t, err)
		_, _, err = parseFailureList(b)
		require.ErrorContains(t, err, "at most 10000 in all")
	})
	t.Run("too many bytes", func(t *testing.T) {
		b := []byte(`{"format":"facegate-liveness-failures","version":1,"site":"site","gate":"` + strings.Repeat("g", maxFailureListBytes) + `","failures":{}}`)
		_, _, err := parseFailureList(b)
		require.ErrorContains(t, err, "want at most 2097152")
	})
	t.Run("trailing data and unknown fields", func(t *testing.T) {
		for _, b := range []string{
			`{"format":"facegate-liveness-failures","version":1,"site":"s","gate":"g","failures":{}} {}`,
			`{"format":"facegate-liveness-failures","version":1,"site":"s","gate":"g","failures":{},"extra":1}`,
		} {
			_, _, err := parseFailureList([]byte(b))
			require.Error(t, err, b)
		}
	})
}

// TestPeerFailuresAfterAnUnlock: failures an unlock here cleared do not
// come back from a list that still holds them (a gate that missed the
// unlock); a failure after it does count.
func TestPeerFailuresAfterAnUnlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, list := peerFailuresAndList(t, "east", record.PrivacyHash, worker, 3)
		cfg := unlockConfig(t)
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		n, err := r.k.PeerFailures("east", list)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		time.Sleep(time.Second)
		a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
		require.True(t, a.WasLocked)
		n, err = r.k.PeerFailures("east", list)
		require.NoError(t, err)
		require.Zero(t, n, "cleared by the unlock")
		time.Sleep(2 * time.Second)
		l := listOf(t, list)
		key := lockoutKey(worker.SubmissionID)
		l.Failures[key] = append(l.Failures[key], record.Timestamp(time.Now()))
		b, err := json.Marshal(l)
		require.NoError(t, err)
		n, err = r.k.PeerFailures("east", b)
		require.NoError(t, err)
		require.Equal(t, 1, n, "a failure after the unlock")
	})
}

func FuzzParseFailureList(f *testing.F) {
	f.Add([]byte(`{"format":"facegate-liveness-failures","version":1,"site":"s","gate":"g","failures":{}}`))
	f.Add([]byte(`{"format":"facegate-liveness-failures","version":1,"site":"s","gate":"g","failures":{"` +
		strings.Repeat("ab", 32) + `":["2026-12-06T20:00:00.123Z","2026-12-06T20:01:00Z"]}}`))
	f.Add([]byte(`{"format":"facegate-liveness-failures","version":1,"site":"s","gate":"g","failures":{"beef":["x"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, times, err := parseFailureList(b)
		if err != nil {
			return
		}
		n := 0
		for k, ss := range l.Failures {
			if !validPassbackKey(k) || len(ss) == 0 || len(times[k]) != len(ss) {
				t.Fatalf("accepted a bad entry %q: %q", k, ss)
			}
			n += len(ss)
		}
		if n > maxFailureListTimes || l.Site == "" || l.Gate == "" {
			t.Fatalf("accepted %d stamps, site %q gate %q", n, l.Site, l.Gate)
		}
	})
}

// fullMemory is a padState holding maxLockoutIdentities identities only
// peers reported, with the 6 failures max 3 keeps, the newest at now.
func fullMemory(now time.Time) *padState {
	var p padState
	var fs []peerFailure
	for i := range maxLockoutIdentities {
		for j := range 6 {
			fs = append(fs, peerFailure{lockoutKey(fmt.Sprint("west-", i)), now.Add(-time.Duration(i+j+1) * time.Millisecond)})
		}
	}
	_, _, _, _ = p.peers(fs, now, 3, rtPer)
	return &p
}

// BenchmarkPeerFailuresFullList: a peer's list of maxFailureListTimes
// failures of new identities taken into a full memory (each crowds out
// one), and the same list delivered again (the next resync). Both were
// about 9 s before the list was added under one lock.
func BenchmarkPeerFailuresFullList(b *testing.B) {
	now := rtT0.Add(time.Hour)
	var fs []peerFailure
	for i := range maxFailureListTimes {
		fs = append(fs, peerFailure{lockoutKey(fmt.Sprint("east-", i)), now})
	}
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			p := fullMemory(now)
			b.StartTimer()
			n, _, _, _ := p.peers(fs, now, 3, rtPer)
			if n != len(fs) {
				b.Fatalf("%d added", n)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		p := fullMemory(now)
		_, _, _, _ = p.peers(fs, now, 3, rtPer)
		for b.Loop() {
			if n, _, _, _ := p.peers(fs, now, 3, rtPer); n != 0 {
				b.Fatalf("%d added again", n)
			}
		}
	})
}

// TestBoundManyForgetsAsOneByOne: forgetting many identities at once
// (a peer's list) forgets the same ones as forgetting them one at a time
// (an event each): the peers' oldest first, this gate's never while there
// are others.
func TestBoundManyForgetsAsOneByOne(t *testing.T) {
	now := rtT0.Add(time.Hour)
	build := func() *padState {
		p := fullMemory(now)
		for i := range 50 {
			k := lockoutKey(fmt.Sprint("own-", i))
			p.fails[k] = []time.Time{now.Add(-time.Duration(100000+i) * time.Millisecond)} // older than every peer's
			p.own[k] = p.fails[k][0]
		}
		for i := range 30 {
			k := lockoutKey(fmt.Sprint("tie-", i))
			p.fails[k] = []time.Time{now.Add(-time.Duration(5000) * time.Millisecond)} // ties: by key
		}
		p.fails[lockoutKey("ahead")] = []time.Time{now.Add(time.Minute)} // counts as now
		return p
	}
	many, oneByOne := build(), build()
	many.bound(now, 3, rtPer)
	for len(oneByOne.fails) > maxLockoutIdentities {
		victim, ok := oneByOne.oldestPeerOnly(now)
		require.True(t, ok)
		oneByOne.forget(victim)
	}
	require.Len(t, many.fails, maxLockoutIdentities)
	require.Equal(t, slices.Sorted(maps.Keys(oneByOne.fails)), slices.Sorted(maps.Keys(many.fails)))
	require.Len(t, many.own, 50, "this gate's own failures are kept")
}

// TestStampAfterAnUnlock: an unlock that lands between a failure and its
// event (the event stamped within the unlocked second) leaves that
// failure out of the list: a gate that joins later does not lock the
// unlocked identity again.
func TestStampAfterAnUnlock(t *testing.T) {
	per := 10 * time.Minute
	var p padState
	key := lockoutKey(worker.SubmissionID)
	now := time.Now().Truncate(time.Second).Add(100 * time.Millisecond)
	_, err := p.fail(worker.SubmissionID, now, 1, per)
	require.NoError(t, err)
	_, was, err := p.unlock(key, unlockEnd(now), now.Add(time.Millisecond), 1, per)
	require.NoError(t, err)
	require.True(t, was)
	require.NoError(t, p.stamp(key, now.Add(2*time.Millisecond), now.Add(2*time.Millisecond), 1, per))
	require.Empty(t, p.stampedList(now.Add(3*time.Millisecond), per), "the cleared failure is not in the list")
	require.NoError(t, p.stamp(key, now.Add(time.Second), now.Add(time.Second), 1, per))
	require.Len(t, p.stampedList(now.Add(time.Second), per)[key], 1, "a failure after the unlock is")
}

// TestReloadRepublishesTheFailureList: a reload that changes the lockout
// (max 0 turns the list off) has the list published again; one that does
// not change it does not.
func TestReloadRepublishesTheFailureList(t *testing.T) {
	cfg := lockoutConfig(t)
	r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
	site := &fakeLockoutSite{}
	r.k.deps.LockoutSite = site
	require.NoError(t, r.k.Reload(*cfg))
	require.Zero(t, site.changed.Load(), "the same lockout")
	off := *cfg
	off.Policy.LivenessLockout.Max = 0
	require.NoError(t, r.k.Reload(off))
	require.EqualValues(t, 1, site.changed.Load())
	require.Nil(t, r.k.LockoutList())
}

// TestPeerFailuresAlertNamesTheUser: a list whose failures, older than
// this gate's own newest, lock the identity here alerts here, naming the
// roster's user (a list carries no user id); without a roster entry the
// hash's first digits, and nothing of it with privacy omit.
func TestPeerFailuresAlertNamesTheUser(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		privacy  record.Privacy
		want     string
	}{
		{"in the roster", worker.SubmissionID, record.PrivacyHash, "(user u-1)"},
		{"not in it", "sub-stranger", record.PrivacyHash, "(user sha256:" + lockoutKey("sub-stranger")[:12] + "…)"},
		{"not in it, privacy omit", "sub-stranger", record.PrivacyOmit, "(user not in the roster)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := unlockConfig(t)
				cfg.Privacy = tc.privacy
				r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
				key := lockoutKey(tc.id)
				b, err := json.Marshal(failureList{Format: failureListFormat, Version: 1, Site: "site", Gate: "east",
					Failures: map[string][]string{key: {record.Timestamp(time.Now().Add(-2 * time.Second)), record.Timestamp(time.Now().Add(-time.Second))}}})
				require.NoError(t, err)
				_, err = r.k.pad.fail(tc.id, time.Now(), 3, cfg.Policy.LivenessLockout.Per)
				require.NoError(t, err)
				n, err := r.k.PeerFailures("east", b)
				require.NoError(t, err)
				require.Equal(t, 2, n)
				require.Equal(t, 1, countAlerts(r, AlertLivenessLockout))
				var msg string
				_, _, alerts := r.pub.snapshot()
				for _, a := range alerts {
					if a.Code == AlertLivenessLockout {
						msg = a.Message
					}
				}
				require.Contains(t, msg, tc.want)
			})
		})
	}
}

// TestFailureListKeepsTheNewest: a gate with more stamps than a list
// may hold publishes the newest maxFailureListTimes.
func TestFailureListKeepsTheNewest(t *testing.T) {
	r := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail})
	now := time.Now()
	r.k.pad.mu.Lock()
	r.k.pad.stamped = map[string][]time.Time{}
	for i := range maxFailureListTimes + 1 {
		r.k.pad.stamped[lockoutKey(fmt.Sprint("sub-", i))] = []time.Time{now.Add(-time.Duration(i) * time.Millisecond)}
	}
	r.k.pad.mu.Unlock()
	l := listOf(t, r.k.LockoutList())
	require.Len(t, l.Failures, maxFailureListTimes)
	require.NotContains(t, l.Failures, lockoutKey(fmt.Sprint("sub-", maxFailureListTimes)), "the oldest is left out")
	require.Contains(t, l.Failures, lockoutKey("sub-0"))
}
