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
