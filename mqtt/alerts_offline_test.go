package mqtt

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
)

// Operator alerts raised while the gate is not
// connected (a broker or network outage, or the start before the first
// connection: relay_interrupted is raised then) are kept as one retained
// value: on connecting, only the newest is published. A door forced open
// during a network cut, followed by any other alert (tamper, the site
// unreachable, disk low) before the link is back, never reaches MQTT: Home
// Assistant's "Operator alert" event entity, documented to fire for each
// alert raised while it listens, never fires door_forced; nor does any
// consumer of <prefix>/alert.
func TestAlertsRaisedWhileDisconnectedAreAllPublished(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/alert", h.handle))
	c := newClient(t, testOptions(t, b.URL()))
	// Not connected yet (Run not started): as during an outage.
	for _, code := range []string{"relay_interrupted", "door_forced", "tamper_alarm"} {
		if err := c.PublishAlert(Alert{Code: code, Message: code}); err != nil {
			t.Fatal(err)
		}
	}
	runClient(t, c)
	require.Eventually(t, func() bool { return len(h.of(prefix+"/alert")) > 0 }, 5*time.Second, 5*time.Millisecond, "alert published")
	time.Sleep(500 * time.Millisecond)
	var got []string
	for _, p := range h.of(prefix + "/alert") {
		var a Alert
		if err := json.Unmarshal([]byte(p), &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Code)
	}
	for _, want := range []string{"relay_interrupted", "door_forced", "tamper_alarm"} {
		if !slices.Contains(got, want) {
			t.Errorf("alert %s raised while disconnected never published (published: %v)", want, got)
		}
	}
	if len(got) < 3 || !slices.Equal(got[:3], []string{"relay_interrupted", "door_forced", "tamper_alarm"}) {
		t.Errorf("published %v: want the three in the order raised, the newest last (it stays retained)", got)
	}
}
