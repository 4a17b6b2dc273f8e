package mqtt

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
)

// TestRaceStressPublishWhileTheLinkDrops calls every Publish method and the
// readers from several goroutines while the connection is cut again and
// again; every event still arrives once the link holds. Under -race it
// reports any unsynchronised access between the callers, Run's connection
// goroutines and paho's.
func TestRaceStressPublishWhileTheLinkDrops(t *testing.T) {
	rec := newRecorder()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription("facegate/#", rec.handle))
	p := newProxy(t, b.Addr())
	o := testOptions(t, p.url())
	o.HomeAssistant.Enabled = true
	c := newClient(t, o)
	runClient(t, c)

	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				f(i)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	var mu sync.Mutex
	sent := 0
	for g := 0; g < 3; g++ {
		loop(func(i int) {
			ev := testEvent(i)
			ev.EventID = fmt.Sprintf("ev-%d-%06d", g, i)
			if err := c.PublishEvent(ev); err == nil {
				mu.Lock()
				sent++
				mu.Unlock()
			}
		})
	}
	loop(func(i int) {
		_ = c.PublishState([]string{"idle", "identified", "capturing", "authenticating", "granted", "denied", "cooldown"}[i%7])
		_ = c.PublishRelay(i%2 == 0)
		_ = c.PublishDoor(i%3 == 0)
	})
	loop(func(i int) {
		v := float64(i)
		_ = c.PublishSelfTest(SelfTest{Status: "ok", Checks: map[string]CheckInfo{"broker": {Status: "ok"}, "camera": {Status: "ok", Value: &v, Unit: "fps"}}})
		_ = c.PublishCameraHealth(CameraHealth{Status: CameraOK, FPS: 15})
		_ = c.PublishAlert(Alert{Code: "test", Message: fmt.Sprint(i)})
		_ = c.Connected()
		_ = c.OutboxDepth()
		_ = c.LastError()
	})
	loop(func(i int) {
		if i%25 == 0 {
			p.cut()
		}
	})
	wg.Wait()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return rec.distinct() == sent }, 30*time.Second, 20*time.Millisecond,
		"every queued event delivered")
	t.Logf("%d events", sent)
}
