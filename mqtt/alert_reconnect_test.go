package mqtt

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// TestReconnectDoesNotRefireTheOldAlertInHomeAssistant: Home
// Assistant's MQTT event entity ignores a message only when its retain flag
// is set (homeassistant/components/mqtt/event.py, _event_received: "if
// msg.retain: ... Ignoring event trigger from replayed retained payload").
// A broker sets that flag only for the copy a new subscription gets; a
// retained publish that reaches an established subscription arrives with
// retain 0 (MQTT 3.1.1 §3.3.1.3). The gate republishes the newest value of
// every retained topic at each (re)connect (retainedStore.snapshot), the
// old alert included: every network blip of the gate fires the "Operator
// alert" event again — a door_forced of hours ago notifies the guards again
// (docs/mqtt.md promises the event fires "for each alert raised while Home
// Assistant listens").
func TestReconnectDoesNotRefireTheOldAlertInHomeAssistant(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	var mu sync.Mutex
	var live []string // alert payloads Home Assistant would fire on (retain 0)
	mosquittotest.Observe(t, mq.URL(), "home-assistant", prefix+"/alert", func(_ string, p []byte, retained bool) {
		if !retained {
			mu.Lock()
			live = append(live, string(p))
			mu.Unlock()
		}
	})
	fired := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), live...) }
	px := newProxy(t, mq.URL()[len("tcp://"):])
	c := newClient(t, testOptions(t, px.url()))
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	require.NoError(t, c.PublishAlert(Alert{Code: "door_forced", Message: "the door was opened without a grant", TS: "2026-11-22T07:00:00.000Z"}))
	require.Eventually(t, func() bool { return len(fired()) == 1 }, 5*time.Second, 5*time.Millisecond, "the alert fires once")

	// A network blip of the gate's link (Wi-Fi, a switch): it reconnects.
	px.cut()
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "reconnected")
	time.Sleep(time.Second)

	got := fired()
	if len(got) != 1 {
		var codes []string
		for _, p := range got {
			var a Alert
			_ = json.Unmarshal([]byte(p), &a)
			codes = append(codes, a.Code+"@"+a.TS)
		}
		t.Errorf("Home Assistant's Operator alert fired %d times for one alert raised once (%v): the reconnect republished the retained alert, which reaches a subscribed client with retain 0", len(got), codes)
	}
}
