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

// lockedUntil is when locked's rule, as lockedBy reads it, stops holding
// for fails unless another failure comes (the zero time when it does not
// hold at now). From now on the rule holds for one stretch and then no
// more: each window of max failures holds until per after its newest,
// and one with a failure ahead of now (counted as now until its time)
// until per after its oldest or until that time, whichever it fails at.
// So the end is the first of those instants at which the rule no longer
// holds.
func lockedUntil(fails []time.Time, now time.Time, max int, per time.Duration) time.Time {
	if max <= 0 || !lockedBy(fails, now, max, per) {
		return time.Time{}
	}
	cs := make([]time.Time, 0, 2*len(fails))
	for _, t := range fails {
		cs = append(cs, t.Add(per))
		if t.After(now) {
			cs = append(cs, t)
		}
	}
	slices.SortFunc(cs, time.Time.Compare)
	for _, c := range cs {
		if c.After(now) && !lockedBy(fails, c, max, per) {
			return c
		}
	}
	return time.Time{} // not reached: per after the newest failure ends every window
}

// mayBeLocked is a cheap test before lockedBy: fewer than max failures,
// or the newest (sorted) older than per, cannot lock.
func mayBeLocked(ts []time.Time, now time.Time, max int, per time.Duration) bool {
	return max > 0 && len(ts) >= max && now.Sub(ts[len(ts)-1]) < per
}

// lockedCount is how many identities are locked out at now (the gauge;
// read-only, no sorting).
func (p *padState) lockedCount(now time.Time, max int, per time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ts := range p.fails {
		if mayBeLocked(ts, now, max, per) && lockedBy(ts, now, max, per) {
			n++
		}
	}
	return n
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
	for key, ts := range p.fails {
		if !mayBeLocked(ts, now, max, per) {
			continue
		}
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

// lockoutViews is every identity locked out at this gate now under set,
// with the roster's users of each (its latest end first).
func (k *Kiosk) lockoutViews(set settings) []LockedOut {
	p := set.policy.LivenessLockout
	ls := k.pad.lockouts(k.now(), p.Max, p.Per)
	users := set.roster.usersByKey()
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
	// usersBySub holds each submission's user ids once (ParseRoster):
	// looking each badge's user id up in its key's list was quadratic in
	// the badges of one submission (found by a red-team pass).
	for sub, users := range r.usersBySub {
		if len(users) > 0 {
			m[lockoutKey(sub)] = slices.Sorted(slices.Values(users))
		}
	}
	return m
}

var lockoutsGuardTexts = guardTexts{what: "liveness lockouts list",
	disabled: "the liveness lockouts list over HTTP is disabled (kiosk.open.enabled)",
	local:    "GET /api/liveness/lockouts is accepted from this machine only (docs/kiosk.md)",
	limit:    "too many lockout list requests; try again later (kiosk.open.per_minute)", ownRate: true}

// serveLockouts is GET /api/liveness/lockouts, guarded as POST
// /api/liveness/unlock is: who is locked out, for how long, and who they
// are by the roster.
func (k *Kiosk) serveLockouts(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.openGuard(w, r, lockoutsGuardTexts); !ok {
		return
	}
	set := k.settings()
	p := set.policy.LivenessLockout
	writeJSON(w, http.StatusOK, struct {
		Max      int         `json:"max"`
		Per      string      `json:"per"`
		Lockouts []LockedOut `json:"lockouts"`
	}{p.Max, p.Per.String(), k.lockoutViews(set)})
}
