package mqtt

import (
	"slices"
	"sync"
)

// retainedStore holds the newest value of each retained topic and a queue
// of changes, so that every change is published in order while connected
// and the newest values are republished on each connect. A change that
// does not fit in the queue (a slow broker while connected) marks its topic
// for a catch-up: once the queue is empty, the topic's newest value is
// published, so the broker never keeps an older value than the gate's.
type retainedStore struct {
	mu       sync.Mutex
	latest   map[string][]byte
	order    []string
	updates  chan retainedMsg
	overflow []string        // topics with a change the queue could not take, in order
	resync   chan struct{}   // a topic was added to overflow
	marked   map[string]bool // the topics in overflow
	// every names the topics each of whose values is news (the alert):
	// on connect their queued values go out in order, not only the newest.
	every map[string]bool
	// live: a connection publishes the queue (from its snapshot to its
	// end). While none does, a change of another topic is not queued: the
	// next snapshot sends its newest value anyway, and a flapping door
	// filled the queue until the alerts after it were lost.
	live bool
	// unsent: values of every topics taken from the queue whose publish
	// failed (the connection died under them), oldest first.
	unsent []retainedMsg
	// acked: per every topic, the value the broker last acknowledged. The
	// snapshot does not send it again: a retained publish reaches the
	// clients already subscribed as a live message (retain flag off), and
	// Home Assistant's event entity fired the old alert again at every
	// reconnect of the gate.
	acked map[string][]byte
}

type retainedMsg struct {
	topic   string
	payload []byte
}

// retainedQueue is how many retained changes wait for the publisher.
const retainedQueue = 256

func newRetainedStore() *retainedStore {
	return &retainedStore{latest: map[string][]byte{}, updates: make(chan retainedMsg, retainedQueue),
		resync: make(chan struct{}, 1), marked: map[string]bool{}, every: map[string]bool{}, acked: map[string][]byte{}}
}

// keepEvery makes topic one whose every value is news (see every).
func (r *retainedStore) keepEvery(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.every[topic] = true
}

// failed takes back m, taken from updates, whose publish failed: a value
// of an every topic goes out again at the next snapshot, before what was
// queued after it.
func (r *retainedStore) failed(m retainedMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.every[m.topic] {
		r.unsent = append(r.unsent, m)
		if n := len(r.unsent); n > retainedQueue { // bounded like the queue: the oldest go
			r.unsent = slices.Delete(r.unsent, 0, n-retainedQueue)
		}
	}
}

// delivered records that the broker acknowledged m (see acked).
func (r *retainedStore) delivered(m retainedMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.every[m.topic] {
		r.acked[m.topic] = m.payload
	}
}

// forgetAcked is called when the broker has no session of the gate: it
// lost its retained values too, and the acknowledged alert is sent again.
func (r *retainedStore) forgetAcked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.acked)
}

func (r *retainedStore) set(topic string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.latest[topic]; !ok {
		r.order = append(r.order, topic)
	}
	r.latest[topic] = payload
	if !r.live && !r.every[topic] {
		return
	}
	select {
	case r.updates <- retainedMsg{topic, payload}:
	default:
		if !r.marked[topic] {
			r.marked[topic] = true
			r.overflow = append(r.overflow, topic)
		}
		select {
		case r.resync <- struct{}{}:
		default:
		}
	}
}

// catchUp returns the newest values of the topics whose changes did not fit
// in the queue, once the queue is empty (nil before: what is still queued
// is older and would overwrite them).
func (r *retainedStore) catchUp() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) > 0 || len(r.overflow) == 0 {
		return nil
	}
	out := make([]retainedMsg, 0, len(r.overflow))
	for _, t := range r.overflow {
		out = append(out, retainedMsg{t, r.latest[t]})
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	return out
}

// snapshot drops queued changes and returns the newest values; queued
// changes made after it are newer and are published after it. A topic of
// every gets its queued values in order (ending with the newest): an alert
// raised during an outage is not lost to the next one (until 2026-12-07
// only the newest went out).
func (r *retainedStore) snapshot() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = true
	queued := map[string][][]byte{}
	for _, m := range r.unsent {
		queued[m.topic] = append(queued[m.topic], m.payload)
	}
	r.unsent = nil
	for len(r.updates) > 0 {
		m := <-r.updates
		if r.every[m.topic] {
			queued[m.topic] = append(queued[m.topic], m.payload)
		}
	}
	for _, t := range r.overflow {
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	out := make([]retainedMsg, 0, len(r.order))
	for _, t := range smallestFirst(r.order, r.latest) {
		q := queued[t]
		fresh := len(q) > 0 // values not yet sent
		if n := len(q); n > 0 && string(q[n-1]) == string(r.latest[t]) {
			q = q[:n-1]
		}
		for _, p := range q {
			out = append(out, retainedMsg{t, p})
		}
		if a, ok := r.acked[t]; ok && !fresh && string(a) == string(r.latest[t]) {
			continue // news already delivered (see acked)
		}
		out = append(out, retainedMsg{t, r.latest[t]})
	}
	return out
}

// smallestFirst is topics ordered by the size of their newest value,
// ties in their order: an alert or the health must not wait behind a
// site snapshot of megabytes that a slow uplink takes a minute to send,
// or that a broker's packet limit refuses by dropping the connection
// (until 2026-12-08 they went in the order first set, the snapshot
// before the alerts, and door_forced never got out).
func smallestFirst(topics []string, latest map[string][]byte) []string {
	out := slices.Clone(topics)
	slices.SortStableFunc(out, func(a, b string) int { return len(latest[a]) - len(latest[b]) })
	return out
}

// offline says that no connection publishes the queue any more (see live).
func (r *retainedStore) offline() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = false
}

// unpublished drops the queued changes and returns the newest value of
// each topic they (or the overflow) touched, in the order of their first
// change: what a stop still owes the broker.
func (r *retainedStore) unpublished() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []retainedMsg
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, retainedMsg{t, r.latest[t]})
		}
	}
	for len(r.updates) > 0 {
		add((<-r.updates).topic)
	}
	for _, t := range r.overflow {
		add(t)
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	return out
}

// get returns the newest value of topic (nil when none).
func (r *retainedStore) get(topic string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest[topic]
}
