package mqtt

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
)

// TestAlertWhosePublishMetTheOutageIsPublishedAfterIt:
// the fix publishes on connect every alert still queued. But the first
// alert raised after the link died is usually the one that finds out: the
// publisher takes it from the queue, its PUBACK never comes, the
// connection is abandoned, and the alert is in no queue any more. Another
// alert before the link is back is then the newest: the snapshot sends
// that one only. A door forced during a network cut (the cut not noticed
// yet), then any other alert: door_forced never reaches MQTT.
func TestAlertWhosePublishMetTheOutageIsPublishedAfterIt(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/alert", h.handle))
	p := newProxy(t, b.Addr())
	o := testOptions(t, p.url())
	o.AckTimeout = 300 * time.Millisecond
	o.ConnectTimeout = 300 * time.Millisecond
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(200 * time.Millisecond) // the connect's snapshot is out

	p.stalled.Store(true) // the link dies; the gate does not know yet
	if err := c.PublishAlert(Alert{Code: "door_forced", Message: "door forced open"}); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "the dead link abandoned")
	if err := c.PublishAlert(Alert{Code: "tamper_alarm", Message: "tamper"}); err != nil {
		t.Fatal(err)
	}
	p.stalled.Store(false)
	p.cut()
	require.Eventually(t, func() bool {
		for _, s := range h.of(prefix + "/alert") {
			var a Alert
			if json.Unmarshal([]byte(s), &a) == nil && a.Code == "tamper_alarm" {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "the newest alert published after the outage")
	time.Sleep(300 * time.Millisecond)
	got := publishedAlertCodes(t, h)
	if !slices.Contains(got, "door_forced") {
		t.Fatalf("published alerts %v: door_forced, raised as the link died, never reached MQTT", got)
	}
}
