package cputime

import (
	"testing"
	"time"
)

// TestProcessCountsBusyWork: spinning adds CPU time (20 ms of it within
// 10 s of wall time, however loaded the machine), and the reading never
// goes back.
func TestProcessCountsBusyWork(t *testing.T) {
	before := Process(t)
	last := before
	deadline := time.Now().Add(10 * time.Second)
	for last-before < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of spinning read as %v of CPU", last-before)
		}
		now := Process(t)
		if now < last {
			t.Fatalf("CPU time went back from %v to %v", last, now)
		}
		last = now
	}
}
