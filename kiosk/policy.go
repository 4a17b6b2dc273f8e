package kiosk

import (
	"sync"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/kiosk/config"
)

// scoreChecks lists the local score minimums in reason-code order.
func scoreChecks(min config.MinScores, s faceauth.Scores) []string {
	var reasons []string
	for _, c := range []struct {
		name  string
		min   float64
		score *float64
	}{
		{"face_similarity", min.FaceSimilarity, s.FaceSimilarity},
		{"occluded", min.Occluded, s.Occluded},
		{"face_cover", min.FaceCover, s.FaceCover},
		{"head_cover", min.HeadCover, s.HeadCover},
	} {
		switch {
		case c.min <= 0:
		case c.score == nil:
			reasons = append(reasons, c.name+suffixMissing)
		case *c.score < c.min:
			reasons = append(reasons, c.name+suffixBelowMinimum)
		}
	}
	return reasons
}

// passback remembers when each worker was last granted. It is in memory:
// a restart forgets (documented), which errs towards letting a worker in
// with a fresh face check rather than locking them out.
type passback struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// check reports whether key was granted within window before now.
func (p *passback) check(key string, now time.Time, window time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.last[key]
	return ok && now.Sub(t) < window
}

// grant records a grant and forgets entries older than window.
func (p *passback) grant(key string, now time.Time, window time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	for k, t := range p.last {
		if now.Sub(t) >= window {
			delete(p.last, k)
		}
	}
	p.last[key] = now
}

// attempts is a sliding-window counter of sessions per worker.
type attempts struct {
	mu   sync.Mutex
	seen map[string][]time.Time
}

// allow records an attempt at now and reports whether it is within max per
// window; a refused attempt is not recorded (waiting frees the worker).
func (a *attempts) allow(key string, now time.Time, max int, per time.Duration) bool {
	if max <= 0 {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[string][]time.Time{}
	}
	for k, ts := range a.seen {
		kept := ts[:0]
		for _, t := range ts {
			if now.Sub(t) < per {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			delete(a.seen, k)
		} else {
			a.seen[k] = kept
		}
	}
	if len(a.seen[key]) >= max {
		return false
	}
	a.seen[key] = append(a.seen[key], now)
	return true
}

// wait is how long until key may make another attempt (0: now).
func (a *attempts) wait(key string, now time.Time, max int, per time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var recent []time.Time
	for _, t := range a.seen[key] {
		if now.Sub(t) < per {
			recent = append(recent, t)
		}
	}
	if len(recent) < max {
		return 0
	}
	return recent[len(recent)-max].Add(per).Sub(now)
}
