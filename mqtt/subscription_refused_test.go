package mqtt

import (
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/require"
)

// denyEvacuateRead lets everything through but a subscription to the
// site's cmd/evacuate (a broker ACL that keeps the gates from reading it).
type denyEvacuateRead struct{ auth.AllowHook }

func (h *denyEvacuateRead) ID() string { return "deny-evacuate-read" }
func (h *denyEvacuateRead) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	return write || topic != testSite+"/cmd/evacuate"
}

// TestRefusedSafetySubscriptionIsReported: the broker refuses the gate's
// subscription to <site_topic>/cmd/evacuate (SUBACK 0x80: an ACL that
// lets only the operator console read the command topics, as HiveMQ or
// EMQX answer it). The gate cannot learn any other gate's fire alarm: its
// relay is never released for a peer's evacuation. It logs one line per
// connect and reports itself healthy: the retained health says broker
// "ok", LastError is nil, no alert.
func TestRefusedSafetySubscriptionIsReported(t *testing.T) {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(nilWriter{}, nil))})
	require.NoError(t, srv.AddHook(new(denyEvacuateRead), nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, srv.AddListener(listeners.NewNet("tcp", ln)))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { srv.Close() })
	url := "tcp://" + ln.Addr().String()

	var logs lockedBuffer
	g := newSiteGate(t, url, "entrance", func(o *Options) {
		withSiteCommands(t.TempDir())(o)
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	require.NoError(t, g.c.PublishSelfTest(SelfTest{Status: "ok", Checks: map[string]CheckInfo{"broker": {Status: "ok"}}}))
	require.Eventually(t, g.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(300 * time.Millisecond)
	var st SelfTest
	require.NoError(t, json.Unmarshal(g.c.healthPayload(), &st))
	t.Logf("log: %s", strings.TrimSpace(logs.String()))
	if st.Checks["broker"].Status != "degraded" || !strings.Contains(st.Checks["broker"].Detail, testSite+"/cmd/evacuate") {
		t.Errorf("the broker refused the subscription to %s/cmd/evacuate (the gate can never learn a peer's fire alarm); the gate reports broker %q (%s)",
			testSite, st.Checks["broker"].Status, st.Checks["broker"].Detail)
	}
	var a Alert
	if p := g.c.retained.get(g.c.topics.Alert); p == nil || json.Unmarshal(p, &a) != nil || a.Code != AlertSubscriptionRefused || !strings.Contains(a.Message, testSite+"/cmd/evacuate") {
		t.Errorf("no %s alert naming the topic: %s", AlertSubscriptionRefused, p)
	}
}

type nilWriter struct{}

func (nilWriter) Write(p []byte) (int, error) { return len(p), nil }
