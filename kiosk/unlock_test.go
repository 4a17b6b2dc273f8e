package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/facegate/facegate/record"
	"github.com/stretchr/testify/require"
)

// unlockConfig is lockoutConfig with kiosk.open on (its token guards the
// unlock) and a roster.
func unlockConfig(t *testing.T) *Options {
	cfg := lockoutConfig(t)
	cfg.Page.Open.Enabled, cfg.Page.Open.Token, cfg.Page.Open.PerMinute = true, openToken, 30
	roster := filepath.Join(t.TempDir(), "roster.csv")
	require.NoError(t, os.WriteFile(roster, []byte("badge_id,submission_id,user_id,display_name\nB1,"+worker.SubmissionID+",u-1,Ana Silva\nB2,sub-ana-2,u-1,Ana Silva\nB3,"+worker.SubmissionID+",u-1,Ana Silva\n"), 0o600))
	cfg.Identity.RosterFile = roster
	return cfg
}

// postUnlock sends POST /api/liveness/unlock from this machine.
func postUnlock(t *testing.T, k *Kiosk, remote, auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := localRequest("POST", "/api/liveness/unlock", strings.NewReader(body))
	req.RemoteAddr = remote
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, req)
	return rec
}

type unlockAnswer struct {
	Status string `json:"status"`
	Unlocked
	Error string `json:"error"`
}

func readUnlock(t *testing.T, rec *httptest.ResponseRecorder) unlockAnswer {
	t.Helper()
	var a unlockAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), "%s", rec.Body)
	return a
}

// TestLivenessUnlockGivesTheTriesBack: a worker locked out after three
// failures is refused without a check; an operator's unlock clears the
// failures (saved), the next try is checked again, and a restart does not
// bring the cleared failures back.
func TestLivenessUnlockGivesTheTriesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := unlockConfig(t)
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="http"} 0`, "the series start at 0")
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="site"} 0`)
		stop := r.start(t)
		idle := func() {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		}
		for i := 1; i <= 4; i++ {
			idle()
			r.identify(t, worker, i)
		}
		require.Equal(t, []string{ReasonLivenessLocked}, r.events()[3].Reason)
		require.Len(t, lc.reqs, 3)
		_, _, alerts := r.pub.snapshot()
		require.True(t, slices.ContainsFunc(alerts, func(a Alert) bool {
			return a.Code == AlertLivenessLockout && strings.HasSuffix(a.Message, "(user u-1); after checking the person, lift it with POST /api/liveness/unlock")
		}), "the alert says how to lift the lockout: %+v", alerts)

		rec := postUnlock(t, r.k, "127.0.0.1:5000", "Bearer "+openToken, `{"submission_id":"`+worker.SubmissionID+`","by":"site-office","reason":"checked her badge photo in person"}`)
		require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		a := readUnlock(t, rec)
		require.Equal(t, unlockAnswer{Status: "unlocked", Unlocked: Unlocked{WasLocked: true, Cleared: 3}}, a)
		require.Empty(t, readLockout(t, lockoutPath(cfg)), "the cleared failures are gone from the file")
		audit, err := os.ReadFile(filepath.Join(cfg.StateDir, "audit", auditName))
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
		require.JSONEq(t, `{"kind":"liveness_unlock","ts":"`+record.Timestamp(time.Now())+`","site":"`+cfg.Site+`","gate":"`+cfg.Gate+
			`","submission_id":"sha256:`+lockoutKey(worker.SubmissionID)+`","source":"http","by":"site-office","note":"checked her badge photo in person","was_locked":true,"failures_cleared":3}`,
			lines[len(lines)-1], "the unlock is in the audit log")
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="http"} 1`)

		time.Sleep(2 * time.Second)
		idle()
		r.identify(t, worker, 5)
		require.Equal(t, []string{ReasonLivenessFailed}, r.events()[4].Reason, "checked again, not locked")
		require.Len(t, lc.reqs, 4)
		stop()

		// After a restart the memory holds the new failure only, and a
		// peer's failure from before the unlock delivered late is not
		// counted again.
		r2 := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		late := peerFailures(t, "east", record.PrivacyHash, worker, 1)[0]
		late.TS = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
		require.False(t, r2.k.PeerEvent(late), "a failure the unlock cleared")
		require.Len(t, readLockout(t, lockoutPath(cfg))[lockoutKey(worker.SubmissionID)], 1)
	})
}

// TestUnlockRequests: what the endpoint refuses, and the forms of the
// identity it takes.
func TestUnlockRequests(t *testing.T) {
	hashed := "sha256:" + lockoutKey(worker.SubmissionID)
	const local, auth = "127.0.0.1:5000", "Bearer " + openToken
	for _, tc := range []struct {
		name, remote, auth, body string
		want                     int
		wantErr                  string
	}{
		{"from the LAN", "192.168.1.9:5000", auth, `{"submission_id":"sub-123"}`, http.StatusForbidden, "this machine only"},
		{"no token", local, "", `{"submission_id":"sub-123"}`, http.StatusUnauthorized, "token"},
		{"the identify token", local, "Bearer " + testToken, `{"submission_id":"sub-123"}`, http.StatusUnauthorized, "token"},
		{"no identity", local, auth, `{"by":"ops"}`, http.StatusBadRequest, "exactly one"},
		{"both ids", local, auth, `{"submission_id":"sub-123","badge_id":"B1"}`, http.StatusBadRequest, "exactly one"},
		{"a bad id", local, auth, `{"submission_id":"sub 123"}`, http.StatusBadRequest, "submission_id"},
		{"a short hash", local, auth, `{"submission_id":"sha256:beef"}`, http.StatusBadRequest, "submission_id"},
		{"an unknown field", local, auth, `{"submission_id":"sub-123","zone":"site"}`, http.StatusBadRequest, "unknown field"},
		{"an id and a user", local, auth, `{"submission_id":"sub-123","user_id":"u-1"}`, http.StatusBadRequest, "exactly one"},
		{"a bad user id", local, auth, `{"user_id":"u 1"}`, http.StatusBadRequest, "user_id"},
		// encoding/json keeps the last of repeated keys, matched case-insensitively:
		// these unlocked u-1 while naming u-9 (or a second request) to any other reader.
		{"a key given twice in another case", local, auth, `{"user_id":"u-9","USER_ID":"u-1","by":"ops"}`, http.StatusBadRequest, `key "USER_ID" given twice`},
		{"a key given twice", local, auth, `{"user_id":"u-9","by":"ops","user_id":"u-1"}`, http.StatusBadRequest, `key "user_id" given twice`},
		{"data after a ]", local, auth, `{"user_id":"u-1","by":"ops"}]`, http.StatusBadRequest, "data after the JSON object"},
		{"a user not in the roster", local, auth, `{"user_id":"u-9"}`, http.StatusUnprocessableEntity, "u-9"},
		{"by with a trailing space (the signed command refuses it)", local, auth, `{"submission_id":"sub-123","by":"site office "}`, http.StatusBadRequest, "by"},
		{"a reason too long", local, auth, `{"submission_id":"sub-123","reason":"` + strings.Repeat("é", 65) + `"}`, http.StatusBadRequest, "reason"},
		{"a badge not in the roster", local, auth, `{"badge_id":"B9"}`, http.StatusUnprocessableEntity, "B9"},
		{"a plain id", local, auth, `{"submission_id":"sub-123"}`, http.StatusOK, ""},
		{"a hashed id", local, auth, `{"submission_id":"` + hashed + `"}`, http.StatusOK, ""},
		{"a hashed id in capitals", local, auth, `{"submission_id":"sha256:` + strings.ToUpper(hashed[7:]) + `"}`, http.StatusOK, ""},
		{"a badge", local, auth, `{"badge_id":"B1","by":"ops"}`, http.StatusOK, ""},
		{"a user (every submission id of the user's badges)", local, auth, `{"user_id":"u-1","by":"ops"}`, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := unlockConfig(t)
			r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
			_, err := r.k.pad.fail(worker.SubmissionID, time.Now().Add(-time.Second), 3, 10*time.Minute)
			require.NoError(t, err)
			rec := postUnlock(t, r.k, tc.remote, tc.auth, tc.body)
			require.Equal(t, tc.want, rec.Code, "%s", rec.Body)
			a := readUnlock(t, rec)
			require.Contains(t, a.Error, tc.wantErr)
			cleared := 0
			if tc.want == http.StatusOK {
				cleared = 1
			}
			require.Equal(t, cleared, a.Cleared)
			require.Equal(t, 1-cleared, len(readLockout(t, lockoutPath(cfg))[lockoutKey(worker.SubmissionID)]))
		})
	}
	t.Run("off", func(t *testing.T) {
		r := livenessRig(t, lockoutConfig(t), &fakeLiveness{res: padFail})
		rec := postUnlock(t, r.k, local, auth, `{"submission_id":"sub-123"}`)
		require.Equal(t, http.StatusNotFound, rec.Code)
		require.Contains(t, rec.Body.String(), "kiosk.open.enabled")
	})
}

// fakeLockoutSite records the unlocks sent to the site. Its signed
// commands are "signed <key> <issued unix>", nonce fakeNonce; with err
// set none is sent, and one is signed when signWhenFailing is.
type fakeLockoutSite struct {
	err             error
	signWhenFailing bool
	sent            []string
	at              []time.Time
	changed         atomic.Int32 // LockoutChanged calls
}

func (f *fakeLockoutSite) LockoutChanged() { f.changed.Add(1) }

func (f *fakeLockoutSite) ShareUnlock(key string, issued time.Time, by, reason string) (SignedUnlock, error) {
	signed := SignedUnlock{Nonce: fakeNonce(key, issued), Cmd: fmt.Appendf(nil, "signed %s %d", key, issued.Unix())}
	if f.err != nil {
		if f.signWhenFailing {
			return signed, f.err
		}
		return SignedUnlock{}, f.err
	}
	f.sent = append(f.sent, key+" "+by+" "+reason)
	f.at = append(f.at, issued)
	return signed, nil
}

// fakeNonce is the nonce fakeLockoutSite signs an unlock with.
func fakeNonce(key string, issued time.Time) string {
	return fmt.Sprintf("nonce-%s-%d", key[:8], issued.Unix())
}

// TestUnlockIsSentToTheSite: with zones on, the unlock goes to the other
// gates in whole seconds, hashed; when it cannot, the answer says so and
// this gate is unlocked all the same. Another gate's unlock clears the
// failures up to the end of its second.
func TestUnlockIsSentToTheSite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(300 * time.Millisecond) // not on a whole second
		cfg := unlockConfig(t)
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		site := &fakeLockoutSite{}
		r.k.deps.LockoutSite = site
		key := lockoutKey(worker.SubmissionID)
		_, err := r.k.pad.fail(worker.SubmissionID, time.Now(), 3, 10*time.Minute)
		require.NoError(t, err)
		a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1","by":"ops","reason":"seen"}`))
		require.Equal(t, Unlocked{Cleared: 1, Broadcast: true, Listed: true}, a.Unlocked)
		require.Equal(t, []string{key + " ops seen"}, site.sent)
		require.Equal(t, time.Unix(time.Now().Unix(), 0), site.at[0])

		// A user's every submission id, each once (B1 and B3 share one).
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"user_id":"u-1"}`))
		require.True(t, a.Broadcast)
		require.Equal(t, []string{key + " ops seen", key + "  ", lockoutKey("sub-ana-2") + "  "}, site.sent)

		site.err = errors.New("not connected")
		a = readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
		require.False(t, a.Broadcast)
		require.Contains(t, a.Detail, "not sent to the other gates (not connected)")

		// A peer's unlock issued at a second clears a failure stamped
		// later in the same second, not one after it; a failure in the
		// second of the last unlock does not count.
		added, _, _, err := r.k.pad.peer(key, time.Now().Add(400*time.Millisecond), time.Now(), 3, 10*time.Minute)
		require.NoError(t, err)
		require.False(t, added, "a peer's failure in the unlock's second")
		time.Sleep(2 * time.Second)
		t0 := time.Unix(time.Now().Unix(), 0)
		for _, d := range []time.Duration{200 * time.Millisecond, 900 * time.Millisecond, 1100 * time.Millisecond} {
			_, _, _, err := r.k.pad.peer(key, t0.Add(d), time.Now(), 3, 10*time.Minute)
			require.NoError(t, err)
		}
		time.Sleep(1500 * time.Millisecond) // none of them ahead of the clock
		u, _ := r.k.SiteUnlock(SiteUnlock{Key: key, Issued: t0, Received: time.Now(), By: "site-office"})
		require.Equal(t, 2, u.Cleared)
		left := readLockout(t, lockoutPath(cfg))[key]
		require.True(t, len(left) == 1 && left[0].Equal(t0.Add(1100*time.Millisecond)), "left %v", left)
		require.Contains(t, scrape(t, r.k), `facegate_liveness_unlocks_total{source="site"} 1`)

		// A sender whose clock is 25 s fast: this gate clears up to its
		// own second of arrival, so a failure heard 5 s later counts.
		r.k.SiteUnlock(SiteUnlock{Key: key, Issued: time.Now().Add(25 * time.Second), Received: time.Now(), By: "site-office"})
		time.Sleep(5 * time.Second)
		added, _, _, err = r.k.pad.peer(key, time.Now(), time.Now(), 3, 10*time.Minute)
		require.NoError(t, err)
		require.True(t, added, "a failure after the unlock of a gate with a fast clock")
	})
}

// TestPadStateUnlockForgetsWithTheHorizon: an unlock is remembered while
// a peer's failure it cleared could still arrive, and no longer.
func TestPadStateUnlockForgetsWithTheHorizon(t *testing.T) {
	var p padState
	per := 10 * time.Minute
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	key := lockoutKey("sub-1")
	_, _, err := p.unlock(key, t0, t0, 3, per)
	require.NoError(t, err)
	added, _, _, _ := p.peer(key, t0.Add(-time.Minute), t0.Add(time.Minute), 3, per)
	require.False(t, added, "cleared by the unlock")
	added, _, _, _ = p.peer(key, t0.Add(time.Millisecond), t0.Add(time.Minute), 3, per)
	require.True(t, added, "after the unlock")
	// A clock stepped back by an hour: the unlock is an hour ahead and
	// would hide the peers' failures for that hour.
	_, _, err = p.unlock(key, t0.Add(time.Hour), t0.Add(time.Hour), 3, per)
	require.NoError(t, err)
	added, _, _, _ = p.peer(key, t0.Add(2*time.Minute), t0.Add(2*time.Minute), 3, per)
	require.True(t, added, "an unlock more than a minute ahead is forgotten")
	// Back at t0, the failure of t0+2 min is ahead of the clock: the
	// unlock clears it and keeps it until it passes the horizon.
	cleared, _, err := p.unlock(key, t0, t0, 3, per)
	require.NoError(t, err)
	require.Equal(t, 1, cleared)
	p.pruneUnlocked(t0.Add(2*time.Minute+2*per-time.Second), lockoutHorizon(per))
	require.Len(t, p.unlocked, 1)
	p.pruneUnlocked(t0.Add(2*time.Minute+2*per), lockoutHorizon(per))
	require.Empty(t, p.unlocked)

	// A failure a peer with a fast clock stamped 30 s ahead is known, so
	// it came before the unlock: cleared too.
	now := t0.Add(3 * time.Minute)
	added, _, _, _ = p.peer(key, now.Add(30*time.Second), now, 3, per)
	require.True(t, added)
	cleared, _, err = p.unlock(key, now, now, 3, per)
	require.NoError(t, err)
	require.Equal(t, 1, cleared, "the failure stamped ahead")
	added, _, _, _ = p.peer(key, now.Add(30*time.Second), now.Add(time.Second), 3, per)
	require.False(t, added, "the same failure delivered again")
	require.Empty(t, p.fails[key])
	p.pruneUnlocked(now.Add(2*per), lockoutHorizon(per))

	for i := range maxLockoutIdentities + 5 {
		p.unlocked[lockoutKey(strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String())] = unlockMark{Until: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	p.pruneUnlocked(t0, lockoutHorizon(per))
	require.Len(t, p.unlocked, maxLockoutIdentities)
	for _, m := range p.unlocked {
		require.False(t, m.Until.Before(t0.Add(5*time.Millisecond)), "the oldest go first")
	}
}

func FuzzParseUnlockRequest(f *testing.F) {
	for _, s := range []string{`{"submission_id":"sub-1","by":"ops","reason":"seen"}`, `{"badge_id":"B1"}`,
		`{"submission_id":"sha256:` + strings.Repeat("A", 64) + `"}`, `{}`, `{"submission_id":"x","badge_id":"y"}`, `null`, `{"by":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseUnlockRequest(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("error not ErrInvalidIdentity: %v", err)
			}
			return
		}
		given := 0
		for _, v := range []string{r.SubmissionID, r.BadgeID, r.UserID} {
			if v != "" {
				given++
			}
		}
		if given != 1 {
			t.Fatalf("accepted %+v: not exactly one id", r)
		}
		if r.UserID != "" && !ValidID(r.UserID) {
			t.Fatalf("accepted user id %q", r.UserID)
		}
		if r.SubmissionID != "" {
			if key, ok := unlockKey(r.SubmissionID); !ok || !validPassbackKey(key) {
				t.Fatalf("accepted a submission id without a key: %q", r.SubmissionID)
			}
		}
		if !validName(r.By) || !validName(r.Reason) || len(r.Reason) > maxUnlockReason {
			t.Fatalf("accepted by %q reason %q", r.By, r.Reason)
		}
	})
}

// TestUnlockForgetsTheAttempts: with the default attempts limit (5 in
// 5 min), three failures and two locked tries spend the worker's
// attempts; the unlock gives those back too, or the next try would be
// refused rate_limited without a check.
func TestUnlockForgetsTheAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := unlockConfig(t)
		cfg.Policy.Attempts.Max, cfg.Policy.Attempts.Per = 5, 5*time.Minute
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		stop := r.start(t)
		defer stop()
		idle := func() {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		}
		for i := 1; i <= 5; i++ {
			idle()
			r.identify(t, worker, i)
		}
		require.Equal(t, []string{ReasonLivenessLocked}, r.events()[4].Reason)
		rec := postUnlock(t, r.k, "127.0.0.1:5000", "Bearer "+openToken, `{"badge_id":"B1","by":"ops","reason":"checked"}`)
		require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		time.Sleep(2 * time.Second)
		idle()
		r.identify(t, worker, 6)
		require.Equal(t, []string{ReasonLivenessFailed}, r.events()[5].Reason, "the next try is checked again")
	})
}

// TestUnlockDetailSaysEverything: with user_id (two submission ids), each
// problem is said once, a save that failed for the second id included.
func TestUnlockDetailSaysEverything(t *testing.T) {
	r := livenessRig(t, unlockConfig(t), &fakeLiveness{res: padFail})
	r.k.deps.LockoutSite = &fakeLockoutSite{err: errors.New("not connected")}
	n := 0
	r.k.pad.write = func(path string, data []byte, perm fs.FileMode) error {
		n++
		if n == 2 {
			return errors.New("no space left on device")
		}
		return os.WriteFile(path, data, perm)
	}
	a := readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"user_id":"u-1"}`))
	require.Equal(t, 1, strings.Count(a.Detail, "not sent to the other gates (not connected)"), a.Detail)
	require.Contains(t, a.Detail, "not saved (save liveness lockout memory: no space left on device)")
}

// TestPadStateUnlockDropsAClearedOwnFailure: this gate's own newest
// failure, stamped ahead of a clock stepped back, is cleared by another
// gate's unlock while a later peer's failure stays; the memory no longer
// names the cleared one as this gate's (it would keep the identity among
// those this gate saw fail, and steer the alert).
func TestPadStateUnlockDropsAClearedOwnFailure(t *testing.T) {
	var p padState
	per := 10 * time.Minute
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	key := lockoutKey("sub-1")
	_, err := p.fail("sub-1", t0.Add(time.Minute), 3, per) // before the clock stepped back
	require.NoError(t, err)
	_, _, _, err = p.peer(key, t0.Add(5*time.Second), t0.Add(6*time.Second), 3, per)
	require.NoError(t, err)
	cleared, _, err := p.unlock(key, t0, t0.Add(10*time.Second), 3, per)
	require.NoError(t, err)
	require.Equal(t, 1, cleared, "the own failure ahead of the clock")
	require.Len(t, p.fails[key], 1, "the peer's failure after the unlock stays")
	_, own := p.own[key]
	require.False(t, own, "the cleared failure is no longer this gate's newest")
}
