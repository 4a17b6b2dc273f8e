package kiosk

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/record"
)

// Who is locked out now (GET /api/liveness/lockouts): what an operator
// looks at before an unlock, and after an alert.

// LockedOut is one identity locked out at this gate now.
type LockedOut struct {
	// SubmissionID is "sha256:<hex>" of the submission id, as events carry
	// it with mqtt.submission_id: hash (empty with audit privacy omit).
	SubmissionID string `json:"submission_id,omitempty"`
	// UserIDs are the roster's users with a badge of that submission id.
	UserIDs []string `json:"user_ids"`
	// Failures is how many failures within per, at any gate of the site.
	Failures    int    `json:"failures"`
	LastFailure string `json:"last_failure"`
	LockedUntil string `json:"locked_until"`
}

// lockedOut is an identity padState.lockouts found locked out.
type lockedOut struct {
	key               string
	failures          int
	last, lockedUntil time.Time
}

// lockedUntil is when locked's rule stops holding for fails (as
// lockedBy reads them, a time ahead of now counting as now): per after
// the newest failure that was the max-th within per. Locked at now when
// it is after now. With a failure ahead of now it is the least end: once
// its time passes it counts at its own time.
func lockedUntil(fails []time.Time, now time.Time, max int, per time.Duration) time.Time {
	ts := slices.Clone(fails)
	for i, t := range ts {
		if t.After(now) {
			ts[i] = now
		}
	}
	slices.SortFunc(ts, time.Time.Compare)
	for j := len(ts) - 1; max > 0 && j >= max-1; j-- {
		if ts[j].Sub(ts[j-max+1]) < per {
			return ts[j].Add(per) // the newest such: the latest end
		}
	}
	return time.Time{}
}

// lockouts is every identity locked out at now, the latest end first
// (ties: by key).
func (p *padState) lockouts(now time.Time, max int, per time.Duration) []lockedOut {
	if max <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []lockedOut
	for key := range p.fails {
		ts := p.recent(key, now, lockoutHorizon(per))
		until := lockedUntil(ts, now, max, per)
		if !until.After(now) {
			continue
		}
		n := 0
		for _, t := range ts {
			if now.Sub(t) < per {
				n++
			}
		}
		out = append(out, lockedOut{key: key, failures: n, last: ts[len(ts)-1], lockedUntil: until})
	}
	slices.SortFunc(out, func(a, b lockedOut) int {
		if c := b.lockedUntil.Compare(a.lockedUntil); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

// Lockouts is every identity locked out at this gate now, with the
// roster's users of each (its latest end first).
func (k *Kiosk) Lockouts() []LockedOut {
	p := k.settings().policy.LivenessLockout
	ls := k.pad.lockouts(k.now(), p.Max, p.Per)
	users := k.settings().roster.usersByKey()
	out := make([]LockedOut, 0, len(ls))
	for _, l := range ls {
		v := LockedOut{SubmissionID: "sha256:" + l.key, UserIDs: users[l.key], Failures: l.failures,
			LastFailure: record.Timestamp(l.last), LockedUntil: record.Timestamp(l.lockedUntil)}
		if v.UserIDs == nil {
			v.UserIDs = []string{}
		}
		if k.privacy == record.PrivacyOmit {
			v.SubmissionID = ""
		}
		out = append(out, v)
	}
	return out
}

// usersByKey maps each lockout key of the roster's submission ids to the
// users with a badge of it (sorted, each once).
func (r *Roster) usersByKey() map[string][]string {
	m := map[string][]string{}
	if r == nil {
		return m
	}
	for _, e := range r.byBadge {
		key := lockoutKey(e.SubmissionID)
		if e.UserID != "" && !slices.Contains(m[key], e.UserID) {
			m[key] = append(m[key], e.UserID)
		}
	}
	for _, us := range m {
		slices.Sort(us)
	}
	return m
}

var lockoutsGuardTexts = guardTexts{what: "liveness lockouts list",
	disabled: "the liveness lockouts list over HTTP is disabled (kiosk.open.enabled)",
	local:    "GET /api/liveness/lockouts is accepted from this machine only (docs/kiosk.md)",
	limit:    unlockGuardTexts.limit}

// serveLockouts is GET /api/liveness/lockouts, guarded as POST
// /api/liveness/unlock is: who is locked out, for how long, and who they
// are by the roster.
func (k *Kiosk) serveLockouts(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.openGuard(w, r, lockoutsGuardTexts); !ok {
		return
	}
	p := k.settings().policy.LivenessLockout
	writeJSON(w, http.StatusOK, struct {
		Max      int         `json:"max"`
		Per      string      `json:"per"`
		Lockouts []LockedOut `json:"lockouts"`
	}{p.Max, p.Per.String(), k.Lockouts()})
}
