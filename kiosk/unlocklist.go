package kiosk

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The unlock list: a gate that issues an unlock keeps the signed
// cmd/unlock (LockoutSite.ShareUnlock gives it) for the lockout's horizon,
// and the site transport publishes those it holds retained
// (SharedUnlocks). A gate that missed the command (away from the broker
// for longer than max_skew, its session lost, or the sender could not send
// it) gets it from that list when it reads the peers' lists, and applies
// it once (padState.applied keeps the nonces), up to listedUnlockMargin
// before the unlock's second, leaving the failures stamped ahead of its
// clock: they may have come after it.

// listedUnlockMargin: a listed unlock clears the failures stamped up to
// this long before its signed second (or before the reading gate's clock,
// when that is earlier). The live command clears up to its arrival, which
// bounds what a fast sender clock (or a slow reader's) can hide; a list
// read minutes later has no arrival, so the margin stands for it: with
// clocks up to this far apart, no failure counted after the unlock is
// cleared. The failures of the last 30 s before the unlock stay at a gate
// that learns it from the list.
const listedUnlockMargin = 30 * time.Second

// SignedUnlock is a cmd/unlock as this gate signed it: its nonce and the
// exact payload.
type SignedUnlock struct {
	Nonce string
	Cmd   []byte
}

const (
	// maxSharedUnlocks bounds the unlocks a gate keeps for its list (the
	// newest; mqtt.MaxListedUnlocks is the same number).
	maxSharedUnlocks = 256
	// maxSharedUnlockBytes bounds one signed command (mqtt.MaxOpenPayload
	// is 2048).
	maxSharedUnlockBytes = 4096
)

// sharedUnlock is a signed cmd/unlock this gate issued: Cmd is its exact
// payload.
type sharedUnlock struct {
	Issued time.Time `json:"issued"`
	Cmd    string    `json:"cmd"`
}

// checkShared validates the lockout file's shared unlocks.
func checkShared(shared map[string]sharedUnlock) error {
	if len(shared) > maxSharedUnlocks {
		return fmt.Errorf("%d shared unlocks, want at most %d", len(shared), maxSharedUnlocks)
	}
	for k, u := range shared {
		if !validPassbackKey(k) || u.Issued.IsZero() || u.Cmd == "" || len(u.Cmd) > maxSharedUnlockBytes {
			return fmt.Errorf("shared unlock of key %q: not a sha256, a zero time, or a command not 1..%d bytes", clip(k), maxSharedUnlockBytes)
		}
	}
	return nil
}

// share remembers s, this gate's signed unlock of key issued at issued:
// its nonce as applied (a copy of it must not apply here again), and
// with list the command for the unlock list, replacing an older one of
// key (the newer clears more). It saves the memory and reports whether
// the list holds s (not when an unlock of key issued later is there: the
// clock stepped back).
func (p *padState) share(key string, issued time.Time, s SignedUnlock, list bool, now time.Time, per time.Duration) (listed bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addApplied(s.Nonce)
	if p.shared == nil {
		p.shared = map[string]sharedUnlock{}
	}
	if old, ok := p.shared[key]; list && (!ok || !old.Issued.After(issued)) {
		p.shared[key] = sharedUnlock{Issued: issued, Cmd: string(s.Cmd)}
		listed = true
	}
	p.pruneShared(now, per)
	return listed && p.shared[key].Cmd == string(s.Cmd), p.save()
}

// pruneShared forgets the shared unlocks issued the lockout's horizon or
// longer ago (every failure they clear is past it: it counts no more, nor
// does a peer's), those issued more than listedUnlockMargin ahead (signed
// before this clock stepped back: their time was wrong, and a reader whose
// clock reaches it would clear what came after them), and the oldest past
// maxSharedUnlocks (called with mu held).
func (p *padState) pruneShared(now time.Time, per time.Duration) {
	for k, u := range p.shared {
		if now.Sub(u.Issued) >= lockoutHorizon(per) || u.Issued.Sub(now) > listedUnlockMargin {
			delete(p.shared, k)
		}
	}
	for len(p.shared) > maxSharedUnlocks {
		oldest := ""
		for k, u := range p.shared {
			if o, ok := p.shared[oldest]; !ok || u.Issued.Before(o.Issued) || (u.Issued.Equal(o.Issued) && k < oldest) {
				oldest = k
			}
		}
		delete(p.shared, oldest)
	}
}

// sharedList is the shared unlocks younger than the horizon, oldest
// first (by issue, then key): the same memory gives the same list.
func (p *padState) sharedList(now time.Time, per time.Duration) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneShared(now, per)
	keys := make([]string, 0, len(p.shared))
	for k := range p.shared {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := p.shared[a].Issued.Compare(p.shared[b].Issued); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var out [][]byte
	for _, k := range keys {
		out = append(out, []byte(p.shared[k].Cmd))
	}
	return out
}

// SharedUnlocks are the signed unlocks this gate issued within the
// lockout's horizon (twice per), oldest first, for its retained unlock
// list (nil when the lockout is off or none).
func (k *Kiosk) SharedUnlocks() [][]byte {
	p := k.settings().policy.LivenessLockout
	if p.Max <= 0 {
		return nil
	}
	return k.pad.sharedList(k.now(), p.Per)
}

// refuse remembers a listed unlock's nonce as handled without applying
// it, saved as a peer's failure is; it reports whether it was new.
func (p *padState) refuse(nonce string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if nonce == "" || p.appliedSet[nonce] {
		return false, nil
	}
	p.addApplied(nonce)
	return true, p.savePeer()
}

// minTime is the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
