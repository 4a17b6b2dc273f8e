package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/internal/atomicfile"
	"github.com/facegate/facegate/internal/jsonobj"
)

// padState is the kiosk's liveness memory: whether the challenge is on
// the screen, and recent failures per identity. The failures are also kept
// in path (rewritten atomically at each failure, before the denial is
// returned) so that a restart does not give an attacker fresh tries.
type padState struct {
	showing atomic.Bool
	mu      sync.Mutex
	// fails holds failure times keyed by lockoutKey(submission id): the
	// raw id is never stored, in memory or on disk.
	fails map[string][]time.Time
	// own is, per key, the newest failure this gate counted itself (saved
	// with the failures): a peer's failure that locks an identity alerts
	// here only when this gate's failure is about the newest of them
	// (peerAlertSlack), and only identities without one are forgotten for
	// peers' failures (bound).
	own map[string]time.Time
	// unlocked is, per key, what the newest unlock cleared (an operator
	// cleared the failures, here or at another gate): a peer's failure it
	// cleared that arrives again or late does not count again. Kept until
	// those failures are past the horizon.
	unlocked map[string]unlockMark
	// stamped is, per key, this gate's counted failures as its decision
	// events stamped them (record.Timestamp): the list it publishes for
	// the gates that missed those events (PeerFailures). Saved with the
	// failures; cleared by unlocks like them.
	stamped map[string][]time.Time
	// shared is, per key, the signed cmd/unlock this gate issued last
	// (its unlock list, for the gates that miss the command). Saved with
	// the failures; kept for the horizon.
	shared map[string]sharedUnlock
	// applied are the nonces of the site unlocks applied here (and of
	// this gate's own), oldest first, at most maxAppliedNonces, with
	// appliedSet their index: a command that comes again, live or in a
	// gate's unlock list, is not applied twice. Bounded by count, not by
	// time: a clock step must not forget them.
	applied    []string
	appliedSet map[string]bool
	// path is the lockout file; "" keeps the memory in RAM only.
	path string
	// write saves the file; nil uses atomicfile.Write (tests inject a
	// full disk).
	write func(path string, data []byte, perm fs.FileMode) error
	// clock is Deps.Now, read by save (onWallNow); nil uses time.Now.
	clock func() time.Time
	// pick chooses the challenge; nil uses math/rand/v2 (tests set it).
	pick func() string
	// undecided: the direction of a challenge that could not decide is
	// asked again (challengeFor).
	undecided challengeMemory
	// lastSave is when the file was last written; pendingSave a deferred
	// save of peers' failures (savePeer), whose error goes to
	// onSaveError.
	lastSave time.Time
	// savedOn is the clock reading the last save put the failures on the
	// wall clock with (onWallNow); resaveAfterStep compares it with now.
	savedOn     time.Time
	pendingSave *time.Timer
	// saveFailed: the last save failed (and was reported).
	saveFailed  bool
	onSaveError func(error)
	// stopped: the kiosk stopped, so a peer's failure is saved at once
	// (nothing flushes a deferred save any more).
	stopped bool
}

// Lockout file: <state_dir>/kiosk/liveness-lockout.json.
const (
	lockoutFileName = "liveness-lockout.json"
	lockoutFormat   = "facegate-liveness-lockout"
	// maxLockoutIdentities bounds the file (and memory): past it
	// identities are forgotten (bound).
	maxLockoutIdentities = 10000
	// maxLockoutTimes is the most failures kept per identity
	// (policy.liveness_lockout.max is at most 100; keptTimes).
	maxLockoutTimes = 100
)

// lockoutFile is the on-disk form: hashed ids only, never raw ones. Own
// (since 2026-12-06, omitted when empty) is the newest failure this gate
// counted itself, of the identities that have one; Unlocked (since
// 2026-12-06, omitted when empty) what the unlocks of each identity
// cleared (unlockMark); Stamped (since 2026-12-06, omitted when empty)
// this gate's failures as its events stamped them (padState.stamped);
// Shared and Applied (since 2026-12-07, omitted when empty) the signed
// unlocks this gate issued (padState.shared) and the nonces of the site
// unlocks applied (padState.applied).
type lockoutFile struct {
	Format   string                  `json:"format"`
	Version  int                     `json:"version"`
	Failures map[string][]time.Time  `json:"failures"`
	Own      map[string]time.Time    `json:"own,omitempty"`
	Unlocked map[string]unlockMark   `json:"unlocked,omitempty"`
	Stamped  map[string][]time.Time  `json:"stamped,omitempty"`
	Shared   map[string]sharedUnlock `json:"shared,omitempty"`
	Applied  []string                `json:"applied,omitempty"`
}

// unlockMark is what an unlock cleared: every failure stamped up to
// Until, and the ones stamped ahead of the clock then (a peer with a fast
// clock: known, so before the unlock, however late their stamps).
type unlockMark struct {
	Until time.Time   `json:"until"`
	Ahead []time.Time `json:"ahead,omitempty"`
	// Nonces is only read: the files of 203628c..ac1084a kept the site
	// unlocks applied here; open moves them to padState.applied.
	Nonces []string `json:"nonces,omitempty"`
}

// maxMarkNonces bounds the nonces an older release kept in one unlock
// mark (unlockMark.Nonces, its own limit).
const maxMarkNonces = 16

// maxAppliedNonces bounds padState.applied; maxNonceBytes a nonce.
const (
	maxAppliedNonces = 4096
	maxNonceBytes    = 64
)

// clears reports whether a failure at at is one the unlock cleared.
func (m unlockMark) clears(at time.Time) bool {
	return !at.After(m.Until) || slices.ContainsFunc(m.Ahead, at.Equal)
}

// newest is the newest failure time the mark holds.
func (m unlockMark) newest() time.Time {
	t := m.Until
	for _, a := range m.Ahead {
		if a.After(t) {
			t = a
		}
	}
	return t
}

// lockoutKey is the SHA-256 hex of a submission id, the hash the audit
// log's privacy: hash writes after its "sha256:" prefix.
func lockoutKey(submissionID string) string { return passbackKey(submissionID) }

// decodeOne decodes exactly one JSON object into v, refusing unknown
// fields (the lockout file, a peer's failure list; jsonobj.Decode).
func decodeOne(b []byte, v any) error {
	if err := jsonobj.Decode(b, v, jsonobj.DisallowUnknownFields()); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// parseLockout decodes a lockout file: the failures, this gate's own
// newest ones and the unlocks. Anything that is not exactly what save
// writes is an error: the caller sets the file aside.
func parseLockout(b []byte) (lockoutFile, error) {
	var f lockoutFile
	if err := decodeOne(b, &f); err != nil {
		return lockoutFile{}, err
	}
	if f.Format != lockoutFormat || f.Version != 1 {
		return lockoutFile{}, fmt.Errorf("format %q version %d, want %q version 1", clip(f.Format), f.Version, lockoutFormat)
	}
	if f.Failures == nil {
		f.Failures = map[string][]time.Time{}
	}
	for k, ts := range f.Failures {
		if !validPassbackKey(k) {
			return lockoutFile{}, fmt.Errorf("key %q is not a sha256", clip(k))
		}
		if len(ts) == 0 || len(ts) > maxLockoutTimes {
			return lockoutFile{}, fmt.Errorf("key %s: %d failure times, want 1..%d", k[:8], len(ts), maxLockoutTimes)
		}
		for _, t := range ts {
			if t.IsZero() {
				return lockoutFile{}, fmt.Errorf("key %s: zero failure time", k[:8])
			}
		}
	}
	for k, t := range f.Own {
		if _, ok := f.Failures[k]; !ok || t.IsZero() {
			return lockoutFile{}, fmt.Errorf("own failure of key %q: not a key with failures, or a zero time", clip(k))
		}
	}
	if len(f.Unlocked) > maxLockoutIdentities {
		return lockoutFile{}, fmt.Errorf("%d unlocks, want at most %d", len(f.Unlocked), maxLockoutIdentities)
	}
	for k, m := range f.Unlocked {
		if !validPassbackKey(k) || m.Until.IsZero() || len(m.Ahead) > maxLockoutTimes || len(m.Nonces) > maxMarkNonces || slices.ContainsFunc(m.Ahead, time.Time.IsZero) {
			return lockoutFile{}, fmt.Errorf("unlock of key %q: not a sha256, a zero time, more than %d times or more than %d nonces", clip(k), maxLockoutTimes, maxMarkNonces)
		}
	}
	if len(f.Applied) > maxAppliedNonces || slices.ContainsFunc(f.Applied, func(n string) bool { return n == "" || len(n) > maxNonceBytes }) {
		return lockoutFile{}, fmt.Errorf("applied unlocks: more than %d nonces, or one empty or over %d bytes", maxAppliedNonces, maxNonceBytes)
	}
	if err := checkShared(f.Shared); err != nil {
		return lockoutFile{}, err
	}
	if len(f.Stamped) > maxLockoutIdentities {
		return lockoutFile{}, fmt.Errorf("%d identities stamped, want at most %d", len(f.Stamped), maxLockoutIdentities)
	}
	for k, ts := range f.Stamped {
		if !validPassbackKey(k) || len(ts) == 0 || len(ts) > maxLockoutTimes || slices.ContainsFunc(ts, time.Time.IsZero) {
			return lockoutFile{}, fmt.Errorf("stamped failures of key %q: not a sha256, or not 1..%d non-zero times", clip(k), maxLockoutTimes)
		}
	}
	return f, nil
}

// open loads path into the memory, keeping the failures younger than
// lockoutHorizon and at most maxLockoutIdentities (bound, by the lockout
// max within per). A missing file is an empty memory; a
// corrupt or unreadable one is moved aside (<path>.corrupt-<time>) and the
// memory starts empty: the returned error says so, for the operator.
func (p *padState) open(path string, now time.Time, max int, per time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.path, p.fails, p.own, p.unlocked, p.stamped = path, map[string][]time.Time{}, map[string]time.Time{}, map[string]unlockMark{}, map[string][]time.Time{}
	p.shared, p.applied, p.appliedSet = map[string]sharedUnlock{}, nil, map[string]bool{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var f lockoutFile
	if err == nil {
		f, err = parseLockout(b)
	}
	if err != nil {
		aside, rerr := atomicfile.SetAside(path, now)
		if rerr != nil {
			return fmt.Errorf("liveness lockout memory %s: %w; moving it aside failed: %v; started empty", path, err, rerr)
		}
		return fmt.Errorf("liveness lockout memory %s: %w; kept as %s, started empty", path, err, aside)
	}
	p.fails = f.Failures
	if f.Own != nil {
		p.own = f.Own
	}
	if f.Unlocked != nil {
		p.unlocked = f.Unlocked
		for k, m := range p.unlocked {
			for _, n := range m.Nonces {
				p.addApplied(n)
			}
			m.Nonces = nil
			p.unlocked[k] = m
		}
	}
	if f.Stamped != nil {
		p.stamped = f.Stamped
		for k, ts := range p.stamped {
			slices.SortFunc(ts, time.Time.Compare)
			p.stampsWithin(k, now, lockoutHorizon(per))
		}
	}
	if f.Shared != nil {
		p.shared = f.Shared
	}
	for _, n := range f.Applied {
		p.addApplied(n)
	}
	p.pruneUnlocked(now, lockoutHorizon(per))
	for k, ts := range p.fails {
		// Files before 2026-12-06 kept a clock step's order.
		slices.SortFunc(ts, time.Time.Compare)
		p.recent(k, now, lockoutHorizon(per))
	}
	p.bound(now, max, per)
	return nil
}

// challengeFor is the direction of id's challenge at now: the one asked
// last, when its check could not decide and it was shown less than keep
// ago (challengeMemory), else a new one at random.
func (p *padState) challengeFor(id string, now time.Time, keep time.Duration) string {
	return p.undecided.next(id, now, keep, p.challenge)
}

func (p *padState) challenge() string {
	if p.pick != nil {
		return p.pick()
	}
	if rand.IntN(2) == 0 {
		return "left"
	}
	return "right"
}

// locked reports whether id is locked out at now: a failure less than
// per ago was the max-th within per. A lockout lasts per from the failure
// that made it, not per from the first of the max (which would unlock an
// identity seconds after its alert).
func (p *padState) locked(id string, now time.Time, max int, per time.Duration) bool {
	if max <= 0 || id == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return lockedBy(p.recent(lockoutKey(id), now, lockoutHorizon(per)), now, max, per)
}

// lockedBy is locked's rule on one identity's failure times (left
// as they are): some failure less than per before now was the max-th within
// per. A time ahead of now (a clock stepped back) counts as now. With the
// lockout off (max 0) nothing is locked.
func lockedBy(fails []time.Time, now time.Time, max int, per time.Duration) bool {
	if max <= 0 {
		return false
	}
	ts := slices.Clone(fails)
	for i, t := range ts {
		if t.After(now) {
			ts[i] = now
		}
	}
	slices.SortFunc(ts, time.Time.Compare) // a clock stepped back appends out of order
	for j := len(ts) - 1; j >= max-1 && now.Sub(ts[j]) < per; j-- {
		if ts[j].Sub(ts[j-max+1]) < per {
			return true
		}
	}
	return false
}

// lockoutHorizon is how long failures are remembered: a lockout made by
// max failures within per lasts per after the last of them, so the first
// matters until twice per.
func lockoutHorizon(per time.Duration) time.Duration { return 2 * per }

// fail records a failure and reports whether the identity is locked
// out by it (locked's rule at now: this failure made the count, and the
// identity was not locked before it — a peer's failure may have locked it
// while this gate's check ran, and that peer alerted). With a path
// the memory is saved before fail returns; a save error is returned but
// the failure counts in memory all the same (the denial stands).
func (p *padState) fail(id string, now time.Time, max int, per time.Duration) (lockedOut bool, err error) {
	if max <= 0 || id == "" {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails == nil {
		p.fails = map[string][]time.Time{}
	}
	if p.own == nil {
		p.own = map[string]time.Time{}
	}
	key := lockoutKey(id)
	before := p.recent(key, now, lockoutHorizon(per))
	was := lockedBy(before, now, max, per)
	p.own[key] = now // before store: bound keeps identities this gate saw fail
	ts := p.store(key, append(slices.Clone(before), now), now, max, per)
	return lockedBy(ts, now, max, per) && !was, p.save()
}

// keptTimes is how many of an identity's newest failures decide locked's
// rule for max: when max of them fall within per of now the newest max
// do, else the at most max-1 that do and the max-1 before them.
func keptTimes(max int) int {
	if max <= 0 || 2*max > maxLockoutTimes {
		return maxLockoutTimes
	}
	return 2 * max
}

// store keeps ts as key's failures, sorted (a peer's failure may be
// stamped ahead of this gate's clock) and trimmed to the newest
// keptTimes(max), and bounds the memory; it returns what it kept, nil
// when bound forgot key itself (called with mu held).
func (p *padState) store(key string, ts []time.Time, now time.Time, max int, per time.Duration) []time.Time {
	slices.SortFunc(ts, time.Time.Compare)
	if n := keptTimes(max); len(ts) > n {
		ts = ts[len(ts)-n:]
	}
	p.fails[key] = ts
	if len(p.fails) > maxLockoutIdentities {
		for k := range p.fails {
			p.recent(k, now, lockoutHorizon(per))
		}
		p.bound(now, max, per)
	}
	return p.fails[key]
}

// bound forgets identities until at most maxLockoutIdentities are left.
// Those only peers saw fail go first, the one whose newest failure is
// oldest (a time ahead of now counting as now) each time: a flood of
// made-up failures from the site's events can then crowd out other
// peers' failures, never one this gate counted itself. Only when every
// identity has a failure of this gate's are those forgotten, the ones
// not locked out first (called with mu held).
func (p *padState) bound(now time.Time, max int, per time.Duration) {
	if excess := len(p.fails) - maxLockoutIdentities; excess > boundOneByOne {
		// Many at once (a peer's list): sorted once, not searched for each.
		p.forgetOldestPeerOnly(now, excess)
	}
	for len(p.fails) > maxLockoutIdentities {
		victim, ok := p.oldestPeerOnly(now)
		if !ok {
			p.boundOwn(now, max, per)
			return
		}
		p.forget(victim)
	}
}

// boundOneByOne: up to this many identities over the bound are searched
// for one at a time (an event: one); more are sorted.
const boundOneByOne = 16

// forgetOldestPeerOnly forgets up to n identities without a failure of
// this gate's, in oldestPeerOnly's order (called with mu held).
func (p *padState) forgetOldestPeerOnly(now time.Time, n int) {
	type entry struct {
		key    string
		newest time.Time
	}
	es := make([]entry, 0, len(p.fails))
	for k, ts := range p.fails {
		if newest, ok := p.peerOnlyNewest(k, ts, now); ok {
			es = append(es, entry{k, newest})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := a.newest.Compare(b.newest); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for _, e := range es[:min(n, len(es))] {
		p.forget(e.key)
	}
}

// peerOnlyNewest is the newest of an identity's failures ts (a time
// ahead of now counting as now), false when this gate counted one of
// them itself (called with mu held).
func (p *padState) peerOnlyNewest(key string, ts []time.Time, now time.Time) (time.Time, bool) {
	if _, own := p.own[key]; own {
		return time.Time{}, false
	}
	if newest := ts[len(ts)-1]; newest.Before(now) {
		return newest, true
	}
	return now, true
}

// oldestPeerOnly is the identity without a failure of this gate's whose
// newest failure is oldest (ties: the smaller key).
func (p *padState) oldestPeerOnly(now time.Time) (string, bool) {
	var victim string
	var oldest time.Time
	found := false
	for k, ts := range p.fails {
		newest, ok := p.peerOnlyNewest(k, ts, now)
		if !ok {
			continue
		}
		if c := newest.Compare(oldest); !found || c < 0 || (c == 0 && k < victim) {
			victim, oldest, found = k, newest, true
		}
	}
	return victim, found
}

// boundOwn forgets identities, all with failures of this gate's, the ones
// not locked out at now first, each group oldest newest failure first.
func (p *padState) boundOwn(now time.Time, max int, per time.Duration) {
	type entry struct {
		key    string
		locked bool
		newest time.Time
	}
	es := make([]entry, 0, len(p.fails))
	for k, ts := range p.fails {
		es = append(es, entry{k, lockedBy(ts, now, max, per), ts[len(ts)-1]})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.locked != b.locked {
			if a.locked {
				return 1
			}
			return -1
		}
		return a.newest.Compare(b.newest)
	})
	for _, e := range es[:len(es)-maxLockoutIdentities] {
		p.forget(e.key)
	}
}

func (p *padState) forget(key string) {
	delete(p.fails, key)
	delete(p.own, key)
	delete(p.stamped, key)
}

// save writes the memory to path (called with mu held).
func (p *padState) save() error {
	if p.path == "" {
		return nil
	}
	// This gate's own failures carry the monotonic reading of when they
	// were counted: saved on the wall clock as it reads now (onWallNow),
	// so a clock step since then (NTP setting a Pi that booted on its
	// saved time) does not make them older or younger after a restart.
	now := time.Now()
	if p.clock != nil {
		now = p.clock()
	}
	fails := make(map[string][]time.Time, len(p.fails))
	for k, ts := range p.fails {
		w := make([]time.Time, len(ts))
		for i, t := range ts {
			w[i] = onWallNow(t, now)
		}
		fails[k] = w
	}
	own := make(map[string]time.Time, len(p.own))
	for k, t := range p.own {
		own[k] = onWallNow(t, now)
	}
	b, err := json.Marshal(lockoutFile{Format: lockoutFormat, Version: 1, Failures: fails, Own: own, Unlocked: p.unlocked, Stamped: p.stamped, Shared: p.shared, Applied: p.applied})
	if err != nil {
		return fmt.Errorf("encode liveness lockout memory: %w", err)
	}
	write := p.write
	if write == nil {
		write = atomicfile.Write
	}
	if p.pendingSave != nil { // this save holds what it waited for
		p.pendingSave.Stop()
		p.pendingSave = nil
	}
	err = write(p.path, b, 0o600)
	// After the write: a slow disk must not turn the coalescing off.
	p.lastSave, p.saveFailed = time.Now(), err != nil
	if err == nil {
		p.savedOn = now
	}
	if err != nil {
		return fmt.Errorf("save liveness lockout memory: %w", err)
	}
	return nil
}

// peerSaveEvery: a peer's failure is saved at once, unless the file was
// written less than this ago; then at most this long after that write. A
// flood of peers' failures (made up, or a backlog after an outage) then
// writes the file a few times a second, not once per failure, and does
// not hold the site's other messages behind its fsyncs.
const peerSaveEvery = 200 * time.Millisecond

// savePeer saves after a peer's failure was added: at once, or deferred
// (called with mu held).
func (p *padState) savePeer() error {
	if p.path == "" {
		return nil
	}
	wait := peerSaveEvery - time.Since(p.lastSave)
	if p.stopped || p.lastSave.IsZero() || wait <= 0 {
		return p.save()
	}
	if p.pendingSave == nil {
		p.pendingSave = time.AfterFunc(wait, p.flush)
	}
	return nil
}

// flush writes a deferred save now (at its time); a save error goes to
// onSaveError.
func (p *padState) flush() { p.flushOr(false) }

// flushOr is flush, saving also when retry says so.
func (p *padState) flushOr(retry bool) {
	p.mu.Lock()
	var err error
	if p.pendingSave != nil || retry {
		err = p.save()
	}
	report := p.onSaveError
	p.mu.Unlock()
	if err != nil && report != nil {
		report(err)
	}
}

// stop writes a deferred save now, or tries once more a save that
// failed, and every later peer's failure at once: the kiosk stopped, but
// the site's events may still arrive.
func (p *padState) stop() {
	p.mu.Lock()
	p.stopped = true
	retry := p.saveFailed
	p.mu.Unlock()
	p.flushOr(retry)
}

// resaveAfterStep saves the memory again when the wall clock stepped
// since the last save (now, a clock reading with its monotonic part): the
// file holds this gate's failures on the wall clock as it read then, and
// a restart before any other save would read them as older (a forward
// step: fresh tries) or younger than they are. The kiosk calls it at every
// self-test and at its stop; a save error goes to onSaveError.
func (p *padState) resaveAfterStep(now time.Time) {
	p.mu.Lock()
	var err error
	if p.path != "" && !p.savedOn.IsZero() && len(p.fails)+len(p.own) > 0 {
		if clockStepped(p.savedOn, now) {
			err = p.save()
		}
	}
	report := p.onSaveError
	p.mu.Unlock()
	if err != nil && report != nil {
		report(err)
	}
}

// recent prunes key's failures older than horizon, and its own newest
// failure with them (called with mu held).
func (p *padState) recent(key string, now time.Time, horizon time.Duration) []time.Time {
	ts := p.fails[key]
	// Sorted: the expired ones lead.
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= horizon {
		i++
	}
	keep := ts[i:]
	if len(keep) == 0 {
		p.forget(key)
		return nil
	}
	p.fails[key] = keep
	if t, ok := p.own[key]; ok && now.Sub(t) >= horizon {
		delete(p.own, key) // only peers' failures are left
	}
	return keep
}

// unlockEnd is the end of the second of an unlock issued at issued: every
// gate clears the failures up to it. The signed cmd/unlock carries its
// time in whole seconds, and the gate that sends it clears the same span.
func unlockEnd(issued time.Time) time.Time {
	return time.Unix(issued.Unix(), 0).Add(time.Second - time.Nanosecond)
}

// unlock clears key's failures up to upTo (an operator checked the
// person), and those stamped ahead of now (a peer with a fast clock: they
// are known, so they came before the unlock), and remembers both, so that
// a peer's failure it cleared, delivered again or late, does not count
// again. It reports how many failures were cleared and whether the
// identity was locked out at now. The memory
// is saved before unlock returns; a save error is returned, the memory is
// changed all the same.
func (p *padState) unlock(key string, upTo, now time.Time, max int, per time.Duration) (cleared int, wasLocked bool, err error) {
	cleared, wasLocked, _, err = p.unlockWith(unlockArgs{key: key, upTo: upTo}, now, max, per)
	return cleared, wasLocked, err
}

// unlockArgs is what unlockWith clears.
type unlockArgs struct {
	key  string
	upTo time.Time
	// nonce names a site unlock: one this memory applied already is not
	// applied again.
	nonce string
	// listed: an unlock from another gate's unlock list. It arrives late,
	// so the failures stamped ahead of the clock stay (they may be after
	// it); it is saved as a peer's failure is (savePeer: a full list of
	// them costs one write, not one each; a crash before the write
	// applies it again from the list).
	listed bool
}

// unlockWith is unlock with a.nonce and a.listed; applied is false
// when the nonce was applied before (then nothing changes).
func (p *padState) unlockWith(a unlockArgs, now time.Time, max int, per time.Duration) (cleared int, wasLocked, applied bool, err error) {
	key := a.key
	// upTo is a wall-clock time (the unlock's second); this gate's own
	// failures carry the process's monotonic reading. Taken from now, upTo
	// gets one too, so that after a clock step the failures counted before
	// the unlock are still before it (a step back would otherwise leave
	// them "after" it by the wall clock, and keep the worker locked out).
	// The mark keeps the wall-clock time.
	upTo := now.Add(a.upTo.Sub(now))
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.nonce != "" && p.appliedSet[a.nonce] {
		return 0, false, false, nil
	}
	if p.fails == nil {
		p.fails, p.own = map[string][]time.Time{}, map[string]time.Time{}
	}
	if p.unlocked == nil {
		p.unlocked = map[string]unlockMark{}
	}
	if p.stamped == nil {
		p.stamped = map[string][]time.Time{}
	}
	horizon := lockoutHorizon(per)
	ts := p.recent(key, now, horizon)
	wasLocked = max > 0 && lockedBy(ts, now, max, per)
	var ahead []time.Time
	keep := slices.DeleteFunc(slices.Clone(ts), func(t time.Time) bool {
		if t.After(upTo) && t.After(now) && !a.listed {
			ahead = append(ahead, t)
			return true
		}
		return !t.After(upTo)
	})
	cleared = len(ts) - len(keep)
	if st := slices.DeleteFunc(p.stamped[key], func(t time.Time) bool { return !t.After(upTo) || (t.After(now) && !a.listed) }); len(st) > 0 {
		p.stamped[key] = st
	} else {
		delete(p.stamped, key)
	}
	if len(keep) == 0 {
		p.forget(key)
	} else {
		p.fails[key] = keep
		if t, ok := p.own[key]; ok && !slices.ContainsFunc(keep, t.Equal) {
			delete(p.own, key) // this gate's newest failure was cleared
		}
	}
	m := unlockMark{Until: a.upTo, Ahead: ahead} // the wall clock: what peers' stamps are compared with
	if prev, ok := p.unlocked[key]; ok && !prev.Until.After(now.Add(maxPeerFailureAhead)) {
		// An earlier unlock's marks still hold (it was not made before a
		// clock step back).
		if prev.Until.After(m.Until) {
			m.Until = prev.Until
		}
		for _, a := range prev.Ahead {
			if a.After(m.Until) && !slices.ContainsFunc(m.Ahead, a.Equal) && len(m.Ahead) < maxLockoutTimes {
				m.Ahead = append(m.Ahead, a)
			}
		}
	}
	p.addApplied(a.nonce)
	p.unlocked[key] = m
	p.pruneUnlocked(now, horizon)
	if a.listed {
		return cleared, wasLocked, true, p.savePeer()
	}
	return cleared, wasLocked, true, p.save()
}

// addApplied remembers nonce as applied, forgetting the oldest past
// maxAppliedNonces (called with mu held; "" and repeats add nothing).
func (p *padState) addApplied(nonce string) {
	if nonce == "" || len(nonce) > maxNonceBytes || p.appliedSet[nonce] {
		return
	}
	if p.appliedSet == nil {
		p.appliedSet = map[string]bool{}
	}
	p.applied = append(p.applied, nonce)
	p.appliedSet[nonce] = true
	if len(p.applied) > maxAppliedNonces {
		delete(p.appliedSet, p.applied[0])
		p.applied = slices.Delete(p.applied, 0, 1)
	}
}

// unlockedBefore reports whether a failure at at was cleared by an unlock
// of key. An unlock more than maxPeerFailureAhead ahead of now was made
// before the clock stepped back: it is forgotten, else it would hide the
// peers' failures for as long as the step (called with mu held).
func (p *padState) unlockedBefore(key string, at, now time.Time) bool {
	m, ok := p.unlocked[key]
	if ok && m.Until.Sub(now) > maxPeerFailureAhead {
		delete(p.unlocked, key)
		return false
	}
	return ok && m.clears(at)
}

// pruneUnlocked forgets the unlocks whose cleared failures are all past
// horizon (a peer's failure that old is not counted anyway), and the
// oldest past maxLockoutIdentities (called with mu held).
func (p *padState) pruneUnlocked(now time.Time, horizon time.Duration) {
	for k, m := range p.unlocked {
		if now.Sub(m.newest()) >= horizon {
			delete(p.unlocked, k)
		}
	}
	for len(p.unlocked) > maxLockoutIdentities {
		var oldest string
		var at time.Time
		for k, m := range p.unlocked {
			if t := m.newest(); oldest == "" || t.Before(at) || (t.Equal(at) && k < oldest) {
				oldest, at = k, t
			}
		}
		delete(p.unlocked, oldest)
	}
}

// stamp remembers at, the time this gate's decision event stamped a
// failure it counted of key, for the list it publishes (stamped). The
// failure itself was saved by fail; the stamp is saved as a peer's
// failure is (savePeer), so a crash within peerSaveEvery leaves it out
// of the list, not out of the lockout. After a failed save (reported
// with the failure) the stamp waits for the next save.
func (p *padState) stamp(key string, at, now time.Time, max int, per time.Duration) error {
	if max <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stamped == nil {
		p.stamped = map[string][]time.Time{}
	}
	ts := p.stampsWithin(key, now, lockoutHorizon(per))
	if slices.ContainsFunc(ts, at.Equal) || p.unlockedBefore(key, at, now) {
		// An unlock between the failure and its event cleared it.
		return nil
	}
	ts = append(slices.Clone(ts), at)
	slices.SortFunc(ts, time.Time.Compare)
	if n := keptTimes(max); len(ts) > n {
		ts = ts[len(ts)-n:]
	}
	p.stamped[key] = ts
	for len(p.stamped) > maxLockoutIdentities {
		var oldest string
		for k, kt := range p.stamped {
			if oldest == "" || kt[len(kt)-1].Before(p.stamped[oldest][len(p.stamped[oldest])-1]) {
				oldest = k
			}
		}
		delete(p.stamped, oldest)
	}
	if p.saveFailed {
		return nil
	}
	return p.savePeer()
}

// stampsWithin prunes key's stamps older than horizon (called with mu
// held).
func (p *padState) stampsWithin(key string, now time.Time, horizon time.Duration) []time.Time {
	ts := p.stamped[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= horizon {
		i++
	}
	if i == len(ts) {
		delete(p.stamped, key)
		return nil
	}
	p.stamped[key] = ts[i:]
	return ts[i:]
}

// stampedList is this gate's failures as its events stamped them,
// younger than the horizon, by key (a copy).
func (p *padState) stampedList(now time.Time, per time.Duration) map[string][]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]time.Time{}
	for k := range p.stamped {
		if ts := p.stampsWithin(k, now, lockoutHorizon(per)); len(ts) > 0 {
			out[k] = slices.Clone(ts)
		}
	}
	return out
}
