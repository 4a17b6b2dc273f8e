package main

import (
	"context"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/broker"
)

// TestSubscribeEvents is the demo's --mqtt path: the events published on
// an outside broker reach the demo's output.
func TestSubscribeEvents(t *testing.T) {
	b, err := broker.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 1)
	stop, err := subscribeEvents(context.Background(), b.URL(), "facegate/s/g/event", func(p []byte) { got <- string(p) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := b.Publish("facegate/s/g/event", []byte(`{"event_id":"e1"}`), false); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != `{"event_id":"e1"}` {
			t.Fatalf("got %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	if _, err := subscribeEvents(context.Background(), "tcp://127.0.0.1:1", "x", func([]byte) {}); err == nil {
		t.Fatal("subscribing to a broker that is not there succeeded")
	}
}
