package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mosquittotest"
)

// docs/site-gate.md asks sites to restrict with broker ACLs who may
// publish under <site_topic>/. An ACL that lets only the console write
// <site_topic>/cmd/# makes a gate's own cmd/evacuate a denied publish;
// mosquitto PUBACKs it (MQTT 3.1.1 has no refusal) and drops it. Until
// 2026-12-08 the sender took it as sent and nobody was told (red-team
// pass): the fire alarm never released the peers' doors. Its echo not
// coming back is now told to CommandDropped as ErrNotDelivered (the
// daemon's broker_dropped alert); a command the broker delivers is not.
func TestEvacuateTheBrokerDropsIsTold(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	rules := "user entrance\n" +
		"topic readwrite facegate/plant-a/entrance/#\n" +
		"topic readwrite facegate/plant-a/evacuation\n" +
		"topic read facegate/plant-a/#\n" +
		"user exit\ntopic readwrite facegate/plant-a/#\n"
	require.NoError(t, os.WriteFile(acl, []byte(rules), 0o644))
	mq := mosquittotest.Start(t, mosquittotest.Config{
		Users: map[string]string{"entrance": "pw-entrance", "exit": "pw-exit"},
		Extra: "acl_file " + acl + "\nmax_queued_messages 1000\n",
	})
	type dropped struct {
		action, id string
		err        error
	}
	var mu sync.Mutex
	var got []dropped
	tell := func(action, id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, dropped{action, id, err})
	}
	gate := func(name, password string) *siteGate {
		return newSiteGate(t, mq.URL(), name, func(o *Options) {
			withSiteCommands(t.TempDir())(o)
			o.Username, o.Password = name, password
			o.AckTimeout = time.Second
			o.Zones.CommandDropped = tell
		})
	}
	a, b := gate("entrance", "pw-entrance"), gate("exit", "pw-exit")
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(1100 * time.Millisecond) // past the replay memory's first second
	const denied, allowed = "evac-20261208T020000.000Z-ABCDEF-entrance", "evac-20261208T020001.000Z-ABCDEF-exit"
	_, err := a.c.PublishEvacuate(Evacuate{Action: EvacuateStart, ID: denied, By: "fire-alarm@entrance", Reason: "fire alarm input"})
	require.NoError(t, err)
	_, err = b.c.PublishEvacuate(Evacuate{Action: EvacuateStart, ID: allowed, By: "fire-alarm@exit", Reason: "fire alarm input"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 }, 10*time.Second, 20*time.Millisecond,
		"the broker dropped entrance's cmd/evacuate and nobody was told")
	time.Sleep(2 * time.Second) // exit's own would be told by now
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "%+v", got)
	require.Equal(t, denied, got[0].id)
	require.True(t, errors.Is(got[0].err, ErrNotDelivered), "%v", got[0].err)
	require.NotEmpty(t, evacuates(a.h), "the command the broker delivered did not arrive")
}
