package kiosk

import (
	"sync"
	"time"
)

// challengeMemory keeps, per identity, the direction of a challenge whose
// check could not decide (it could not run: the face was lost, too few
// frames), so that the identity's next challenge asks the same way. Such
// a check is not counted towards the lockout, so that a worker who
// stepped away tries again; but an attacker with a replay that turns one
// way could pull it away whenever the arrow asked the other, and try
// again until it matched. Kept in memory only, per gate.
type challengeMemory struct {
	mu      sync.Mutex
	pending map[string]pendingChallenge // by lockoutKey
}

type pendingChallenge struct {
	dir string
	at  time.Time // when it was last shown
}

// maxPendingChallenges bounds the memory; the oldest go first.
const maxPendingChallenges = maxLockoutIdentities

// next is the direction of id's challenge at now: the one last shown to
// id, if its check did not decide and it was shown less than keep ago,
// else a new one from pick. No id: always pick.
func (m *challengeMemory) next(id string, now time.Time, keep time.Duration, pick func() string) string {
	if id == "" {
		return pick()
	}
	key := lockoutKey(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		m.pending = map[string]pendingChallenge{}
	}
	p, ok := m.pending[key]
	if !ok || !within(p.at, now, keep) {
		p.dir = pick()
	}
	p.at = now
	m.pending[key] = p
	m.bound(now, keep)
	return p.dir
}

// decided forgets id's pending direction: its check failed, or passed for
// a face the API approved.
func (m *challengeMemory) decided(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, lockoutKey(id))
}

// bound drops the directions shown keep or more ago, then the oldest,
// down to maxPendingChallenges (called with mu held).
func (m *challengeMemory) bound(now time.Time, keep time.Duration) {
	if len(m.pending) <= maxPendingChallenges {
		return
	}
	for k, p := range m.pending {
		if !within(p.at, now, keep) {
			delete(m.pending, k)
		}
	}
	for len(m.pending) > maxPendingChallenges {
		var oldest string
		var at time.Time
		for k, p := range m.pending {
			if oldest == "" || p.at.Before(at) {
				oldest, at = k, p.at
			}
		}
		delete(m.pending, oldest)
	}
}

// within reports whether at is less than d from now, either way (a clock
// stepped back puts it ahead).
func within(at, now time.Time, d time.Duration) bool {
	diff := now.Sub(at)
	return diff < d && -diff < d
}
