package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/record"
)

// The failure list: every gate publishes (retained, <site_topic>/<gate>/site/lockout)
// the liveness failures it counted itself within the lockout's horizon,
// as its decision events stamped them. A gate that was not listening when
// those events went out (it joined the site later, its broker session or
// its inbound queue lost them) learns them from the lists on its next
// connect or resync. A list holds only what the events held, hashed: it
// can only add failures, like the events.

const (
	failureListFormat = "facegate-liveness-failures"
	// maxFailureListTimes bounds a list (a gate publishes its newest
	// failures up to it; a longer list is refused).
	maxFailureListTimes = maxLockoutIdentities
	// maxFailureListBytes refuses a larger payload before decoding it:
	// 10,000 identities with one stamp each are about 1 MB.
	maxFailureListBytes = record.MaxFailureListBytes
	// maxFailureListName bounds the site and gate names a list carries.
	maxFailureListName = 128
)

// failureList is the payload of <site_topic>/<gate>/site/lockout: lockout
// key (sha256 hex of the submission id) to the stamps (record.Timestamp)
// of the decision events that counted its failures at gate, oldest first.
type failureList struct {
	Format   string              `json:"format"`
	Version  int                 `json:"version"`
	Site     string              `json:"site"`
	Gate     string              `json:"gate"`
	Failures map[string][]string `json:"failures"`
}

// parseFailureList decodes a peer's list strictly: at most
// maxFailureListBytes, the format, version 1, a site and gate, keys in
// lower-case hex and at most maxFailureListTimes stamps in all, each
// exactly as record.Timestamp writes it, oldest first, none twice. It
// returns the stamps parsed, by key.
func parseFailureList(b []byte) (failureList, map[string][]time.Time, error) {
	if len(b) > maxFailureListBytes {
		return failureList{}, nil, fmt.Errorf("%d bytes, want at most %d", len(b), maxFailureListBytes)
	}
	var l failureList
	if err := decodeOne(b, &l); err != nil {
		return failureList{}, nil, err
	}
	if l.Format != failureListFormat || l.Version != 1 {
		return failureList{}, nil, fmt.Errorf("format %q version %d, want %q version 1", clip(l.Format), l.Version, failureListFormat)
	}
	if l.Site == "" || l.Gate == "" || len(l.Site) > maxFailureListName || len(l.Gate) > maxFailureListName {
		return failureList{}, nil, fmt.Errorf("site and gate must be 1..%d bytes", maxFailureListName)
	}
	if l.Failures == nil {
		return failureList{}, nil, errors.New("no failures object")
	}
	times := make(map[string][]time.Time, len(l.Failures))
	n := 0
	for k, ss := range l.Failures {
		if !validPassbackKey(k) || strings.ToLower(k) != k {
			return failureList{}, nil, fmt.Errorf("key %q is not a sha256 in lower-case hex", clip(k))
		}
		if n += len(ss); len(ss) == 0 || n > maxFailureListTimes {
			return failureList{}, nil, fmt.Errorf("key %s: %d stamps (%d so far), want 1 or more and at most %d in all", k[:8], len(ss), n, maxFailureListTimes)
		}
		ts := make([]time.Time, len(ss))
		for i, s := range ss {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || record.Timestamp(t) != s {
				return failureList{}, nil, fmt.Errorf("key %s: stamp %q is not a UTC time to the millisecond (2006-01-02T15:04:05.000Z)", k[:8], clip(s))
			}
			if i > 0 && !t.After(ts[i-1]) {
				return failureList{}, nil, fmt.Errorf("key %s: stamp %s is not after the one before it", k[:8], s)
			}
			ts[i] = t
		}
		times[k] = ts
	}
	return l, times, nil
}

// LockoutList encodes the failures this gate counted itself, younger than
// the lockout's horizon, for its retained <site_topic>/<gate>/site/lockout
// (the newest maxFailureListTimes). Nil when the lockout is off. The same
// memory gives the same bytes: the site transport publishes only changes.
func (k *Kiosk) LockoutList() []byte {
	p := k.settings().policy.LivenessLockout
	if p.Max <= 0 {
		return nil
	}
	stamps := k.pad.stampedList(k.now(), p.Per)
	type entry struct {
		key string
		at  time.Time
	}
	var all []entry
	for key, ts := range stamps {
		for _, t := range ts {
			all = append(all, entry{key, t})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return a.at.Compare(b.at) })
	if len(all) > maxFailureListTimes {
		all = all[len(all)-maxFailureListTimes:] // the newest
	}
	l := failureList{Format: failureListFormat, Version: 1, Site: k.site, Gate: k.gate, Failures: map[string][]string{}}
	for _, e := range all {
		l.Failures[e.key] = append(l.Failures[e.key], record.Timestamp(e.at))
	}
	b, err := json.Marshal(l)
	if err != nil {
		k.log.Error("liveness failure list not encoded", "err", err)
		return nil
	}
	return b
}

// PeerFailures takes another gate's failure list (its retained
// <site_topic>/<gate>/site/lockout) and counts each failure as PeerEvent
// counts the event that carried it: one already counted, older than the
// horizon, cleared by an unlock or stamped more than maxPeerFailureAhead
// ahead of this gate's clock adds nothing. It returns how many were
// added; an error says why the list was refused (a malformed list, or
// one of another site or gate than the topic's). This gate's own list
// adds nothing.
func (k *Kiosk) PeerFailures(gate string, payload []byte) (int, error) {
	if gate == k.gate {
		return 0, nil
	}
	l, times, err := parseFailureList(payload)
	if err != nil {
		return 0, fmt.Errorf("liveness failure list of gate %q: %w", clip(gate), err)
	}
	if l.Site != k.site || l.Gate != gate {
		return 0, fmt.Errorf("liveness failure list on gate %q's topic is of site %q gate %q", clip(gate), clip(l.Site), clip(l.Gate))
	}
	p := k.settings().policy.LivenessLockout
	now := k.now()
	ahead := 0
	var fs []peerFailure
	for _, key := range slices.Sorted(maps.Keys(times)) {
		for _, at := range times[key] {
			if at.Sub(now) > maxPeerFailureAhead {
				ahead++
				continue
			}
			fs = append(fs, peerFailure{key, at.Add(gateOffset(gate))})
		}
	}
	added, locked, alerts, err := k.pad.peers(fs, now, p.Max, p.Per)
	if err != nil {
		k.lockoutNotSaved(err, "forget the failures learnt from another gate's list")
	}
	if len(alerts) > 0 {
		users := k.settings().roster.usersByKey()
		for _, key := range alerts {
			k.alert(AlertLivenessLockout, lockoutAlertMessage(p.Max, p.Per, k.nameOfKey(key, users), " at the site, the newest at this gate"), "")
		}
	}
	if ahead > 0 {
		k.log.Warn("liveness failures of another gate stamped ahead of this gate's clock: not counted towards the lockout",
			"gate", gate, "failures", ahead)
	}
	if added > 0 {
		k.metrics.livenessPeers.Add(float64(added))
		k.log.Info("liveness failures of another gate learnt from its list and counted towards the lockout",
			"gate", gate, "failures", added, "identities_of_the_list_locked_out", len(locked))
	}
	return added, nil
}

// nameOfKey names an identity a list gives by its key alone: the
// roster's users of it, else its hash's first 12 digits (nothing with
// privacy omit).
func (k *Kiosk) nameOfKey(key string, users map[string][]string) string {
	switch {
	case len(users[key]) > 0:
		return strings.Join(users[key], ", ")
	case k.privacy == record.PrivacyOmit:
		return "not in the roster"
	}
	return "sha256:" + key[:12] + "…"
}

// stampFailure remembers the stamp of this gate's decision event that
// counted a liveness failure, for its failure list, and has the list
// published again.
func (k *Kiosk) stampFailure(ev record.Event) {
	key, ok := peerFailureKey(ev)
	if !ok {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, ev.TS)
	if err != nil {
		return
	}
	p := k.settings().policy.LivenessLockout
	if err := k.pad.stamp(key, at, k.now(), p.Max, p.Per); err != nil {
		k.lockoutNotSaved(err, "leave this failure out of the list the other gates learn from")
	}
	k.lockoutChanged()
}

// lockoutChanged has the failure list published again (zones on).
func (k *Kiosk) lockoutChanged() {
	if s := k.deps.LockoutSite; s != nil {
		s.LockoutChanged()
	}
}
