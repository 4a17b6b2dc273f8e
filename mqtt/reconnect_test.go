package mqtt

import (
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected")

	mq.Stop()
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	time.Sleep(1500 * time.Millisecond) // a few probes find the port closed
	if err := c.PublishEvent(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	mq.Restart()
	back := time.Now()
	observeHistory(t, mq.URL(), prefix+"/health", h)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "reconnected after mosquitto's return")
	took := time.Since(back)
	t.Logf("reconnected %s after mosquitto accepted connections again (backoff 20s)", took.Round(time.Millisecond))
	// The health published on reconnect reports the live connection.
	require.Eventually(t, func() bool {
		var st SelfTest
		if json.Unmarshal([]byte(h.last(prefix+"/health")), &st) != nil {
			return false
		}
		b := st.Checks["broker"]
		return b.Status == "ok" && b.Value != nil && *b.Value == 0
	}, 5*time.Second, 5*time.Millisecond, "health with the broker connected and the outbox drained")
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
	require.Eventually(t, func() bool { return h.last(prefix+"/health") != "" }, 5*time.Second, 5*time.Millisecond, "health published")
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

// countingListener accepts TCP connections on addr and counts those that
// send something (MQTT CONNECTs; the reconnect probes send nothing), then
// closes them: a "broker" that drops every session at once.
type countingListener struct {
	l        net.Listener
	attempts atomic.Int32
}

func listenCounting(t *testing.T, addr string) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				if n, _ := conn.Read(make([]byte, 1)); n > 0 {
					cl.attempts.Add(1)
				}
			}()
		}
	}()
	return cl
}

// TestReconnectWaitEndsOnlyWhenThePortReturns: a broker whose port stays
// open but drops every session is retried only at the backoff (20 s here),
// not at the probe rate; once its port was closed and opens again, the next
// attempt comes at once.
func TestReconnectWaitEndsOnlyWhenThePortReturns(t *testing.T) {
	cl := listenCounting(t, "127.0.0.1:0")
	addr := cl.l.Addr().String()
	o := testOptions(t, "tcp://"+addr)
	o.ReconnectMin, o.ReconnectMax, o.ConnectTimeout = 20*time.Second, time.Minute, time.Second
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, func() bool { return cl.attempts.Load() >= 1 }, 5*time.Second, 5*time.Millisecond, "first attempt")
	time.Sleep(1500 * time.Millisecond) // paho tries MQTT 3.1.1, then 3.1: one attempt, two connections
	first := cl.attempts.Load()
	time.Sleep(3 * time.Second) // six probe rounds, all finding the port open
	if n := cl.attempts.Load(); n != first {
		t.Fatalf("%d more connection attempts within 3 s with a 20 s backoff and the port open throughout, want none", n-first)
	}
	cl.l.Close()
	time.Sleep(1200 * time.Millisecond) // probes find it closed
	cl2 := listenCounting(t, addr)
	defer cl2.l.Close()
	start := time.Now()
	require.Eventually(t, func() bool { return cl2.attempts.Load() >= 1 }, 5*time.Second, 5*time.Millisecond, "an attempt once the port is back")
	t.Logf("attempt %s after the port reopened", time.Since(start).Round(time.Millisecond))
}
