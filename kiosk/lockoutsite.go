package kiosk

import (
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/record"
)

// The site-wide lockout: with zones on, every gate hears every gate's
// decision events (cmd/facegate forwards them here), and a liveness failure
// at another gate counts towards this gate's lockout of the same identity.
// An attacker then gets policy.liveness_lockout.max tries at the site, not
// that many at each of its gates.

// maxPeerFailureAhead is how far ahead of this gate's clock a peer's
// failure may be stamped and still count: it counts as now until its time
// passes, so it locks its identity for per plus up to this much.
const maxPeerFailureAhead = time.Minute

// peerAlertSlack: a peer's failure that locks an identity alerts here
// when this gate's own newest failure is at most this much older than the
// newest of them. An event is stamped after its failure was saved (up to
// tens of ms later), so two gates failing the same identity within it
// both alert rather than neither.
const peerAlertSlack = time.Second

// PeerEvent takes a decision event of another gate of the site and counts
// it towards the lockout when it is a liveness failure that gate counted
// (liveness_failed or liveness_no_turn, not in shadow mode) of an
// identity it published (plain or hashed; mqtt.submission_id: omit
// publishes none). It reports whether the failure was added: this gate's
// own events, other events, a failure already counted (QoS 1 delivers at
// least once) and one older than the memory's horizon add nothing. An
// added failure is saved before PeerEvent returns, or at most
// peerSaveEvery later when the file was just written; a save error is
// logged and alerted as state_dir, as for this gate's own failures.
//
// A peer's failure that locks the identity here raises the lockout alert
// only when this gate's own newest failure is within peerAlertSlack of the
// newest of them: the gate of the newest failure alerts, whether its own
// failure or a peer's older one that reached it later made the count (two
// gates' failures crossing in flight). Elsewhere the peer raised it.
func (k *Kiosk) PeerEvent(ev record.Event) bool {
	if ev.Gate == k.gate && ev.Site == k.site {
		return false // counted when it was decided
	}
	key, ok := peerFailureKey(ev)
	if !ok {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, ev.TS)
	if err != nil {
		return false
	}
	now := k.now()
	if at.Sub(now) > maxPeerFailureAhead {
		k.log.Warn("liveness failure of another gate stamped ahead of this gate's clock: not counted towards the lockout",
			"gate", ev.Gate, "event_id", ev.EventID, "ts", ev.TS, "ahead", at.Sub(now).Round(time.Second))
		return false
	}
	p := k.settings().policy.LivenessLockout
	added, lockedOut, alert, err := k.pad.peer(key, at.Add(gateOffset(ev.Gate)), now, p.Max, p.Per)
	if err != nil {
		k.lockoutNotSaved(err, "forget this failure")
	}
	if alert {
		k.alert(AlertLivenessLockout, lockoutAlertMessage(p.Max, p.Per, ev.UserID, " at the site, the newest at this gate"), "")
	}
	if added {
		k.metrics.livenessPeers.Inc()
		k.log.Info("liveness failure at another gate counted towards the lockout",
			"gate", ev.Gate, "event_id", ev.EventID, "user_id", ev.UserID, "locked_out", lockedOut)
	}
	return added
}

// gateOffset is below a millisecond and fixed per gate name. Events are
// stamped to the millisecond and a peer's failure is known again by its
// time: added to the time, it keeps two gates' failures of one identity
// in the same millisecond apart (a delivery again still has the same).
func gateOffset(gate string) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(gate))
	return time.Duration(h.Sum32()%uint32(time.Millisecond/time.Nanosecond)) * time.Nanosecond
}

// lockoutAlertMessage is the liveness_lockout alert's text; where says
// where the failures were ("" for this gate).
func lockoutAlertMessage(max int, per time.Duration, user, where string) string {
	return "identity locked out after " + strconv.Itoa(max) + " liveness failures within " + per.String() + where + " (user " + clip(user) +
		"); after checking the person, lift it with POST /api/liveness/unlock"
}

// lockoutNotSaved logs and alerts a failed save of the lockout memory;
// lost says what a restart would then undo.
func (k *Kiosk) lockoutNotSaved(err error, lost string) {
	k.log.Error("liveness lockout memory not saved", "err", err, "lost_on_restart", lost)
	k.alert("state_dir", "liveness lockout memory could not be saved (a restart would "+lost+"): "+err.Error(), "")
}

// peerFailureKey is the lockout key of a peer's event when the event is a
// counted liveness failure with an identity.
func peerFailureKey(ev record.Event) (string, bool) {
	l := ev.Liveness
	if ev.Decision != record.DecisionDenied || l == nil || l.Shadow || l.Live ||
		!slices.ContainsFunc(ev.Reason, func(r string) bool { return r == ReasonLivenessFailed || r == ReasonLivenessNoTurn }) {
		return "", false
	}
	return submissionKey(ev.SubmissionID)
}

// submissionKey is the lockout key of a submission id as events carry it
// and operators copy it: plain, or "sha256:<hex>" in either case
// (privacy: hash publishes the very hash lockoutKey makes); false for ""
// and a malformed hash.
func submissionKey(id string) (string, bool) {
	if h, hashed := strings.CutPrefix(id, "sha256:"); hashed {
		h = strings.ToLower(h)
		return h, validPassbackKey(h)
	}
	if id == "" {
		return "", false
	}
	return lockoutKey(id), true
}

// peer adds a failure another gate counted at at, unless it is already
// there (the same time: a delivery again), older than the memory's
// horizon or cleared by an unlock, and reports whether it was added, whether the identity is
// locked out at now with it, and whether this gate alerts: the failure
// locked it and this gate's own newest failure is within peerAlertSlack of
// the newest. An added failure is saved (savePeer).
func (p *padState) peer(key string, at, now time.Time, max int, per time.Duration) (added, lockedOut, alert bool, err error) {
	n, locked, alerts, err := p.peers([]peerFailure{{key, at}}, now, max, per)
	return n == 1, len(locked) == 1, len(alerts) == 1, err
}

// peerFailure is a failure another gate counted: its lockout key and its
// time (the event's stamp plus the gate's offset).
type peerFailure struct {
	key string
	at  time.Time
}

// peers adds failures as peer adds each, under one lock, bounding the
// memory once at the end (a peer's list may hold thousands). It returns
// how many were added and kept, and of the identities they name those
// locked out at now and those this gate alerts for (peer's rule), sorted.
func (p *padState) peers(fs []peerFailure, now time.Time, max int, per time.Duration) (added int, locked, alerts []string, err error) {
	if max <= 0 || len(fs) == 0 {
		return 0, nil, nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails == nil {
		p.fails, p.own = map[string][]time.Time{}, map[string]time.Time{}
	}
	horizon := lockoutHorizon(per)
	was := map[string]bool{}          // locked out before, by identity named
	tried := map[string][]time.Time{} // the failures added, by identity
	for _, f := range fs {
		ts := p.recent(f.key, now, horizon)
		if _, seen := was[f.key]; !seen {
			was[f.key] = lockedBy(ts, now, max, per)
		}
		if now.Sub(f.at) >= horizon || slices.ContainsFunc(ts, f.at.Equal) || p.unlockedBefore(f.key, f.at, now) {
			continue
		}
		ts = append(slices.Clone(ts), f.at)
		slices.SortFunc(ts, time.Time.Compare)
		if n := keptTimes(max); len(ts) > n {
			ts = ts[len(ts)-n:]
		}
		p.fails[f.key] = ts
		tried[f.key] = append(tried[f.key], f.at)
	}
	if len(p.fails) > maxLockoutIdentities {
		for k := range p.fails {
			p.recent(k, now, horizon)
		}
		p.bound(now, max, per)
	}
	for _, key := range slices.Sorted(maps.Keys(was)) {
		ts := p.fails[key]
		for _, at := range tried[key] {
			// Older than the failures kept, or its identity forgotten
			// (bound): not added.
			if slices.ContainsFunc(ts, at.Equal) {
				added++
			}
		}
		if !lockedBy(ts, now, max, per) {
			continue
		}
		locked = append(locked, key)
		if own, ok := p.own[key]; !was[key] && ok && !own.Before(ts[len(ts)-1].Add(-peerAlertSlack)) {
			alerts = append(alerts, key)
		}
	}
	if added > 0 {
		err = p.savePeer()
	}
	return added, locked, alerts, err
}
