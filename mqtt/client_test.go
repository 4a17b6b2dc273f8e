package mqtt

import (
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/broker"
)

func TestPublishEventsInOrder(t *testing.T) {
	rec := newRecorder()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription("facegate/#", rec.handle))
	c, err := New(testOptions(t, b.URL()))
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	const n = 200
	for i := 1; i <= n; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "all events", func() bool { return rec.distinct() == n })
	waitFor(t, 5*time.Second, "outbox drained", func() bool { return c.OutboxDepth() == 0 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, ev := range rec.events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: out of order", i, ev.Seq)
		}
	}
	if got := rec.events[0].SubmissionID; got[:7] != "sha256:" {
		t.Errorf("submission_id = %q, want the hash by default", got)
	}
	if got := rec.retained["facegate/site/gate/status"]; got != "online" {
		t.Errorf("status = %q, want online", got)
	}
}
