package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/leakcheck"
	"github.com/facegate/facegate/kiosk"
)

// onlineCount is how many times the daemon announced itself online.
func (r *rig) onlineCount() int {
	r.bl.mu.Lock()
	defer r.bl.mu.Unlock()
	n := 0
	for _, s := range r.bl.status {
		if s == "online" {
			n++
		}
	}
	return n
}

// A daemon that serves many sessions and outlives a broker restart leaves
// nothing behind when it stops: every goroutine and file it started is gone
// (a Close that forgets a part, or a reconnect that keeps an old socket,
// shows here). Must not run in parallel: the counts are process-wide.
func TestRunLeaksNothingOverSessionsAndABrokerRestart(t *testing.T) {
	r := newRig(t, 0)
	// One worker, many sessions: no attempts limit.
	r.writeConfig(strings.Replace(r.cfgYAML, "cooldown: 200ms", "cooldown: 200ms\n  attempts:\n    max: 0", 1))
	t.Cleanup(func() {
		if t.Failed() {
			r.bl.mu.Lock()
			defer r.bl.mu.Unlock()
			for _, ev := range r.bl.events {
				t.Logf("event %s: %s %v", ev.EventID, ev.Decision, ev.Reason)
			}
		}
	})
	// Warm up: OpenCV, the netpoller and the first connections to the
	// emulator and the broker are set up once per process, not per run.
	r.start()
	require.Eventually(t, func() bool { return r.onlineCount() == 1 }, 10*time.Second, 20*time.Millisecond, "online")
	if code := r.stop(); code != exitOK {
		t.Fatalf("warm-up run exited %d\n%s", code, r.logs.String())
	}
	base := leakcheck.TakeSettled()

	r.start()
	require.Eventually(t, func() bool { return r.onlineCount() == 2 }, 10*time.Second, 20*time.Millisecond, "online again")
	const sessions = 6
	for i := 1; i <= sessions; i++ {
		if i == sessions/2+1 {
			online := r.onlineCount()
			r.restartBroker()
			require.Eventually(t, func() bool { return r.onlineCount() > online }, 15*time.Second, 20*time.Millisecond, "online on the restarted broker")
		}
		require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
		r.identify()
		require.Eventually(t, func() bool { return r.bl.granted() == i }, 30*time.Second, 20*time.Millisecond, fmt.Sprintf("granted event %d", i))
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	got := leakcheck.Check(t, base, leakcheck.Options{Goroutines: 2, FDs: 1, Wait: 15 * time.Second})
	t.Logf("%d granted sessions, 1 broker restart: %v before the run, %v after stop", sessions, base, got)
}
