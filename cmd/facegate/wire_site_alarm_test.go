package main

import (
	"context"
	"errors"
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

// The fire-alarm input's fault record goes through the side-record queue:
// written on the site wire's loop, a hung audit log held up the
// evacuation that followed (and every hold and release after it).
func TestFireAlarmInputFaultDoesNotWaitForTheAuditLog(t *testing.T) {
	cfg := siteTestConfig(t, releaseYAML+"io:\n  relay: {driver: sim}\n  fire_alarm: {line: GPIO9}\n")
	fill, release := hangAudit(t, cfg.StateDir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := newSiteWire(cfg, log, nil)
	require.NoError(t, err)
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: &alertLog{},
		Site: w, SiteBoard: w, Logger: log})
	require.NoError(t, err)
	require.NoError(t, w.start(k, nil))
	side := newSideRecords(log)
	w.sideRecord = side.add
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go side.run(ctx)

	fill() // the card hangs
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.fireAlarm(gate.Event{Time: time.Now(), Kind: gate.InputFault, Err: errors.New("fire_alarm: line unreadable")})
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		release()
		<-done
		t.Fatal("the fire alarm's input-fault record blocked the site wire's loop on a hung audit log")
	}
	release()
	require.True(t, side.flush(5*time.Second), "the record written once the log moves")
}
