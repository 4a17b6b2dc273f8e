package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// A gate publishing one decision to the embedded broker.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 1)
	b, err := broker.Start(ctx, "127.0.0.1:0", broker.WithSubscription("facegate/plant-a/north/event",
		func(topic string, payload []byte, retained bool) { got <- topic }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	dir, _ := os.MkdirTemp("", "facegate-example")
	defer os.RemoveAll(dir)

	c, err := mqtt.New(mqtt.Options{
		URLs:       []string{b.URL()},
		ClientID:   "facegate-plant-a-north",
		Prefix:     "facegate/plant-a/north",
		Site:       "plant-a",
		Gate:       "north",
		OutboxPath: filepath.Join(dir, "mqtt-outbox.log"),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go c.Run(ctx)
	// Durable once PublishEvent returns, delivered when the broker is reachable.
	if err := c.PublishEvent(record.Event{EventID: "01JDGW6Y4M8Q2K7T9ZC3XH5N1B", Seq: 1, Decision: record.DecisionGranted, Reason: []string{"approved"}}); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case topic := <-got:
		fmt.Println("delivered on", topic)
	case <-time.After(10 * time.Second):
		fmt.Println("not delivered")
	}
	closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	fmt.Println("close:", c.Close(closeCtx), "outbox:", c.OutboxDepth())
	// Output:
	// delivered on facegate/plant-a/north/event
	// close: <nil> outbox: 0
}
