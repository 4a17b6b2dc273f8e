package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
)

// TestRunPublishesExitButtonPulse: a local exit-button pulse shows on the
// retained <prefix>/relay and the screen like a grant's pulse, open then
// closed.
func TestRunPublishesExitButtonPulse(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 300ms}\n  leds:\n", 1))
	r.start()
	waitUntil(t, 10*time.Second, "online", func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "online"
	})
	waitUntil(t, 10*time.Second, "idle", func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle })

	sim := r.d.p.gate.Sim()
	if err := sim.SetInput("exit_button", true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the relay topic to show the exit pulse", func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Equal(r.bl.relayTopic, []string{"open", "closed"})
	})
	if p := sim.Pulses(); len(p) != 1 || p[0].End.Sub(p[0].Start) < 300*time.Millisecond {
		t.Fatalf("sim pulses %+v, want one of io.exit_button.pulse (300ms)", p)
	}
	if got := r.d.p.kiosk.Status().Relay; got != "closed" {
		t.Fatalf("screen relay %q after the pulse, want closed", got)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
}
