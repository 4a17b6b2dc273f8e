package mosquittotest

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Observe subscribes to topic (QoS 1) on the broker at url with a
// persistent session under clientID, so messages published while it is
// away (a broker restart) are queued for it, and hands each message to fn
// on paho's goroutine. It returns once subscribed; the client disconnects
// when the test ends.
func Observe(t testing.TB, url, clientID, topic string, fn func(topic string, payload []byte, retained bool)) {
	t.Helper()
	subscribed := make(chan struct{}, 1)
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { fn(m.Topic(), m.Payload(), m.Retained()) })
			go func() {
				if tok.Wait() && tok.Error() == nil {
					select {
					case subscribed <- struct{}{}:
					default:
					}
				}
			}()
		})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("observer did not subscribe")
	}
	t.Cleanup(func() { c.Disconnect(100) })
}
