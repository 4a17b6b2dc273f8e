package mqtt

import (
	"strconv"
	"testing"
)

// TestRetainedOverflowPublishesTheNewestValue: changes made faster than the
// broker takes them (while connected) overflow the queue; the publisher
// still ends with the newest value of every topic, never an older one.
func TestRetainedOverflowPublishesTheNewestValue(t *testing.T) {
	r := newRetainedStore()
	r.live = true // a connection publishes the queue
	const n = 3 * retainedQueue
	for i := 0; i < n; i++ {
		r.set("gate/state", []byte(strconv.Itoa(i)))
		r.set("gate/relay", []byte("r"+strconv.Itoa(i)))
	}
	if got := r.catchUp(); got != nil {
		t.Fatalf("catch-up with changes still queued: %v", got)
	}
	select {
	case <-r.resync:
	default:
		t.Fatal("overflow did not signal a resync")
	}
	broker := map[string]string{} // what a retained subscriber would see
	published := 0
	for len(r.updates) > 0 {
		m := <-r.updates
		broker[m.topic] = string(m.payload)
		published++
		for _, c := range r.catchUp() {
			broker[c.topic] = string(c.payload)
			published++
		}
	}
	want := map[string]string{"gate/state": strconv.Itoa(n - 1), "gate/relay": "r" + strconv.Itoa(n-1)}
	for topic, v := range want {
		if broker[topic] != v {
			t.Errorf("%s: broker keeps %q, want the newest %q", topic, broker[topic], v)
		}
	}
	if published != retainedQueue+2 {
		t.Errorf("published %d messages, want the %d queued changes and 2 catch-ups", published, retainedQueue)
	}
	if got := r.catchUp(); got != nil {
		t.Fatalf("second catch-up: %v", got)
	}
	// A change after the catch-up is queued again, in order.
	r.set("gate/state", []byte("later"))
	if m := <-r.updates; string(m.payload) != "later" {
		t.Fatalf("queued %q after catch-up", m.payload)
	}
}

// TestRetainedSnapshotClearsOverflow: a reconnect's snapshot already holds
// the newest values, so no catch-up repeats them.
func TestRetainedSnapshotClearsOverflow(t *testing.T) {
	r := newRetainedStore()
	for i := 0; i < retainedQueue+10; i++ {
		r.set("gate/door", []byte(strconv.Itoa(i)))
	}
	snap := r.snapshot()
	if len(snap) != 1 || string(snap[0].payload) != strconv.Itoa(retainedQueue+9) {
		t.Fatalf("snapshot %v", snap)
	}
	if got := r.catchUp(); got != nil {
		t.Fatalf("catch-up after snapshot: %v", got)
	}
}

// The alerts taken back after failed publishes are bounded like the queue.
func TestUnsentAlertsAreBounded(t *testing.T) {
	r := newRetainedStore()
	r.keepEvery("gate/alert")
	for i := range 3 * retainedQueue {
		r.failed(retainedMsg{"gate/alert", []byte(strconv.Itoa(i))})
	}
	if n := len(r.unsent); n != retainedQueue {
		t.Fatalf("%d alerts kept, want at most %d", n, retainedQueue)
	}
	if got := string(r.unsent[len(r.unsent)-1].payload); got != strconv.Itoa(3*retainedQueue-1) {
		t.Fatalf("newest kept %s", got)
	}
}
