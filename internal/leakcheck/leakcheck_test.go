package leakcheck

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSettleWaitsForExitingGoroutines(t *testing.T) {
	base := Take()
	stop := make(chan struct{})
	for range 5 {
		go func() { <-stop; time.Sleep(20 * time.Millisecond) }()
	}
	close(stop)
	if _, err := Settle(base, Options{Wait: 5 * time.Second}); err != nil {
		t.Fatalf("goroutines that exit must settle: %v", err)
	}
}

func TestSettleReportsALeakedGoroutine(t *testing.T) {
	// Settled: the previous test's goroutines may still be exiting, and a
	// baseline that counts them would hide the leak (seen under load).
	base := TakeSettled()
	stop := make(chan struct{})
	defer close(stop)
	go leakyWorker(stop)
	_, err := Settle(base, Options{Wait: 100 * time.Millisecond})
	if !errors.Is(err, ErrLeak) {
		t.Fatalf("Settle = %v, want ErrLeak", err)
	}
	if !strings.Contains(err.Error(), "leakyWorker") {
		t.Errorf("the error does not hold a goroutine dump naming the leaked function:\n%s", err)
	}
}

func leakyWorker(stop <-chan struct{}) { <-stop }

func TestSlackAcceptsThatManyMore(t *testing.T) {
	base := Take()
	stop := make(chan struct{})
	defer close(stop)
	go leakyWorker(stop)
	if _, err := Settle(base, Options{Goroutines: 1, Wait: 100 * time.Millisecond}); err != nil {
		t.Fatalf("one extra goroutine with a slack of one: %v", err)
	}
}

func TestSettleReportsALeakedFD(t *testing.T) {
	base := Take()
	if base.FDs < 0 {
		t.Skip("no /proc/self/fd on this system: fds are not counted")
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Settle(base, Options{Wait: 100 * time.Millisecond})
	if !errors.Is(err, ErrLeak) {
		t.Fatalf("Settle = %v, want ErrLeak", err)
	}
	if !strings.Contains(err.Error(), "open fds:") || !strings.Contains(err.Error(), f.Name()) {
		t.Errorf("the error does not list the leaked file %s:\n%s", f.Name(), err)
	}
	f.Close()
	if _, err := Settle(base, Options{Wait: 5 * time.Second}); err != nil {
		t.Fatalf("after closing the file: %v", err)
	}
}

func TestTakeSettledWaitsForTheWarmUpToExit(t *testing.T) {
	before := Take()
	stop := make(chan struct{})
	for range 5 {
		go func() { <-stop; time.Sleep(10 * time.Millisecond) }()
	}
	close(stop)
	if got := TakeSettled(); got.Goroutines > before.Goroutines {
		t.Fatalf("settled baseline %v still counts the exiting goroutines (before them: %v)", got, before)
	}
}
