package mqtt

import (
	"testing"
	"time"
)

// A retained value the broker drops the connection at is held back after
// refusedAfter failures in a row, at that size and above, for refusedHold;
// a small value (an alert) never is, and an acknowledged publish clears it.
func TestRefusedTopicsHoldBackOnlyLargeValuesForAWhile(t *testing.T) {
	var r refusedTopics
	at := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	big := refusedMinSize + 1
	for i := 0; i < 10; i++ {
		if r.fail("alert", 200, at) || r.skip("alert", 200, at) {
			t.Fatal("a small value was held back")
		}
	}
	for i := 1; i <= refusedAfter; i++ {
		if held := r.fail("snapshot", big, at); held != (i == refusedAfter) {
			t.Fatalf("failure %d: held %v", i, held)
		}
	}
	steps := []struct {
		after time.Duration
		size  int
		skip  bool
	}{
		{0, big, true},
		{0, big + 1000, true},
		{0, big - 1, false}, // smaller than what failed: tried
		{refusedHold - time.Second, big, true},
		{refusedHold + time.Second, big, false}, // tried again
		{refusedHold + 2*time.Second, big, false},
	}
	for i, s := range steps {
		if got := r.skip("snapshot", s.size, at.Add(s.after)); got != s.skip {
			t.Errorf("step %d: skip %v, want %v", i, got, s.skip)
		}
	}
	for i := 0; i < refusedAfter-1; i++ {
		r.fail("snapshot", big, at)
	}
	r.ok("snapshot")
	if r.fail("snapshot", big, at) {
		t.Fatal("an acknowledged publish did not clear the count")
	}
}
