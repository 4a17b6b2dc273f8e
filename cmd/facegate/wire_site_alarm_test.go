package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
)

// A daemon (re)started while the fire alarm is already on evacuates at
// boot: the level at open is the alarm's first event.
func TestSiteWireFireAlarmActiveAtBoot(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML+"io:\n  relay: {driver: sim}\n  fire_alarm: {line: GPIO9}\n")
	g, err := gate.Open(gateIO(cfg.IO), gate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Sim().SetInput("fire_alarm", true); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, g)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: &alertLog{},
		Site: w, SiteBoard: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(k, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	defer func() { cancel(); <-done }()

	require.Eventually(t, func() bool { return w.Evacuation().Active && g.Relay.Held() }, 10*time.Second, 10*time.Millisecond,
		"no evacuation with the relay held at boot")
	if e := w.Evacuation(); e.By != "fire-alarm@north" || e.Reason != "fire alarm input" {
		t.Fatalf("evacuation %+v", e)
	}
}
