package mqtt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
	"github.com/facegate/facegate/record"
)

// TestEvacuationStateRetainedAgainAfterABrokerLostIt: the retained
// <site_topic>/evacuation is "published once (when it is set, or on the
// next connect)". A broker restarted without its persistence during an
// evacuation (mosquitto without `persistence true`, a lost disk, a
// failover to the second of mqtt.urls) holds no evacuation state
// afterwards, and no gate publishes it again: every gate's connect finds
// the session gone (SessionPresent false) and republishes its alert,
// state, snapshot… but not the evacuation. Dashboards, Home Assistant and
// muster tools that read the retained topic show no evacuation while the
// site is being evacuated, until its end.
func TestEvacuationStateRetainedAgainAfterABrokerLostIt(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	require.Eventually(t, a.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	now := record.Timestamp(time.Now())
	require.NoError(t, a.c.PublishEvacuation(Evacuation{Active: true, ID: "evac-20261208T021500.000Z-ABCDEF", By: "fire-alarm", Reason: "fire alarm input", Since: now, TS: now}))
	require.Eventually(t, func() bool { return retainedAt(t, mq.URL(), testSite+"/evacuation", 200*time.Millisecond) != "" },
		5*time.Second, 10*time.Millisecond, "evacuation retained at the broker")

	mq.Stop()
	require.Eventually(t, func() bool { return !a.c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	mq.Forget()
	mq.Restart()
	require.Eventually(t, a.c.Connected, 15*time.Second, 5*time.Millisecond, "reconnected")
	require.Eventually(t, func() bool {
		return retainedAt(t, mq.URL(), testSite+"/entrance/site/snapshot", 200*time.Millisecond) != ""
	},
		5*time.Second, 10*time.Millisecond, "the snapshot is republished")
	time.Sleep(500 * time.Millisecond)
	if p := retainedAt(t, mq.URL(), testSite+"/evacuation", time.Second); p == "" {
		t.Fatal("no retained evacuation state after the broker came back without persistence, while the evacuation is still active: the gate republished its snapshot and alert but not the site's evacuation")
	}
}
