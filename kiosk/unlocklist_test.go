package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// unlockAuditLines are the audit log's unlock lines.
func unlockAuditLines(t *testing.T, cfg *Options) []unlockRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "audit", auditName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out []unlockRecord
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var u unlockRecord
		if json.Unmarshal([]byte(l), &u) == nil && u.Kind == AuditKindUnlock {
			out = append(out, u)
		}
	}
	return out
}

// failHere counts n failures of worker at this gate, a second apart, by
// the kiosk's clock (as a session does: the failure, then its event's
// stamp).
func failHere(t *testing.T, r *rig, n int) {
	t.Helper()
	per := r.cfg.Policy.LivenessLockout.Per
	for range n {
		now := r.k.now()
		_, err := r.k.pad.fail(worker.SubmissionID, now, 3, per)
		require.NoError(t, err)
		require.NoError(t, r.k.pad.stamp(lockoutKey(worker.SubmissionID), now, now, 3, per))
		time.Sleep(time.Second)
	}
}

// TestListedUnlockClearsWhatItsSenderCleared: a gate that missed another
// gate's unlock applies it from that gate's list, up to 30 s before its
// second, and leaves the failures stamped after that and ahead of the
// clock; once per nonce, whichever way it came first, across a restart;
// not when issued twice per or longer ago, nor far ahead of the clock.
func TestListedUnlockClearsWhatItsSenderCleared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(300 * time.Millisecond) // not on a whole second
		cfg := unlockConfig(t)
		per := cfg.Policy.LivenessLockout.Per
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		key := lockoutKey(worker.SubmissionID)
		peer := func(at time.Time) {
			t.Helper()
			added, _, _, err := r.k.pad.peer(key, at, time.Now(), 3, per)
			require.NoError(t, err)
			require.True(t, added)
		}
		t0 := time.Now()
		peer(t0.Add(-2 * time.Minute))
		peer(t0.Add(-time.Minute))
		peer(t0.Add(-30 * time.Second))
		peer(t0.Add(30 * time.Second)) // a peer with a fast clock
		require.True(t, r.k.pad.locked(worker.SubmissionID, time.Now(), 3, per))
		issued := time.Unix(t0.Add(-15*time.Second).Unix(), 0)
		u, applied := r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000001", By: "ops", Reason: "seen", Issued: issued, Received: time.Now(), Listed: true})
		require.True(t, applied)
		require.Equal(t, Unlocked{WasLocked: true, Cleared: 2}, u, "up to 30 s before its second")
		time.Sleep(peerSaveEvery) // saved as a peer's failure is
		synctest.Wait()
		left := readLockout(t, lockoutPath(cfg))[key]
		require.Len(t, left, 2, "the failure of its last 30 s and the one ahead stay: %v", left)
		lines := unlockAuditLines(t, cfg)
		require.Len(t, lines, 1)
		require.Equal(t, unlockSiteList, lines[0].Source)
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="site_list"} 1`)

		// Again at the next resync, and after a restart: nothing.
		added, _, _, err := r.k.pad.peer(key, t0.Add(-50*time.Second), time.Now(), 3, per)
		require.NoError(t, err)
		require.False(t, added, "a failure it cleared, late")
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000001", Issued: issued, Received: time.Now(), Listed: true})
		require.False(t, applied, "the same unlock again")
		var p padState
		require.NoError(t, p.open(lockoutPath(cfg), time.Now(), 3, per))
		_, _, applied, err = p.unlockWith(unlockArgs{key: key, upTo: unlockEnd(issued), nonce: "nonce-listed-000001", listed: true}, time.Now(), 3, per)
		require.NoError(t, err)
		require.False(t, applied, "after a restart")
		require.Len(t, unlockAuditLines(t, cfg), 1)

		// The live command of a sender whose clock is 25 s fast cleared up
		// to its arrival here; its listed copy, later, must not clear the
		// failure heard between the arrival and the signed second.
		key2 := lockoutKey("sub-ana-2")
		arrival := time.Now()
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key2, Nonce: "nonce-live-0000001", Issued: arrival.Add(25 * time.Second), Received: arrival})
		require.True(t, applied)
		time.Sleep(5 * time.Second)
		_, _, _, err = r.k.pad.peer(key2, time.Now(), time.Now(), 3, per)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key2, Nonce: "nonce-live-0000001", Issued: arrival.Add(25 * time.Second), Received: time.Now(), Listed: true})
		require.False(t, applied, "the listed copy of a command applied live")
		require.Len(t, readLockout(t, lockoutPath(cfg))[key2], 1, "the failure after its arrival counts")
		// And the other way round: listed first, then live (a session
		// queued it).
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key2, Nonce: "nonce-both-0000001", Issued: time.Now(), Received: time.Now(), Listed: true})
		require.True(t, applied)
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key2, Nonce: "nonce-both-0000001", Issued: time.Now(), Received: time.Now()})
		require.False(t, applied)

		// Issued the horizon ago: every failure it clears is past it.
		peer(time.Now().Add(-time.Second))
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000002", Issued: time.Now().Add(-lockoutHorizon(per)), Received: time.Now(), Listed: true})
		require.False(t, applied, "issued twice per ago")
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000003", Issued: time.Now().Add(2 * time.Minute), Received: time.Now(), Listed: true})
		require.False(t, applied, "issued two minutes ahead of the clock")
		require.Len(t, unlockAuditLines(t, cfg), 3)
	})
}

// listedRig is a kiosk with the lockout and kiosk.open on, started off a
// whole second.
func listedRig(t *testing.T) (*rig, *Options, time.Duration) {
	time.Sleep(300 * time.Millisecond)
	cfg := unlockConfig(t)
	return livenessRig(t, cfg, &fakeLiveness{res: padFail}), cfg, cfg.Policy.LivenessLockout.Per
}

// TestListedUnlockKeepsTheFailuresAfterIt: the failures this gate counted
// after the operator's unlock stay, whatever its copy's way here: read
// late by a gate whose clock is 20 s behind the sender's; applied again
// after a clock step back (its nonce is kept by count, not time); this
// gate's own unlock coming back in a list (its nonce is kept too).
func TestListedUnlockKeepsTheFailuresAfterIt(t *testing.T) {
	t.Run("a reader 20 s behind", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, _, per := listedRig(t)
			r.k.now = func() time.Time { return time.Now().Add(-20 * time.Second) }
			signed := time.Unix(time.Now().Unix(), 0) // the sender's clock, right
			failHere(t, r, 3)                         // after the unlock, which this gate missed
			time.Sleep(20 * time.Second)              // the next resync
			_, applied := r.k.SiteUnlock(SiteUnlock{Key: lockoutKey(worker.SubmissionID), Nonce: "nonce-r1-0000001", Issued: signed, Received: r.k.now(), Listed: true})
			require.True(t, applied)
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per), "failures after the unlock were cleared")
		})
	})
	t.Run("a clock stepped back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, _, per := listedRig(t)
			key := lockoutKey(worker.SubmissionID)
			t0 := time.Now()
			signed := time.Unix(t0.Unix(), 0)
			_, applied := r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-r2-0000001", Issued: signed, Received: t0})
			require.True(t, applied, "live")
			r.k.now = func() time.Time { return time.Now().Add(-5 * time.Minute) }
			time.Sleep(time.Second)
			failHere(t, r, 3) // forgets the unlock's mark, five minutes ahead
			time.Sleep(4*time.Minute + 10*time.Second)
			_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-r2-0000001", Issued: signed, Received: r.k.now(), Listed: true})
			require.False(t, applied, "applied live already")
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per))
		})
	})
	t.Run("its own unlock", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, cfg, per := listedRig(t)
			r.k.deps.LockoutSite = &fakeLockoutSite{}
			key := lockoutKey(worker.SubmissionID)
			issued := time.Unix(time.Now().Unix(), 0)
			require.True(t, readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1","by":"ops"}`)).Listed)
			r.k.now = func() time.Time { return time.Now().Add(-40 * time.Second) }
			time.Sleep(time.Second)
			failHere(t, r, 3)
			// Its own list, copied to another gate's topic.
			_, applied := r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: fakeNonce(key, issued), Issued: issued, Received: r.k.now(), Listed: true})
			require.False(t, applied)
			require.Len(t, unlockAuditLines(t, cfg), 1)
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per))
		})
	})
	t.Run("a reader 45 s behind, reading 17 s after", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, _, per := listedRig(t)
			r.k.now = func() time.Time { return time.Now().Add(-45 * time.Second) }
			signed := time.Unix(time.Now().Unix(), 0)
			failHere(t, r, 3)
			time.Sleep(14 * time.Second)
			_, applied := r.k.SiteUnlock(SiteUnlock{Key: lockoutKey(worker.SubmissionID), Nonce: "nonce-r7-0000001", Issued: signed, Received: r.k.now(), Listed: true})
			require.True(t, applied, "28 s ahead: within the margin")
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per), "cleared up to 30 s before its clock, not before the unlock's second")
		})
	})
	t.Run("an unlock far ahead, never", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, cfg, per := listedRig(t)
			u := SiteUnlock{Key: lockoutKey(worker.SubmissionID), Nonce: "nonce-ahead-000001",
				Issued: time.Unix(time.Now().Add(5*time.Minute).Unix(), 0), Received: time.Now(), Listed: true}
			_, applied := r.k.SiteUnlock(u)
			require.False(t, applied)
			time.Sleep(time.Minute)
			for range 3 {
				failHere(t, r, 1)
				time.Sleep(time.Minute)
			}
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per))
			time.Sleep(70 * time.Second) // a later resync, past the unlock's second
			u.Received = time.Now()
			_, applied = r.k.SiteUnlock(u)
			require.False(t, applied, "refused for good")
			require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per), "failures counted after the first read were cleared")
			require.Empty(t, unlockAuditLines(t, cfg))
		})
	})
	t.Run("its own stamps ahead stay", func(t *testing.T) {
		var p padState
		now := rtT0.Add(time.Hour)
		key := lockoutKey(worker.SubmissionID)
		_, err := p.fail(worker.SubmissionID, now.Add(2*time.Minute), 3, rtPer) // before a clock step back
		require.NoError(t, err)
		require.NoError(t, p.stamp(key, now.Add(2*time.Minute), now.Add(2*time.Minute), 3, rtPer))
		_, _, applied, err := p.unlockWith(unlockArgs{key: key, upTo: now, nonce: "nonce-stamp-00001", listed: true}, now, 3, rtPer)
		require.NoError(t, err)
		require.True(t, applied)
		require.Len(t, p.stamped[key], 1, "a listed unlock leaves the stamps ahead of the clock")
		_, _, _, err = p.unlockWith(unlockArgs{key: key, upTo: now, nonce: "nonce-stamp-00002"}, now, 3, rtPer)
		require.NoError(t, err)
		require.Empty(t, p.stamped[key], "a live one clears them, as the failures")
	})
	t.Run("saved as a peer's failure is", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p padState
			p.path = filepath.Join(t.TempDir(), lockoutFileName)
			writes := 0
			p.write = func(string, []byte, os.FileMode) error { writes++; return nil }
			for i := range 50 {
				_, _, _, err := p.unlockWith(unlockArgs{key: lockoutKey(itoa(int64(i))), upTo: time.Now(), nonce: fmt.Sprintf("nonce-%016d", i), listed: true}, time.Now(), 3, rtPer)
				require.NoError(t, err)
			}
			time.Sleep(peerSaveEvery)
			synctest.Wait()
			require.LessOrEqual(t, writes, 2, "one write for the lot, not one each")
		})
	})
	t.Run("the nonces by count", func(t *testing.T) {
		var p padState
		for i := range maxAppliedNonces + 2 {
			p.addApplied(fmt.Sprintf("nonce-%016d", i))
		}
		require.Len(t, p.applied, maxAppliedNonces)
		require.False(t, p.appliedSet["nonce-0000000000000001"], "the oldest go")
		require.True(t, p.appliedSet[fmt.Sprintf("nonce-%016d", maxAppliedNonces+1)])
	})
}

// TestListedUnlockWithinTheHorizon: a failure counts towards a lockout
// until twice per, so an unlock issued more than per ago still lifts one.
func TestListedUnlockWithinTheHorizon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(300 * time.Millisecond)
		cfg := unlockConfig(t) // max 3, per 10m
		per := cfg.Policy.LivenessLockout.Per
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		failHere(t, r, 2) // t0, t0+1s
		time.Sleep(30 * time.Second)
		signed := time.Unix(time.Now().Unix(), 0) // t0+32s: the unlock elsewhere, missed here
		time.Sleep(9*time.Minute + 18*time.Second)
		failHere(t, r, 1) // t0+9m50s: 3 within per, locked until t0+19m50s
		require.True(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per))
		time.Sleep(43 * time.Second) // t0+10m34s: the unlock is more than per old
		_, applied := r.k.SiteUnlock(SiteUnlock{Key: lockoutKey(worker.SubmissionID), Nonce: "nonce-r4-0000001", Issued: signed, Received: r.k.now(), Listed: true})
		require.True(t, applied)
		require.False(t, r.k.pad.locked(worker.SubmissionID, r.k.now(), 3, per), "the sender does not lock the worker out; nor does this gate")
	})
}

// TestUnlockListKeepsTheSignedUnlock: an HTTP unlock keeps the signed
// command for the unlock list (the newer of a key), also when it could
// not be sent, across a restart, for twice per; none with the lockout
// off, ids omitted, or nothing signed; one per key of a user; at most
// maxSharedUnlocks, the newest; and says when a later one of the key is
// there (the clock stepped back).
func TestUnlockListKeepsTheSignedUnlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := unlockConfig(t)
		per := cfg.Policy.LivenessLockout.Per
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		site := &fakeLockoutSite{}
		r.k.deps.LockoutSite = site
		key := lockoutKey(worker.SubmissionID)
		a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1","by":"ops"}`))
		require.True(t, a.Broadcast && a.Listed)
		first := "signed " + key + " " + itoa(time.Now().Unix())
		require.Equal(t, [][]byte{[]byte(first)}, r.k.SharedUnlocks())
		changed := site.changed.Load()

		time.Sleep(3 * time.Second)
		site.err, site.signWhenFailing = errors.New("not connected"), true
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1","by":"ops"}`))
		require.False(t, a.Broadcast)
		require.True(t, a.Listed)
		require.Contains(t, a.Detail, "not sent to the other gates now (not connected): they learn it from this gate's unlock list")
		second := "signed " + key + " " + itoa(time.Now().Unix())
		require.Equal(t, [][]byte{[]byte(second)}, r.k.SharedUnlocks(), "the newer replaces the older")
		require.Greater(t, site.changed.Load(), changed, "the list is published again")

		site.signWhenFailing = false
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"submission_id":"sub-ana-2"}`))
		require.False(t, a.Broadcast || a.Listed)
		require.Contains(t, a.Detail, "unlock at each gate that counted a failure")
		require.Len(t, r.k.SharedUnlocks(), 1)

		site.err = nil
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"user_id":"u-1"}`))
		require.True(t, a.Broadcast && a.Listed)
		require.Len(t, r.k.SharedUnlocks(), 2, "one per submission id of the user")

		// The clock stepped back 30 s: the list keeps the later unlock.
		r.k.now = func() time.Time { return time.Now().Add(-30 * time.Second) }
		time.Sleep(time.Second)
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
		require.False(t, a.Listed)
		require.Contains(t, a.Detail, "it holds later unlocks (this identity's, issued after this one")
		r.k.now = time.Now

		var p padState
		require.NoError(t, p.open(lockoutPath(cfg), time.Now(), 3, per))
		require.Len(t, p.sharedList(time.Now(), per), 2, "kept across a restart")
		// Signed before a clock step back: dropped from the list.
		require.Len(t, p.sharedList(time.Now().Add(-25*time.Second), per), 2)
		require.Empty(t, p.sharedList(time.Now().Add(-45*time.Second), per), "unlocks more than 30 s ahead of the clock")
		require.NoError(t, p.open(lockoutPath(cfg), time.Now(), 3, per))
		time.Sleep(per)
		require.Len(t, r.k.SharedUnlocks(), 2, "kept for twice per")
		time.Sleep(per)
		require.Empty(t, r.k.SharedUnlocks(), "gone after twice per")

		// Bounded: the newest.
		for i := range maxSharedUnlocks + 10 {
			listed, err := p.share(lockoutKey("sub-"+itoa(int64(i))), time.Now().Add(time.Duration(i)*time.Millisecond), SignedUnlock{Nonce: "n" + itoa(int64(i)), Cmd: []byte("c" + itoa(int64(i)))}, true, time.Now(), per)
			require.NoError(t, err)
			require.True(t, listed)
		}
		l := p.sharedList(time.Now(), per)
		require.Len(t, l, maxSharedUnlocks)
		require.Equal(t, "c10", string(l[0]))
		listed, err := p.share(lockoutKey("sub-300"), time.Now().Add(-time.Second), SignedUnlock{Nonce: "older", Cmd: []byte("older")}, true, time.Now(), per)
		require.NoError(t, err)
		require.False(t, listed, "the oldest is not kept over newer ones")
		require.NotContains(t, p.sharedList(time.Now(), per), []byte("older"))
	})
	t.Run("a failed save", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			for _, omit := range []bool{false, true} {
				cfg := unlockConfig(t)
				if omit {
					cfg.Privacy = record.PrivacyOmit
				}
				r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
				r.k.deps.LockoutSite = &fakeLockoutSite{}
				writes := 0
				r.k.pad.mu.Lock()
				r.k.pad.write = func(path string, b []byte, m os.FileMode) error {
					if writes++; writes == 2 { // the unlock list's
						return errors.New("disk full")
					}
					return os.WriteFile(path, b, m)
				}
				r.k.pad.mu.Unlock()
				a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
				require.Equal(t, !omit, a.Listed)
				if omit {
					require.NotContains(t, a.Detail, "unlock list", "nothing was listed")
				} else {
					require.Contains(t, a.Detail, "kept in the unlock list but not saved (")
				}
			}
		})
	})
	for name, tune := range map[string]func(*Options){
		"lockout off": func(o *Options) { o.Policy.LivenessLockout.Max = 0 },
		"ids omitted": func(o *Options) { o.Privacy = record.PrivacyOmit },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := unlockConfig(t)
			tune(cfg)
			r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
			r.k.deps.LockoutSite = &fakeLockoutSite{}
			a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
			require.True(t, a.Broadcast)
			require.False(t, a.Listed)
			require.Empty(t, a.Detail)
			require.Empty(t, r.k.SharedUnlocks())
		})
	}
}

// BenchmarkListedUnlocksFirstRead: a peer's full unlock list (256 new
// unlocks) applied to a full memory kept in a file, as a gate reads it
// after an outage: the cost is the file's saves.
func BenchmarkListedUnlocksFirstRead(b *testing.B) {
	now := rtT0.Add(time.Hour)
	p := fullMemory(now)
	p.path = filepath.Join(b.TempDir(), lockoutFileName)
	n := 0
	for b.Loop() {
		for i := range maxSharedUnlocks {
			n++
			_, _, applied, err := p.unlockWith(unlockArgs{key: lockoutKey(fmt.Sprint("west-", i)), upTo: now, nonce: fmt.Sprintf("nonce-%016d", n), listed: true}, now, 3, rtPer)
			if err != nil || !applied {
				b.Fatal(applied, err)
			}
		}
		p.flush()
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
