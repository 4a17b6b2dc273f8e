package mqtt

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// TestOversizeSnapshotDoesNotSilenceAlerts: the broker's packet limit
// (mosquitto max_packet_size; EMQX's default max_packet_size is 1 MiB,
// other brokers have such limits too) is smaller than this gate's site
// snapshot (a large site; facegate allows up to record.MaxSnapshotBytes,
// 8 MiB). The broker closes the connection on the oversize PUBLISH. The
// gate reconnects and publishes its retained values in the order they
// were first set — the snapshot among the first — so every connection
// dies at the snapshot: an alert raised afterwards (door_forced,
// relay_fault…) never reaches the broker, for as long as the site is
// large, and the only log is "connection lost" and, after five, the
// misleading "does another client use this client id?".
func TestOversizeSnapshotDoesNotSilenceAlerts(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{Extra: "max_packet_size 262144\n"})
	var mu sync.Mutex
	var alerts []string
	mosquittotest.Observe(t, mq.URL(), "observer-"+t.Name(), testSite+"/entrance/alert", func(_ string, p []byte, _ bool) {
		mu.Lock()
		alerts = append(alerts, string(p))
		mu.Unlock()
	})
	var logs lockedBuffer
	big := `{"gate":"entrance","pad":"` + strings.Repeat("x", 300<<10) + `"}`
	g := newSiteGate(t, mq.URL(), "entrance", func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.Zones.Source.(*fakeSource).snapshot = []byte(big)
	})
	require.Eventually(t, g.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	must(t, g.c.PublishAlert(Alert{Code: "door_forced", Message: "door opened without a grant"}))
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(alerts)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	n := len(alerts)
	mu.Unlock()
	if n == 0 {
		t.Logf("gate log (tail):\n%s\nbroker (tail):\n%s", tail(logs.String(), 6), tail(mq.Log(), 4))
		t.Fatalf("door_forced alert never reached the broker in 8 s: every connection dies at the %d-byte snapshot, published before it", len(big))
	}
	// After refusedAfter drops at the snapshot it is held back, said once,
	// and the connection stays up (it reconnected five times a second).
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "mqtt broker drops the connection at this retained message")
	},
		10*time.Second, 20*time.Millisecond, "the snapshot the broker refuses is not named:\n%s", tail(logs.String(), 6))
	lost := strings.Count(logs.String(), "connection lost")
	time.Sleep(2 * time.Second)
	if more := strings.Count(logs.String(), "connection lost") - lost; more > 0 || !g.c.Connected() {
		t.Fatalf("the gate still loses its connection at the held-back snapshot (%d more in 2 s):\n%s", more, tail(logs.String(), 6))
	}
	require.Contains(t, g.c.refused.heldTopics(time.Now()), testSite+"/entrance/site/snapshot", "the health's broker check does not name it")
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
