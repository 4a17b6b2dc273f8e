// Package mqtt publishes facegate's decisions and state to an MQTT broker
// through a durable on-disk outbox, and receives the identify and open
// commands. It knows topics and payloads, not cameras or the FaceAuth API.
//
// The daemon uses one Client:
//
//	c, err := mqtt.New(opts)       // opens the outbox; no network yet
//	go c.Run(ctx)                   // connects, reconnects, publishes
//	c.PublishEvent(ev)              // durable once it returns
//	c.PublishState("idle")          // retained values, newest wins
//	c.PublishRelay(true); c.PublishDoor(false); c.PublishCameraHealth(h)
//	for cmd := range c.Commands() { switch cmd.(type) { case mqtt.Identify: …; case mqtt.Open: … } }
//	c.Close(ctx)                    // flush, "offline", disconnect
//
// Topics under the prefix (facegate/<site>/<gate>): status (retained,
// online/offline, also the last will), event (QoS 1, not retained), state,
// relay, door, camera, health, alert (retained), cmd/identify and cmd/open
// (subscribed).
// docs/mqtt.md documents every payload. The decision record itself
// (record.Event, record.PulseResult) is package record, shared with the
// kiosk and the audit log; this package validates, encodes and delivers it.
//
// Concurrency: see Client. paho's callback goroutine only copies a message
// into a bounded queue; validation and delivery happen on the Client's own
// goroutine.
package mqtt
