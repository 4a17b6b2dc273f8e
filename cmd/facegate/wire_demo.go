package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/internal/redact"
)

// subscribeEvents follows topic on the broker at url (the demo's --mqtt)
// and hands each payload to fn, from paho's goroutine. The subscription is
// made before it returns, so that no decision of the demo is missed. The
// returned func disconnects.
func subscribeEvents(ctx context.Context, url, topic string, fn func(payload []byte)) (func(), error) {
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("facegate-demo-watch-" + hex.EncodeToString(id[:])).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	o.SetOnConnectHandler(func(c paho.Client) {
		// (Re)subscribe on every connection; QoS 1 like the events.
		c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { fn(m.Payload()) })
	})
	c := paho.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("--mqtt %s: %w", redact.URL(url), err)
	}
	sub := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { fn(m.Payload()) })
	if !sub.WaitTimeout(10*time.Second) || sub.Error() != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("--mqtt %s: subscribe %s: %v", redact.URL(url), topic, sub.Error())
	}
	return func() { c.Disconnect(250) }, nil
}
