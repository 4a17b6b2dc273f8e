package mqtt

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// retainedAt subscribes a fresh clean-session client to topic and returns
// the retained value the broker holds ("" when none within wait).
func retainedAt(t *testing.T, url, topic string, wait time.Duration) string {
	t.Helper()
	got := make(chan string, 1)
	cli := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("rvc-reader-" + t.Name()).SetCleanSession(true))
	if tok := cli.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reader connect: %v", tok.Error())
	}
	defer cli.Disconnect(100)
	tok := cli.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			select {
			case got <- string(m.Payload()):
			default:
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reader subscribe: %v", tok.Error())
	}
	select {
	case p := <-got:
		return p
	case <-time.After(wait):
		return ""
	}
}

// The newest alert "stays retained until a newer one replaces it"
// (docs/mqtt.md), and the gate publishes its retained values again on
// connect "also when the broker comes back without its persistence file"
// (TestSiteMosquittoRestartRepublishesSnapshots). Since 654b26b the alert
// the broker once acknowledged is never sent again: a broker restarted
// without persistence (mosquitto's default), one that acknowledged and then
// crashed before its autosave, or a failover to the second of mqtt.urls has
// no retained alert, and a subscriber that (re)subscribes (an alerting
// service whose session the broker lost with the rest) never learns of the
// relay_fault or api_config the gate is still failing closed on.
func TestAlertRetainedAgainAfterABrokerLostIt(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	c := newClient(t, testOptions(t, mq.URL()))
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	require.NoError(t, c.PublishAlert(Alert{Code: "relay_fault", Message: "the relay line could not be driven inactive", TS: "2026-11-22T07:00:00.000Z"}))
	require.Eventually(t, func() bool { return retainedAt(t, mq.URL(), prefix+"/alert", 200*time.Millisecond) != "" },
		5*time.Second, 10*time.Millisecond, "the alert retained at the broker")

	// The broker restarts without its retained messages and sessions.
	mq.Stop()
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	mq.Forget()
	mq.Restart()
	require.Eventually(t, c.Connected, 15*time.Second, 5*time.Millisecond, "reconnected")
	// The state topic is republished on connect; the alert should be too.
	require.Eventually(t, func() bool { return retainedAt(t, mq.URL(), prefix+"/status", 200*time.Millisecond) == "online" },
		5*time.Second, 10*time.Millisecond, "status republished")
	time.Sleep(500 * time.Millisecond) // the snapshot goes out in one pass
	if p := retainedAt(t, mq.URL(), prefix+"/alert", time.Second); p == "" {
		t.Fatal("no retained alert after the broker came back without persistence: the gate's newest alert (relay_fault) is gone for every later subscriber; other retained topics were republished")
	}
}
