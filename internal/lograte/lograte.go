// Package lograte keeps a line that repeats (a refused message from a
// flooding client, a bouncing contact, a broken peer) from filling the
// journal for as long as its cause lasts: the first of each kind is
// logged, then at most one an interval, carrying how many were held back;
// the rest go to debug.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter decides per kind of line (a key the caller chooses: a topic and
// a reason, a peer and a reason). The zero value is not usable: New.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	last time.Time // when one was last logged
	held int       // held back since
}

// MaxKinds bounds the kinds a Limiter remembers: a flood of new keys (one
// per made-up peer name) shares one kind past it.
const MaxKinds = 256

// overflowKey is the kind past MaxKinds.
const overflowKey = "\x00other"

// New is a Limiter that logs a kind at most once every every (with now
// the clock; nil: time.Now).
func New(every time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, now: now, kinds: map[string]*kind{}}
}

// Allow reports whether a line of kind key may be logged now and, when it
// may, how many of that kind were held back since the last one logged. A
// nil Limiter lets every line through.
func (l *Limiter) Allow(key string) (ok bool, held int) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[key]
	if k == nil {
		if len(l.kinds) >= MaxKinds {
			l.prune(now)
		}
		if len(l.kinds) >= MaxKinds {
			key = overflowKey
			k = l.kinds[key]
		}
		if k == nil {
			l.kinds[key] = &kind{last: now}
			return true, 0
		}
	}
	if now.Sub(k.last) < l.every && now.Sub(k.last) >= 0 {
		k.held++
		return false, 0
	}
	held = k.held
	k.last, k.held = now, 0
	return true, held
}

// prune forgets the kinds not seen for two intervals with nothing held
// back (their next line is a first again).
func (l *Limiter) prune(now time.Time) {
	for key, k := range l.kinds {
		if k.held == 0 && now.Sub(k.last) >= 2*l.every {
			delete(l.kinds, key)
		}
	}
}

// Log logs msg with args at level when Allow lets a line of key through,
// with "repeated" (the lines held back since the last) when there were
// any; otherwise at debug.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) {
	ok, held := l.Allow(key)
	switch {
	case !ok:
		level = slog.LevelDebug
	case held > 0:
		args = append(args, "repeated", held, "repeated_over", l.every.String())
	}
	log.Log(context.Background(), level, msg, args...)
}
