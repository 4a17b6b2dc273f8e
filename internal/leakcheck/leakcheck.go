// Package leakcheck lets a test prove that goroutines and open file
// descriptors come back to a baseline after many fault cycles: a daemon that
// leaks one of either per reconnect dies after months of uptime.
//
// Take a Snapshot (TakeSettled) after one warm-up cycle (the runtime's netpoller, paho's and
// net/http's first use open goroutines and fds once, which is not a leak), run
// the cycles, then call Check. Tests that use it must not call t.Parallel.
package leakcheck

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

func init() {
	// The runtime opens the netpoller's epoll and event fds at the first
	// timer or socket, once per process: here, so that no baseline taken
	// before them counts them as leaked later.
	time.Sleep(time.Microsecond)
}

// Snapshot is a count of goroutines and open file descriptors.
type Snapshot struct {
	Goroutines int
	// FDs is the number of entries in /proc/self/fd, or -1 where /proc is
	// absent (then only goroutines are checked).
	FDs int
}

// String is for logs: "12 goroutines, 9 fds".
func (s Snapshot) String() string {
	if s.FDs < 0 {
		return fmt.Sprintf("%d goroutines, fds not counted", s.Goroutines)
	}
	return fmt.Sprintf("%d goroutines, %d fds", s.Goroutines, s.FDs)
}

// Take counts the goroutines and open fds now.
func Take() Snapshot {
	return Snapshot{Goroutines: runtime.NumGoroutine(), FDs: countFDs()}
}

// TakeSettled is Take once the counts have stopped falling for 50ms (at
// most 5s): a baseline taken while goroutines of the warm-up are still
// exiting would be too high and hide as many leaked ones.
func TakeSettled() Snapshot {
	const quiet, most = 50 * time.Millisecond, 5 * time.Second
	low := Take()
	lowSince, deadline := time.Now(), time.Now().Add(most)
	for time.Since(lowSince) < quiet && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		runtime.GC()
		now := Take()
		if now.Goroutines < low.Goroutines || now.FDs < low.FDs {
			low, lowSince = Snapshot{min(now.Goroutines, low.Goroutines), min(now.FDs, low.FDs)}, time.Now()
		}
	}
	return low
}

// countFDs counts /proc/self/fd; the directory's own fd is in the count, the
// same in every snapshot.
func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// Options bound Settle. Zero values take the defaults written next to them.
type Options struct {
	// Goroutines and FDs are how many more than the baseline are accepted
	// (0: exactly the baseline or fewer). Slack must stay smaller than the
	// number of cycles, so that one leak per cycle still fails.
	Goroutines, FDs int
	// Wait is how long the counts may take to settle (10s). It bounds the
	// wait for goroutines that are exiting, never a speed claim.
	Wait time.Duration
}

// ErrLeak is returned by Settle when the counts stayed above the baseline.
var ErrLeak = errors.New("leakcheck: goroutines or fds did not return to the baseline")

// Settle polls until goroutines and fds are at most base plus the slack in
// o, and returns the last snapshot. If they do not settle within o.Wait, the
// error wraps ErrLeak and holds the open fds and a dump of every goroutine.
func Settle(base Snapshot, o Options) (Snapshot, error) {
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	deadline := time.Now().Add(o.Wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		runtime.GC() // runs finalizers that close fds of dropped *os.File
		now := Take()
		gOK := now.Goroutines <= base.Goroutines+o.Goroutines
		fOK := base.FDs < 0 || now.FDs < 0 || now.FDs <= base.FDs+o.FDs
		if gOK && fOK {
			return now, nil
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			fmt.Fprintf(&b, "%v after %s: before %v, now %v (slack %d goroutines, %d fds)\n",
				ErrLeak, o.Wait, base, now, o.Goroutines, o.FDs)
			if !fOK {
				b.WriteString("open fds:\n")
				b.WriteString(describeFDs())
			}
			b.WriteString("goroutines:\n")
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			return now, &leakError{msg: b.String()}
		}
		time.Sleep(delay)
	}
}

type leakError struct{ msg string }

func (e *leakError) Error() string        { return e.msg }
func (e *leakError) Is(target error) bool { return target == ErrLeak }

// describeFDs lists each open fd and what it points at (socket:[inode], a path).
func describeFDs() string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			target = "(" + err.Error() + ")"
		}
		fmt.Fprintf(&b, "  %s -> %s\n", e.Name(), target)
	}
	return b.String()
}

// Check is Settle for a test: it fails t with the dump if the counts do not
// settle, and logs before and after otherwise.
func Check(t testing.TB, base Snapshot, o Options) Snapshot {
	t.Helper()
	now, err := Settle(base, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leakcheck: before %v, after %v", base, now)
	return now
}
