package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/broker"
)

// TestPublisherCarriesCheckValues: the self-test's numbers reach
// <prefix>/health beside their text.
func TestPublisherCarriesCheckValues(t *testing.T) {
	got := make(chan []byte, 4)
	b, err := broker.Start(context.Background(), "127.0.0.1:0", broker.WithSubscription("g/health",
		func(_ string, payload []byte, _ bool) { got <- payload }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := mqtt.New(mqtt.Options{URLs: []string{b.URL()}, ClientID: "pub-test", Prefix: "g",
		OutboxPath: filepath.Join(t.TempDir(), "outbox.log"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	defer c.Close(context.Background())
	ms := 497.0
	p := &publisher{broker: c, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err = p.PublishHealth(kiosk.Health{Status: kiosk.HealthDegraded, At: time.Now(), Checks: map[string]kiosk.Check{
		"detector": {Status: kiosk.HealthDegraded, Detail: "497ms per frame (limit 250ms)", Value: &ms, Unit: "ms"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case payload := <-got:
		var st mqtt.SelfTest
		if err := json.Unmarshal(payload, &st); err != nil {
			t.Fatal(err)
		}
		if d := st.Checks["detector"]; d.Value == nil || *d.Value != 497 || d.Unit != "ms" || d.Detail == "" {
			t.Fatalf("detector check on <prefix>/health = %+v (%s), want value 497 ms beside the text", d, payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no health published")
	}
}
