package kiosk

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

func getLockouts(t *testing.T, k *Kiosk, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := localRequest("GET", "/api/liveness/lockouts", nil)
	req.RemoteAddr = "127.0.0.1:1"
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, req)
	return rec
}

type lockoutsAnswer struct {
	Max      int         `json:"max"`
	Per      string      `json:"per"`
	Lockouts []LockedOut `json:"lockouts"`
	Error    string      `json:"error"`
}

func readLockouts(t *testing.T, rec *httptest.ResponseRecorder) lockoutsAnswer {
	t.Helper()
	var a lockoutsAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), "%s", rec.Body)
	return a
}

// TestLockoutsListed: GET /api/liveness/lockouts names the identity three
// failures locked out, with the roster's user, the failures and when the
// lockout ends; an unlock takes it off; it is guarded as the unlock is,
// and leaves the hashed id out with privacy omit.
func TestLockoutsListed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := unlockConfig(t)
		r := livenessRig(t, cfg, &fakeLiveness{res: padFail})
		per := cfg.Policy.LivenessLockout.Per
		a := readLockouts(t, getLockouts(t, r.k, "Bearer "+openToken))
		require.Equal(t, lockoutsAnswer{Max: 3, Per: "10m0s", Lockouts: []LockedOut{}}, a)

		var last time.Time
		for range 3 {
			last = time.Now()
			_, err := r.k.pad.fail(worker.SubmissionID, last, 3, per)
			require.NoError(t, err)
			time.Sleep(time.Minute)
		}
		_, err := r.k.pad.fail("sub-other", time.Now(), 3, per) // one failure: not locked
		require.NoError(t, err)
		require.Contains(t, scrape(t, r.k), "facegate_liveness_locked_identities 1\n")
		a = readLockouts(t, getLockouts(t, r.k, "Bearer "+openToken))
		require.Equal(t, []LockedOut{{SubmissionID: record.PrivacyHash.Apply(worker.SubmissionID), UserIDs: []string{"u-1"}, Failures: 3,
			LastFailure: record.Timestamp(last), LockedUntil: record.Timestamp(last.Add(per))}}, a.Lockouts)

		r.k.privacy = record.PrivacyOmit
		a = readLockouts(t, getLockouts(t, r.k, "Bearer "+openToken))
		require.Len(t, a.Lockouts, 1)
		require.Empty(t, a.Lockouts[0].SubmissionID, "privacy omit")
		require.Equal(t, []string{"u-1"}, a.Lockouts[0].UserIDs)

		require.Equal(t, http.StatusUnauthorized, getLockouts(t, r.k, "Bearer wrong").Code)
		readUnlock(t, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`))
		require.Empty(t, readLockouts(t, getLockouts(t, r.k, "Bearer "+openToken)).Lockouts, "unlocked")
		require.Contains(t, scrape(t, r.k), "facegate_liveness_locked_identities 0\n")

		// The list has a rate of its own: polling it does not use up the
		// opens' and unlocks'.
		for range 40 {
			getLockouts(t, r.k, "Bearer "+openToken)
		}
		require.Equal(t, http.StatusTooManyRequests, getLockouts(t, r.k, "Bearer "+openToken).Code)
		require.Equal(t, http.StatusOK, postUnlock(t, r.k, "127.0.0.1:1", "Bearer "+openToken, `{"badge_id":"B1"}`).Code)

		cfg.Page.Open.Enabled = false
		require.NoError(t, r.k.Reload(*cfg))
		require.Equal(t, http.StatusNotFound, getLockouts(t, r.k, "Bearer "+openToken).Code)
	})
}

// TestLockedUntil: when locked's rule stops holding, checked against
// lockedBy one second either side.
func TestLockedUntil(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	per := 10 * time.Minute
	at := func(ms ...time.Duration) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(m))
		}
		return ts
	}
	tests := []struct {
		name  string
		fails []time.Time
		now   time.Time
		want  time.Time
	}{
		{"three within per", at(0, time.Minute, 2*time.Minute), t0.Add(3 * time.Minute), t0.Add(12 * time.Minute)},
		{"a fourth later extends it", at(0, time.Minute, 2*time.Minute, 8*time.Minute), t0.Add(9 * time.Minute), t0.Add(18 * time.Minute)},
		{"spread wider than per", at(0, 6*time.Minute, 12*time.Minute), t0.Add(13 * time.Minute), time.Time{}},
		{"two", at(0, time.Minute), t0.Add(2 * time.Minute), time.Time{}},
		{"one ahead of the clock counts as now, then at its time", at(0, time.Minute, 5*time.Minute), t0.Add(2 * time.Minute), t0.Add(15 * time.Minute)},
		{"one ahead that is too late for the window ends it at its time", at(0, time.Minute, 11*time.Minute), t0.Add(2 * time.Minute), t0.Add(10 * time.Minute)},
		{"over", at(0, time.Minute, 2*time.Minute), t0.Add(13 * time.Minute), time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lockedUntil(tc.fails, tc.now, 3, per)
			require.Equal(t, tc.want, got)
			require.Equal(t, got.After(tc.now), lockedBy(tc.fails, tc.now, 3, per), "agrees with lockedBy now")
			if got.After(tc.now) {
				require.True(t, lockedBy(tc.fails, got.Add(-time.Second), 3, per), "locked a second before the end")
				require.False(t, lockedBy(tc.fails, got, 3, per), "not at the end")
			}
		})
	}
	require.True(t, lockedUntil(at(0), t0, 0, per).IsZero(), "max 0")
}

// TestLockedUntilAgreesWithLockedBy: on random failures, some ahead of the
// clock (up to the 60 s a peer's may be), the end is where lockedBy,
// stepped a second at a time, first stops holding.
func TestLockedUntilAgreesWithLockedBy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	per := 2 * time.Minute
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for i := range 2000 {
		max := 1 + rng.IntN(3)
		var fails []time.Time
		for range 1 + rng.IntN(5) {
			fails = append(fails, now.Add(time.Duration(rng.IntN(200)-140)*time.Second))
		}
		slices.SortFunc(fails, time.Time.Compare)
		got := lockedUntil(fails, now, max, per)
		want := time.Time{}
		if lockedBy(fails, now, max, per) {
			for s := time.Second; ; s += time.Second {
				if !lockedBy(fails, now.Add(s), max, per) {
					want = now.Add(s)
					break
				}
			}
		}
		require.Equal(t, want, got, "case %d: max %d fails %v", i, max, fails)
	}
}
