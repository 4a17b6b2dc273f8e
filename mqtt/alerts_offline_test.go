package mqtt

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
)

// Operator alerts raised while the gate is not connected (a broker or
// network outage, or the start before the first connection:
// relay_interrupted is raised then) are all published once it connects, in
// order, the newest last. Until 2026-12-07 only the newest went out: a door
// forced open during a network cut, followed by any other alert before the
// link was back, never reached MQTT (Home Assistant's "Operator alert"
// event entity never fired door_forced). And a door contact that chattered
// during the outage (each settled change a PublishDoor) filled the retained
// queue shared by every topic, so that the alerts after it were lost too.
func TestAlertsRaisedWhileDisconnectedAreAllPublished(t *testing.T) {
	for _, tc := range []struct {
		name        string
		doorChanges int
	}{{"alone", 0}, {"after door chatter", 300}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory()
			b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/alert", h.handle))
			c := newClient(t, testOptions(t, b.URL()))
			// Not connected yet (Run not started): as during an outage.
			for i := range tc.doorChanges {
				require.NoError(t, c.PublishDoor(i%2 == 0))
			}
			raised := []string{"relay_interrupted", "door_forced", "tamper_alarm"}
			for _, code := range raised {
				require.NoError(t, c.PublishAlert(Alert{Code: code, Message: code}))
			}
			runClient(t, c)
			require.Eventually(t, func() bool { return len(h.of(prefix+"/alert")) > 0 }, 5*time.Second, 5*time.Millisecond, "alert published")
			time.Sleep(500 * time.Millisecond)
			got := publishedAlertCodes(t, h)
			for _, want := range raised {
				if !slices.Contains(got, want) {
					t.Errorf("alert %s raised while disconnected never published (published: %v)", want, got)
				}
			}
			if len(got) < 3 || !slices.Equal(got[:3], raised) {
				t.Errorf("published %v: want the three in the order raised, the newest last (it stays retained)", got)
			}
		})
	}
}

// publishedAlertCodes are the codes of the alerts h saw, in order.
func publishedAlertCodes(t *testing.T, h *history) []string {
	t.Helper()
	var got []string
	for _, p := range h.of(prefix + "/alert") {
		var a Alert
		if err := json.Unmarshal([]byte(p), &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Code)
	}
	return got
}
