// Package cputime reads this process's CPU time for benchmarks whose
// budgets are CPU, not wall time (a shared machine's load stretches wall
// time; OpenCV's threads hide CPU in it).
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Process is the CPU time (user and system, every thread: OpenCV's and
// the Go runtime's too) the process has used so far. It fails tb when the
// kernel cannot say, rather than report a budget met on a zero.
func Process(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("cputime: getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Timer is the process's CPU time over a benchmark's loop.
type Timer struct {
	b     *testing.B
	start time.Duration
}

// Start resets b's timer (the setup before it is not timed) and starts
// counting the process's CPU time.
func Start(b *testing.B) *Timer {
	b.Helper()
	b.ResetTimer()
	return &Timer{b: b, start: Process(b)}
}

// Used is the CPU time since Start.
func (t *Timer) Used() time.Duration { return Process(t.b) - t.start }

// Milliseconds is Used in milliseconds.
func (t *Timer) Milliseconds() float64 { return float64(t.Used()) / float64(time.Millisecond) }

// ReportPerOp adds the CPU time per operation to b's results, as cpu-ms/op.
func (t *Timer) ReportPerOp() {
	t.b.ReportMetric(t.Milliseconds()/float64(t.b.N), "cpu-ms/op")
}
