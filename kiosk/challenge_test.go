package kiosk

import (
	"fmt"
	"testing"
	"time"
)

// alternate returns a pick that answers left, right, left, ...
func alternate() func() string {
	n := 0
	return func() string {
		n++
		if n%2 == 1 {
			return "left"
		}
		return "right"
	}
}

func TestChallengeMemory(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	keep := 10 * time.Minute
	type step struct {
		id      string
		at      time.Duration // after t0
		decided bool          // the check after this challenge decided
		want    string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a decided check draws anew", []step{{"w", 0, true, "left"}, {"w", time.Minute, true, "right"}, {"w", 2 * time.Minute, false, "left"}}},
		{"an undecided check asks the same way again", []step{{"w", 0, false, "left"}, {"w", time.Minute, false, "left"}, {"w", 2 * time.Minute, true, "left"}, {"w", 3 * time.Minute, false, "right"}}},
		{"each undecided try keeps it for keep more", []step{{"w", 0, false, "left"}, {"w", 9 * time.Minute, false, "left"}, {"w", 18 * time.Minute, false, "left"}}},
		{"past keep it is drawn anew", []step{{"w", 0, false, "left"}, {"w", 10 * time.Minute, false, "right"}}},
		{"a clock stepped back keeps it", []step{{"w", 0, false, "left"}, {"w", -5 * time.Minute, false, "left"}}},
		{"identities apart", []step{{"w", 0, false, "left"}, {"v", time.Second, false, "right"}, {"w", 2 * time.Second, false, "left"}}},
		{"no id draws every time", []step{{"", 0, false, "left"}, {"", time.Second, false, "right"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m challengeMemory
			pick := alternate()
			for i, s := range tc.steps {
				if got := m.next(s.id, t0.Add(s.at), keep, pick); got != s.want {
					t.Fatalf("step %d: %s, want %s", i, got, s.want)
				}
				if s.decided {
					m.decided(s.id)
				}
			}
		})
	}
}

func TestChallengeMemoryBound(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var m challengeMemory
	pick := func() string { return "left" }
	for i := range maxPendingChallenges + 3 {
		m.next(fmt.Sprint("id-", i), t0.Add(time.Duration(i)*time.Millisecond), time.Hour, pick)
	}
	if len(m.pending) != maxPendingChallenges {
		t.Fatalf("%d kept, want %d", len(m.pending), maxPendingChallenges)
	}
	for _, id := range []string{"id-0", "id-1", "id-2"} {
		if _, ok := m.pending[lockoutKey(id)]; ok {
			t.Errorf("%s, among the oldest, kept", id)
		}
	}
	if _, ok := m.pending[lockoutKey(fmt.Sprint("id-", maxPendingChallenges+2))]; !ok {
		t.Error("the newest dropped")
	}
}
