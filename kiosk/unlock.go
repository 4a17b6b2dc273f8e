package kiosk

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/internal/jsonobj"
	"github.com/facegate/facegate/record"
)

// Giving a locked-out worker back their tries: an operator who checked the
// person clears the identity's liveness failures (POST /api/liveness/unlock),
// at this gate and, with the site commands on, at every gate of the site
// (the signed <site_topic>/cmd/unlock). Every gate clears the failures
// stamped up to the end of the unlock's second (unlockEnd) and does not
// count a peer's failure stamped before it that arrives later. A gate that
// missed the command gets it from the sender's unlock list (unlocklist.go).

// LockoutSite sends an unlock to the other gates of the site (zones on;
// cmd/facegate's site wire). Nil: this gate's memory only.
type LockoutSite interface {
	// ShareUnlock sends the signed cmd/unlock of the lockout key, issued
	// at issued (whole seconds); an error says why it was not sent. signed
	// is the command as signed, for this gate's unlock list
	// (SharedUnlocks), also when it could not be sent (not connected, or
	// its acknowledgement lost: the same nonce then); empty when it was
	// not signed.
	ShareUnlock(key string, issued time.Time, by, reason string) (signed SignedUnlock, err error)
	// LockoutChanged says this gate's failure list (LockoutList) changed:
	// publish it again. It must not block.
	LockoutChanged()
}

// UnlockRequest is POST /api/liveness/unlock's body: the identity by
// submission_id (plain, or "sha256:<hex>" as events carry it with
// mqtt.submission_id: hash), by badge_id or by user_id (both through the
// roster; a user's every submission id), and who asked and why (the log).
type UnlockRequest struct {
	SubmissionID string `json:"submission_id,omitempty"`
	BadgeID      string `json:"badge_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	By           string `json:"by"`
	Reason       string `json:"reason"`
}

// Unlocked is what an unlock did.
type Unlocked struct {
	// WasLocked: the identity was locked out before the unlock.
	WasLocked bool `json:"was_locked"`
	// Cleared counts the failures this gate forgot.
	Cleared int `json:"failures_cleared"`
	// Broadcast: sent to the other gates of the site (cmd/unlock).
	Broadcast bool `json:"broadcast"`
	// Listed: kept in this gate's unlock list, from which the gates that
	// miss the command (or all of them, when it was not sent) learn it.
	Listed bool `json:"listed"`
	// Detail says what was not done (not sent to the site, not saved).
	Detail string `json:"detail,omitempty"`
}

// Sources of an unlock (the metric's label, the log and the audit line).
const (
	unlockHTTP = "http"
	unlockSite = "site"
	// unlockSiteList: another gate's unlock, from its unlock list.
	unlockSiteList = "site_list"
)

// AuditKindUnlock is the "kind" of an audit line of an unlock.
const AuditKindUnlock = "liveness_unlock"

// unlockRecord is the audit line of an unlock: who gave whom their tries
// back. Its field names stay clear of the decision event's (the liveness
// report reads every line as an event first), so the reason is "note".
type unlockRecord struct {
	Kind string `json:"kind"` // AuditKindUnlock
	TS   string `json:"ts"`
	Site string `json:"site"`
	Gate string `json:"gate"`
	// SubmissionID is "sha256:<key>" (the raw id is not always known:
	// another gate's unlock carries the hash only), "" with privacy omit.
	SubmissionID string `json:"submission_id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	Source       string `json:"source"`
	By           string `json:"by,omitempty"`
	Note         string `json:"note,omitempty"`
	WasLocked    bool   `json:"was_locked"`
	Cleared      int    `json:"failures_cleared"`
}

// maxUnlockReason is the signed cmd/unlock's limit on reason, in bytes.
const maxUnlockReason = 128

// ParseUnlockRequest decodes an unlock body: exactly one of
// submission_id, badge_id and user_id; by and reason printable text.
// Errors match ErrInvalidIdentity.
func ParseUnlockRequest(body []byte) (UnlockRequest, error) {
	const src = "unlock body"
	var r UnlockRequest
	if err := jsonobj.Decode(body, &r, jsonobj.DisallowUnknownFields()); err != nil {
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "", "not a JSON object with submission_id, badge_id or user_id, by and reason: %v", err)
	}
	given := 0
	for _, v := range []string{r.SubmissionID, r.BadgeID, r.UserID} {
		if v != "" {
			given++
		}
	}
	switch {
	case given != 1:
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "", "give submission_id, badge_id or user_id, exactly one")
	case r.SubmissionID != "":
		if _, ok := unlockKey(r.SubmissionID); !ok {
			return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "submission_id",
				"must be 1-%d characters of letters, digits, '.', '_' or '-', or sha256:<64 hex digits>", maxIDLen)
		}
	case r.BadgeID != "" && !validToken(r.BadgeID, maxBadgeLen):
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "badge_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxBadgeLen)
	case r.UserID != "" && !ValidID(r.UserID):
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "user_id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	}
	// The signed cmd/unlock refuses surrounding spaces: refused here, the
	// unlock would reach this gate only.
	switch {
	case !validName(r.By) || strings.TrimSpace(r.By) != r.By:
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "by", "must be printable text of at most %d characters, without surrounding spaces", maxNameLen)
	case !validName(r.Reason) || len(r.Reason) > maxUnlockReason || strings.TrimSpace(r.Reason) != r.Reason:
		return UnlockRequest{}, inputErr(ErrInvalidIdentity, src, "reason", "must be printable text of at most %d characters and %d bytes, without surrounding spaces", maxNameLen, maxUnlockReason)
	}
	return r, nil
}

// unlockKey is the lockout key of a submission id as an operator gives
// it (submissionKey), a plain one being a valid id.
func unlockKey(id string) (string, bool) {
	if !strings.HasPrefix(id, "sha256:") && !ValidID(id) {
		return "", false
	}
	return submissionKey(id)
}

// Unlock clears the liveness failures of the request's identity at this
// gate, up to the end of the current second, and sends the unlock to the
// site when the gate has one. Errors match ErrInvalidIdentity (a bad body)
// or ErrUnknownBadge (a badge or user not in the roster).
func (k *Kiosk) Unlock(req UnlockRequest) (Unlocked, error) {
	keys, user, err := k.unlockKeys(req)
	if err != nil {
		return Unlocked{}, err
	}
	now := k.now()
	issued := time.Unix(now.Unix(), 0)
	var u Unlocked
	sent, listed := 0, 0
	site := k.deps.LockoutSite
	for _, key := range keys {
		one := k.clearLockout(unlockArgs{key: key, upTo: unlockEnd(issued)}, user, unlockHTTP, req.By, req.Reason)
		u.WasLocked = u.WasLocked || one.WasLocked
		u.Cleared += one.Cleared
		u.Detail = joinDetail(u.Detail, one.Detail)
		if site == nil {
			continue
		}
		signed, err := site.ShareUnlock(key, issued, req.By, req.Reason)
		if err == nil {
			sent++
		}
		inList, detail := k.listUnlock(key, issued, signed)
		if inList {
			listed++
		}
		u.Detail = joinDetail(u.Detail, detail)
		switch {
		case err != nil && inList:
			k.log.Warn("liveness unlock not sent to the other gates now: they learn it from this gate's unlock list", "key", key[:12], "err", err)
			u.Detail = joinDetail(u.Detail, "not sent to the other gates now ("+err.Error()+"): they learn it from this gate's unlock list at their next connect or resync once this gate is connected")
		case err != nil:
			k.log.Warn("liveness unlock not sent to the other gates", "key", key[:12], "err", err)
			u.Detail = joinDetail(u.Detail, "not sent to the other gates ("+err.Error()+"): unlock at each gate that counted a failure")
		}
	}
	u.Broadcast = sent > 0 && sent == len(keys)
	u.Listed = listed > 0 && listed == len(keys)
	return u, nil
}

// listUnlock remembers the nonce of key's signed unlock (a copy of it
// coming back is not applied here) and keeps the command for this gate's
// unlock list, which it has published. It reports whether the list holds
// it (the lockout on, ids not omitted, a command signed) and what was not
// done.
func (k *Kiosk) listUnlock(key string, issued time.Time, signed SignedUnlock) (bool, string) {
	if signed.Nonce == "" || len(signed.Cmd) == 0 {
		return false, ""
	}
	p := k.settings().policy.LivenessLockout
	list := p.Max > 0 && k.privacy != record.PrivacyOmit
	if len(signed.Cmd) > maxSharedUnlockBytes {
		k.log.Error("liveness unlock not kept for the unlock list: the signed command is too long", "key", key[:12], "bytes", len(signed.Cmd))
		list = false
	}
	listed, err := k.pad.share(key, issued, signed, list, k.now(), p.Per)
	if listed {
		k.lockoutChanged()
	}
	if err != nil {
		k.lockoutNotSaved(err, "leave this unlock out of the unlock list")
		if listed {
			// In memory it is listed all the same; a restart forgets it.
			return true, "kept in the unlock list but not saved (" + err.Error() + "): a restart drops it from the list"
		}
	}
	if list && !listed {
		return false, "not in the unlock list: it holds later unlocks (this identity's, issued after this one: the clock stepped back; or 256 others)"
	}
	return listed, ""
}

// unlockKeys is the lockout keys the request names: one, or with user_id
// one per distinct submission id of the user's badges; and the user id
// when the roster or the request gives one (the audit line).
func (k *Kiosk) unlockKeys(req UnlockRequest) (keys []string, user string, err error) {
	roster := k.settings().roster
	switch {
	case req.BadgeID != "":
		e, found := roster.Lookup(req.BadgeID)
		if !found {
			return nil, "", fmt.Errorf("%w: badge %q is not in the roster", ErrUnknownBadge, req.BadgeID)
		}
		return []string{lockoutKey(e.SubmissionID)}, e.UserID, nil
	case req.UserID != "":
		subs := roster.SubmissionsOf(req.UserID)
		if len(subs) == 0 {
			return nil, "", fmt.Errorf("%w: no badge of user %q in the roster (give submission_id)", ErrUnknownBadge, req.UserID)
		}
		keys := make([]string, len(subs))
		for i, s := range subs {
			keys[i] = lockoutKey(s)
		}
		return keys, req.UserID, nil
	}
	key, ok := unlockKey(req.SubmissionID)
	if !ok {
		return nil, "", inputErr(ErrInvalidIdentity, "unlock body", "submission_id", "is not a submission id")
	}
	return []string{key}, "", nil
}

// SiteUnlock is another gate's verified cmd/unlock (mqtt.Unlock).
type SiteUnlock struct {
	// Key is the lockout key; Nonce the command's, applied once.
	Key, Nonce, By, Reason string
	// Issued is the signed time; Received when this gate got it.
	Issued, Received time.Time
	// Listed: from the sender's unlock list, maybe long after it was sent.
	Listed bool
}

// SiteUnlock applies another gate's verified cmd/unlock (cmd/facegate's
// site wire calls it), once per nonce. It clears up to the end of the
// earlier of the second it was issued by the sender's clock and the
// second this gate received it: a sender whose clock is fast (max_skew
// lets a command be up to 30 s ahead) must not hide the failures this
// gate hears after the unlock. A listed unlock (u.Listed) has no arrival:
// it clears up to listedUnlockMargin before the earlier of its second and
// this gate's clock, and leaves the failures stamped ahead of the clock
// (they may be after it); one issued the horizon or longer ago is not
// applied (every failure it could clear is past the horizon), nor ever
// one issued more than the margin ahead of the clock (when it was made is
// unknown here). It reports whether the unlock was applied.
func (k *Kiosk) SiteUnlock(u SiteUnlock) (Unlocked, bool) {
	issued := u.Issued
	if u.Received.Before(issued) {
		issued = u.Received
	}
	source, upTo := unlockSite, unlockEnd(issued)
	if u.Listed {
		source = unlockSiteList
		now, per := k.now(), k.settings().policy.LivenessLockout.Per
		if now.Sub(u.Issued) >= lockoutHorizon(per) {
			return Unlocked{}, false
		}
		if ahead := u.Issued.Sub(now); ahead > listedUnlockMargin {
			// The clocks are further apart than the margin allows for:
			// when the unlock was made is unknown here, so it is never
			// applied (its nonce is kept: a later read, once this
			// clock has passed its second, does not apply it either).
			first, err := k.pad.refuse(u.Nonce)
			if err != nil {
				k.lockoutNotSaved(err, "read this refused unlock again after a restart, and refuse it again")
			}
			if first {
				k.log.Warn("listed liveness unlock of another gate issued ahead of this gate's clock: not applied; unlock at this gate",
					"key", u.Key[:min(12, len(u.Key))], "issued", u.Issued, "ahead", ahead.Round(time.Second))
			}
			return Unlocked{}, false
		}
		upTo = unlockEnd(minTime(u.Issued, now)).Add(-listedUnlockMargin)
	}
	out, applied := k.clearLockoutOnce(unlockArgs{key: u.Key, upTo: upTo, nonce: u.Nonce, listed: u.Listed}, "", source, u.By, u.Reason)
	return out, applied
}

// clearLockout forgets a.key's failures up to a.upTo, writes the audit
// line, logs and counts it.
func (k *Kiosk) clearLockout(a unlockArgs, user, source, by, reason string) Unlocked {
	u, _ := k.clearLockoutOnce(a, user, source, by, reason)
	return u
}

// clearLockoutOnce is clearLockout, doing nothing when a.nonce was
// applied before (applied false).
func (k *Kiosk) clearLockoutOnce(a unlockArgs, user, source, by, reason string) (Unlocked, bool) {
	key := a.key
	p := k.settings().policy.LivenessLockout
	now := k.now()
	cleared, was, applied, err := k.pad.unlockWith(a, now, p.Max, p.Per)
	if !applied {
		k.log.Debug("liveness unlock of another gate applied before", "source", source, "key", key[:12], "nonce", a.nonce)
		return Unlocked{}, false
	}
	k.attempts.forgetLockoutKey(key)
	u := Unlocked{WasLocked: was, Cleared: cleared}
	rec := unlockRecord{Kind: AuditKindUnlock, TS: record.Timestamp(now), Site: k.site, Gate: k.gate, SubmissionID: "sha256:" + key,
		UserID: user, Source: source, By: by, Note: reason, WasLocked: was, Cleared: cleared}
	if k.privacy == record.PrivacyOmit {
		rec.SubmissionID = ""
	}
	if aerr := k.audit.write(rec); aerr != nil {
		k.metrics.auditFailures.Inc()
		k.log.Error("audit log write failed", "unlock", key[:12], "err", aerr)
		u.Detail = joinDetail(u.Detail, "not written to the audit log ("+aerr.Error()+")")
		// Another gate's unlock has no one to read its detail.
		k.alert(AlertRecordFailed, "the audit record of a liveness unlock ("+source+") could not be written: "+clip(aerr.Error()), "")
	}
	if err != nil {
		k.lockoutNotSaved(err, "count the failures this unlock cleared again")
		u.Detail = joinDetail(u.Detail, "cleared in memory but not saved ("+err.Error()+"): a restart would lock the identity again")
	}
	k.lockoutChanged()
	k.metrics.livenessUnlocks.WithLabelValues(source).Inc()
	k.log.Warn("liveness lockout cleared by an operator", "source", source, "key", key[:12], "by", by, "reason", clip(reason),
		"was_locked", was, "failures_cleared", cleared)
	return u, true
}

// joinDetail adds b to the details a, once.
func joinDetail(a, b string) string {
	switch {
	case b == "" || slices.Contains(strings.Split(a, "; "), b):
		return a
	case a == "":
		return b
	}
	return a + "; " + b
}

// serveUnlock is POST /api/liveness/unlock, guarded as POST /api/open is
// (kiosk.open: this machine only, its rate and its token): whoever may open
// the gate may give a worker back their tries.
func (k *Kiosk) serveUnlock(w http.ResponseWriter, r *http.Request) {
	body, ok := k.openGuard(w, r, unlockGuardTexts)
	if !ok {
		return
	}
	req, err := ParseUnlockRequest(body)
	var u Unlocked
	if err == nil {
		u, err = k.Unlock(req)
	}
	if err != nil {
		k.answerSession(w, err, apiAnswer{})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		Unlocked
	}{"unlocked", u})
}
