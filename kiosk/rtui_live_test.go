package kiosk

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// TestRtUIHungDaemonDoesNotKeepGranted: the daemon hangs while the result
// of a grant is on screen (SIGSTOP, a frozen cgroup, a session stuck on a
// stuck card: systemd's watchdog takes 16-31 s to notice a hung process
// and up to 70 s more to kill it, docs/operations.md). Its event stream
// stays open and carries, as the real /events does, only ": keepalive"
// comments, which the page's script never sees. The page must not go on
// showing the green "Welcome" and "health: ok" for ever: once two
// heartbeats (sseHeartbeat, 15 s) have passed without a word from the
// daemon it should say the gate is offline, as after a broken stream.
func TestRtUIHungDaemonDoesNotKeepGranted(t *testing.T) {
	cfg := testConfig(t)
	cfg.Page.ShowName = true
	granted := pageStatusJSON{Status: Status{State: StateGranted, Message: "Welcome", Decision: record.DecisionGranted,
		Name: "Ana Díaz", Health: HealthOK, Since: time.Now().UTC()}}
	hung := make(chan struct{})
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "retry: 2000\n\n")
		_, _ = w.Write(sseMessage("state", granted))
		w.(http.Flusher).Flush()
		tick := time.NewTicker(sseHeartbeat)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_, _ = io.WriteString(w, ": keepalive\n\n")
				w.(http.Flusher).Flush()
			case <-hung:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	ctx, b, _, _ := rtuiPageWith(t, cfg, events)
	t.Cleanup(func() { close(hung) })
	start := time.Now()
	var l layout
	for {
		l = probeLayout(t, ctx, b)
		if l.Result && resultText(l) == "Welcome" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the page never showed the grant: %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The daemon says nothing more (but keepalives) for 2 heartbeats + 10 s.
	limit := 2*sseHeartbeat + 10*time.Second
	for time.Since(start) < limit {
		time.Sleep(time.Second)
	}
	l = probeLayout(t, ctx, b)
	shot := rtuiShot(t, ctx, b, "hung-daemon-still-granted")
	if l.Result && resultText(l) == "Welcome" {
		t.Errorf("%s after the daemon stopped answering the page still shows the green %q (header %q, state %q; %s)",
			limit, resultText(l), l.Health, l.State, shot)
	}
	if l.Health == "health: ok" {
		t.Errorf("the header still says %q about a daemon that has not answered for %s", l.Health, limit)
	}
}
