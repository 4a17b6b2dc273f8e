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

// TestListedUnlockClearsWhatItsSenderCleared: a gate that missed another
// gate's unlock applies it from that gate's list, up to its second, and
// leaves the failures stamped after it and ahead of the clock; once per
// nonce, whichever way it came first, across a restart; not when issued
// per or longer ago, nor far ahead of the clock.
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
		issued := time.Unix(t0.Add(-45*time.Second).Unix(), 0)
		u, applied := r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000001", By: "ops", Reason: "seen", Issued: issued, Received: time.Now(), Listed: true})
		require.True(t, applied)
		require.Equal(t, Unlocked{WasLocked: true, Cleared: 2}, u)
		time.Sleep(peerSaveEvery) // saved as a peer's failure is
		synctest.Wait()
		left := readLockout(t, lockoutPath(cfg))[key]
		require.Len(t, left, 2, "the failure after the unlock's second and the one ahead stay: %v", left)
		require.True(t, r.k.pad.locked(worker.SubmissionID, time.Now(), 2, per))
		lines := unlockAuditLines(t, cfg)
		require.Len(t, lines, 1)
		require.Equal(t, unlockSiteList, lines[0].Source)
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="site_list"} 1`)

		// Again at the next resync, and after a restart: nothing.
		added, _, _, err := r.k.pad.peer(key, t0.Add(-50*time.Second), time.Now(), 3, per)
		require.NoError(t, err)
		require.False(t, added, "a failure before the unlock's second, late")
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

		// Issued per ago: every failure it clears counts no more.
		peer(time.Now().Add(-time.Second))
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000002", Issued: time.Now().Add(-per), Received: time.Now(), Listed: true})
		require.False(t, applied, "issued per ago")
		_, applied = r.k.SiteUnlock(SiteUnlock{Key: key, Nonce: "nonce-listed-000003", Issued: time.Now().Add(2 * time.Minute), Received: time.Now(), Listed: true})
		require.False(t, applied, "issued two minutes ahead of the clock")
		require.Len(t, unlockAuditLines(t, cfg), 3)
	})
}

// TestUnlockListKeepsTheSignedUnlock: an HTTP unlock keeps the signed
// command for the unlock list (the newer of a key), also when it could
// not be sent, across a restart, for per; none with the lockout off, ids
// omitted, or nothing signed; at most maxSharedUnlocks, the newest.
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

		var p padState
		require.NoError(t, p.open(lockoutPath(cfg), time.Now(), 3, per))
		require.Equal(t, [][]byte{[]byte(second)}, p.sharedList(time.Now(), per), "kept across a restart")
		time.Sleep(per)
		require.Empty(t, r.k.SharedUnlocks(), "gone after per")

		// Bounded: the newest.
		for i := range maxSharedUnlocks + 10 {
			require.NoError(t, p.share(lockoutKey("sub-"+itoa(int64(i))), time.Now().Add(time.Duration(i)*time.Millisecond), []byte("c"+itoa(int64(i))), time.Now(), per))
		}
		l := p.sharedList(time.Now(), per)
		require.Len(t, l, maxSharedUnlocks)
		require.Equal(t, "c10", string(l[0]))
		require.NoError(t, p.share(lockoutKey("sub-300"), time.Now().Add(-time.Second), []byte("older"), time.Now(), per))
		require.NotContains(t, p.sharedList(time.Now(), per), []byte("older"), "the oldest is not kept over newer ones")
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
			require.Empty(t, r.k.SharedUnlocks())
		})
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

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
