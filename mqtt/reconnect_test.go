package mqtt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// TestMosquittoReturnReconnectsAtOnce: with a reconnect backoff of 20 s
// (so a retry would come 10–20 s after the loss), the gate is connected
// again within a few seconds of mosquitto's return: the wait ends when the
// broker's port, seen closed, accepts connections again. The bound is
// generous (5 s) so that a loaded machine does not fail it; the measured
// figure is logged.
func TestMosquittoReturnReconnectsAtOnce(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	h := newHistory()
	o := testOptions(t, mq.URL())
	o.ReconnectMin, o.ReconnectMax = 20*time.Second, time.Minute
	c := newClient(t, o)
	if err := c.PublishSelfTest(SelfTest{Status: "ok", Checks: map[string]CheckInfo{"broker": {Status: "ok"}}}); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	waitFor(t, 10*time.Second, "connected", c.Connected)

	mq.Stop()
	waitFor(t, 5*time.Second, "disconnect noticed", func() bool { return !c.Connected() })
	time.Sleep(1500 * time.Millisecond) // a few probes find the port closed
	if err := c.PublishEvent(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	mq.Restart()
	back := time.Now()
	observeHistory(t, mq.URL(), prefix+"/health", h)
	waitFor(t, 5*time.Second, "reconnected after mosquitto's return", c.Connected)
	took := time.Since(back)
	t.Logf("reconnected %s after mosquitto accepted connections again (backoff 20s)", took.Round(time.Millisecond))
	// The health published on reconnect reports the live connection.
	waitFor(t, 5*time.Second, "health with the broker connected and the outbox drained", func() bool {
		var st SelfTest
		if json.Unmarshal([]byte(h.last(prefix+"/health")), &st) != nil {
			return false
		}
		b := st.Checks["broker"]
		return b.Status == "ok" && b.Value != nil && *b.Value == 0
	})
}

// observeHistory subscribes a plain paho client to topic on url.
func observeHistory(t *testing.T, url, topic string, h *history) {
	t.Helper()
	rec := newRecorder()
	observe(t, url, topic, rec)
	go func() {
		for range rec.changed {
			rec.mu.Lock()
			v, ok := rec.retained[topic]
			rec.mu.Unlock()
			if ok {
				h.handle(topic, []byte(v), true)
			}
		}
	}()
}

// TestHealthReportsTheLiveBroker: a self-test made before the first
// connection (broker "disconnected") is published with the broker check of
// the connection that carries it, and the summary recomputed.
func TestHealthReportsTheLiveBroker(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/health", h.handle))
	c := newClient(t, testOptions(t, b.URL()))
	ms := 497.0
	err := c.PublishSelfTest(SelfTest{Status: "degraded", Checks: map[string]CheckInfo{
		"broker":   {Status: "degraded", Detail: "disconnected, outbox 0"},
		"detector": {Status: "ok", Detail: "497ms per frame", Value: &ms, Unit: "ms"},
		"api":      {Status: "absent"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	waitFor(t, 5*time.Second, "health published", func() bool { return h.last(prefix+"/health") != "" })
	var st SelfTest
	if err := json.Unmarshal([]byte(h.of(prefix + "/health")[0]), &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "ok" || st.Checks["broker"].Status != "ok" || st.Checks["broker"].Unit != "events" {
		t.Errorf("first health after connecting = %+v, want ok with the broker connected", st)
	}
	if d := st.Checks["detector"]; d.Value == nil || *d.Value != 497 || d.Unit != "ms" {
		t.Errorf("detector check = %+v, want value 497 ms", d)
	}
	c.Close(context.Background())
}
