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

// TestTimerReportsCPUPerOp: a benchmark that spins 2 ms of CPU an op
// reports about that as cpu-ms/op.
func TestTimerReportsCPUPerOp(t *testing.T) {
	spin := func(d time.Duration) {
		for start := Process(t); Process(t)-start < d; {
		}
	}
	r := testing.Benchmark(func(b *testing.B) {
		cpu := Start(b)
		for i := 0; i < b.N; i++ {
			spin(2 * time.Millisecond)
		}
		cpu.ReportPerOp()
	})
	got := r.Extra["cpu-ms/op"]
	if got < 1 || got > 20 {
		t.Fatalf("%.2f cpu-ms/op for 2 ms of spinning an op, want 1 to 20", got)
	}
}
