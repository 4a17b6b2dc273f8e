package mqtt

import (
	"sync"
	"time"
)

// refusedTopics notices a retained value whose publish takes the
// connection down each time: a broker whose packet limit is smaller than
// the value (mosquitto's max_packet_size, EMQX's 1 MiB default against a
// large site's snapshot) closes the connection on it, and the gate
// reconnected and sent it again five times a second, for good. After
// refusedAfter failures in a row the topic is held back, at that size and
// above, for refusedHold; a smaller value goes out at once. Values under
// refusedMinSize are never held back: no broker limits packets that small,
// and an alert must not wait 10 minutes for a flaky link's three drops.
type refusedTopics struct {
	mu     sync.Mutex
	failed map[string]int      // consecutive failed publishes
	held   map[string]heldBack // topics held back
}

type heldBack struct {
	size  int       // the size that failed
	until time.Time // tried again after
}

const (
	refusedAfter   = 3
	refusedHold    = 10 * time.Minute
	refusedMinSize = 64 << 10
)

// skip reports whether a value of size bytes of topic is held back now.
func (r *refusedTopics) skip(topic string, size int, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.held[topic]
	if !ok {
		return false
	}
	if now.After(h.until) {
		delete(r.held, topic) // try it again (refusedAfter more failures hold it again)
		return false
	}
	return size >= h.size
}

// fail counts a failed publish of topic's value of size bytes and
// reports whether the topic is now held back.
func (r *refusedTopics) fail(topic string, size int, now time.Time) bool {
	if size < refusedMinSize {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed, r.held = map[string]int{}, map[string]heldBack{}
	}
	r.failed[topic]++
	if r.failed[topic] < refusedAfter {
		return false
	}
	delete(r.failed, topic)
	r.held[topic] = heldBack{size: size, until: now.Add(refusedHold)}
	return true
}

// ok clears topic's count after a publish the broker acknowledged.
func (r *refusedTopics) ok(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failed, topic)
	delete(r.held, topic)
}

// heldTopics lists the topics held back now, for the health.
func (r *refusedTopics) heldTopics(now time.Time) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for t, h := range r.held {
		if now.Before(h.until) {
			out[t] = h.size
		}
	}
	return out
}
