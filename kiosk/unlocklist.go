package kiosk

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The unlock list: a gate that issues an unlock keeps the signed
// cmd/unlock (LockoutSite.ShareUnlock gives it) for per, and the site
// transport publishes those it holds retained (SharedUnlocks). A gate that
// missed the command (away from the broker for longer than max_skew, its
// session lost, or the sender could only sign it) gets it from that list
// when it reads the peers' lists, and applies it once (its nonce is kept
// in the unlock's mark) up to the unlock's own second, leaving the
// failures stamped ahead of its clock: they may have come after it.

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

// share keeps cmd, the signed unlock of key issued at issued, for the
// unlock list (replacing an older one of key: the newer clears more), and
// saves the memory.
func (p *padState) share(key string, issued time.Time, cmd []byte, now time.Time, per time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shared == nil {
		p.shared = map[string]sharedUnlock{}
	}
	if old, ok := p.shared[key]; ok && old.Issued.After(issued) {
		return nil
	}
	p.shared[key] = sharedUnlock{Issued: issued, Cmd: string(cmd)}
	p.pruneShared(now, per)
	return p.save()
}

// pruneShared forgets the shared unlocks issued per or longer ago (a
// failure they clear no longer counts), and the oldest past
// maxSharedUnlocks (called with mu held).
func (p *padState) pruneShared(now time.Time, per time.Duration) {
	for k, u := range p.shared {
		if now.Sub(u.Issued) >= per {
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

// sharedList is the shared unlocks younger than per, oldest first (by
// issue, then key): the same memory gives the same list.
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
// lockout's per, oldest first, for its retained unlock list (nil when
// the lockout is off or none).
func (k *Kiosk) SharedUnlocks() [][]byte {
	p := k.settings().policy.LivenessLockout
	if p.Max <= 0 {
		return nil
	}
	return k.pad.sharedList(k.now(), p.Per)
}
