package kiosk

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/internal/jsonobj"
)

// scoreChecks lists the local score minimums in reason-code order.
func scoreChecks(min MinScores, s faceauth.Scores) []string {
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
		// Written so that an unknown or malformed value denies: NaN fails
		// every comparison, so each case asks "is it good?", never "is it bad?".
		switch {
		case c.min == 0:
		case c.score == nil:
			reasons = append(reasons, c.name+suffixMissing)
		case !(*c.score >= c.min && *c.score <= 100):
			reasons = append(reasons, c.name+suffixBelowMinimum)
		}
	}
	return reasons
}

// passback remembers when each worker was last granted, keyed by a hash
// of the submission id. With a path it is also kept on disk (rewritten
// atomically at each grant) so that a restart within the window still
// refuses a second entry.
type passback struct {
	mu   sync.Mutex
	path string // "" keeps it in memory only
	last map[string]time.Time
	// savedOn is the clock reading the last save put the grants on the
	// wall clock with (onWallNow; resaveAfterStep).
	savedOn time.Time
}

// passbackFile is the on-disk form: hashed ids only, never raw ones.
type passbackFile struct {
	Granted map[string]time.Time `json:"granted"`
}

// passbackSkew is how far ahead of the clock a remembered grant may be
// and still count: more means the clock was stepped back (a Pi without a
// clock battery booting before NTP), and the grant is ignored rather than
// locking the worker out for however far the clock moved.
const passbackSkew = time.Minute

// openPassback loads path (missing: nothing remembered yet).
func openPassback(path string) (*passback, error) {
	p := &passback{path: path, last: map[string]time.Time{}}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("read anti-passback memory: %w", err)
	}
	var f passbackFile
	if err := jsonobj.Decode(b, &f); err != nil {
		return nil, fmt.Errorf("anti-passback memory %s is corrupt: fix or delete it: %w", path, err)
	}
	for k, t := range f.Granted {
		if !validPassbackKey(k) {
			return nil, fmt.Errorf("anti-passback memory %s is corrupt (key %q is not a sha256): fix or delete it", path, clip(k))
		}
		p.last[k] = t
	}
	return p, nil
}

func passbackKey(submissionID string) string {
	sum := sha256.Sum256([]byte(submissionID))
	return hex.EncodeToString(sum[:])
}

func validPassbackKey(k string) bool {
	b, err := hex.DecodeString(k)
	return err == nil && len(b) == sha256.Size
}

// check reports whether submissionID was granted within window before now.
func (p *passback) check(submissionID string, now time.Time, window time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.last[passbackKey(submissionID)]
	age := now.Sub(t)
	return ok && age >= -passbackSkew && age < window
}

// grant records a grant, forgets entries outside window and saves the
// rest; an error means only the copy on disk is stale.
func (p *passback) grant(submissionID string, now time.Time, window time.Duration) error {
	return p.grantKey(passbackKey(submissionID), now, now, window)
}

// grantKey is grant of a key already hashed (passbackKey's form) made at
// at, which may be earlier than now (a grant recovered at start).
func (p *passback) grantKey(key string, at, now time.Time, window time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	for k, t := range p.last {
		if age := now.Sub(t); age >= window || age < -passbackSkew {
			delete(p.last, k)
		}
	}
	if t, ok := p.last[key]; !ok || at.After(t) {
		p.last[key] = at
	}
	return p.save(now)
}

// resaveAfterStep saves the memory again when the wall clock stepped since
// the last save (now, a clock reading with its monotonic part): a restart
// before the next grant would read the grants as older (a forward step:
// the window let a passed-back badge in) or younger than they are.
func (p *passback) resaveAfterStep(now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.savedOn.IsZero() || len(p.last) == 0 {
		return nil
	}
	if clockStepped(p.savedOn, now) {
		return p.save(now)
	}
	return nil
}

// save writes the memory (called with mu held).
func (p *passback) save(now time.Time) error {
	if p.path == "" {
		return nil
	}
	f := passbackFile{Granted: make(map[string]time.Time, len(p.last))}
	for k, t := range p.last {
		// Wall clock only: it must mean the same after a restart. Taken
		// through now, so a grant made before a clock step is saved at
		// the time it was made by the clock as it is now (a Pi booted on
		// its saved time, then set by NTP).
		f.Granted[k] = onWallNow(t, now)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode anti-passback memory: %w", err)
	}
	if err := writeFileAtomic(p.path, append(b, '\n')); err != nil {
		return err
	}
	p.savedOn = now
	return nil
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

// forgetLockoutKey forgets the attempts of the submission ids whose
// lockout key is key (an operator's unlock: the worker's next try must
// not be refused for the tries the lockout made them spend).
func (a *attempts) forgetLockoutKey(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.seen {
		if lockoutKey(id) == key {
			delete(a.seen, id)
		}
	}
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

// onWallNow is t on the wall clock as it reads at now, without a monotonic
// reading: for a t read in this process (time.Now, with a monotonic
// reading) its distance from now by the monotonic clock, so that a clock
// step between t and now does not move it; a t without one (read from a
// file or an event) is left as it is.
func onWallNow(t, now time.Time) time.Time {
	return now.Add(t.Sub(now)).Round(0).UTC()
}

// clockStepped reports whether the wall clock stepped by more than a
// second between since and now, two time.Now readings: the wall and the
// monotonic readings of the same interval differ by the step.
func clockStepped(since, now time.Time) bool {
	step := now.Round(0).Sub(since.Round(0)) - now.Sub(since)
	return step > time.Second || step < -time.Second
}
