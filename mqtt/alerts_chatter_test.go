package mqtt

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
)

// A door contact that chatters during a broker outage (a door swinging in
// the wind, a loose reed switch: each settled change is a PublishDoor, and
// the relay's own changes add theirs) fills the retained queue shared by
// every topic. The operator alerts raised after that (a relay that could not
// be pulsed for the exit button, a door forced open) overflow it: only the
// newest alert value is kept, so every alert but the last raised during the
// outage never reaches <prefix>/alert, and nothing says one was dropped.
// The audit log has them; MQTT consumers (Home Assistant's "Operator alert"
// entity, a pager bridge) never hear of the relay failure.
func TestAlertsAfterDoorChatterWhileDisconnectedAreAllPublished(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/alert", h.handle))
	c := newClient(t, testOptions(t, b.URL()))
	// Not connected (Run not started): as during an outage. 150 door
	// openings and closings: a few minutes of a flapping contact.
	for i := 0; i < 300; i++ {
		if err := c.PublishDoor(i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	raised := []string{"relay_failed", "door_forced", "tamper_alarm"}
	for _, code := range raised {
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
		require.NoError(t, json.Unmarshal([]byte(p), &a))
		got = append(got, a.Code)
	}
	for _, want := range raised {
		if !slices.Contains(got, want) {
			t.Errorf("alert %s raised during the outage never published (published: %v)", want, got)
		}
	}
}
