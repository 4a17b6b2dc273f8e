package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
)

// An exit press whose pulse energised the relay and then could not drive
// it inactive leaves the door unlocked (the line stuck energised). A grant's
// pulse that ends so raises relay_fault ("relay line could not be driven
// inactive"); the exit button's raises only relay_failed with the message
// "the relay could not be pulsed for the exit button: nobody was let out",
// the opposite of what happened: somebody was let out and the door stays
// unlocked. An operator (or a pager rule keyed on relay_fault) reads it as a
// locked door.
func TestExitPulseLeftStuckEnergisedRaisesRelayFault(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 500ms}\n  leds:\n", 1))
	r.start()
	r.waitOnlineAndIdle(t)
	sim := r.d.p.gate.Sim()
	require.NoError(t, sim.SetInput("exit_button", true))
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Contains(r.bl.relayTopic, "open")
	}, 10*time.Second, 5*time.Millisecond, "the exit pulse")
	// The line is lost while energised: the pulse's end cannot drive it.
	sim.FailOutput("relay", errors.New("line lost"))
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.alerts) > 0
	}, 10*time.Second, 20*time.Millisecond, "an alert about the stuck relay")
	time.Sleep(500 * time.Millisecond)
	require.True(t, sim.Level("relay"), "the relay line is still energised (the door unlocked)")
	r.bl.mu.Lock()
	alerts := slices.Clone(r.bl.alerts)
	r.bl.mu.Unlock()
	sim.FailOutput("relay", nil)
	var codes []string
	for _, a := range alerts {
		codes = append(codes, a.Code+": "+a.Message)
	}
	if !slices.ContainsFunc(alerts, func(a mqtt.Alert) bool { return a.Code == kiosk.AlertRelayFault }) {
		t.Errorf("no %s alert for a relay line left energised by an exit pulse; alerts: %q", kiosk.AlertRelayFault, codes)
	}
	for _, a := range alerts {
		if strings.Contains(a.Message, "nobody was let out") {
			t.Errorf("alert %s says nobody was let out, but the exit pulse energised the relay and left it energised: %q", a.Code, a.Message)
		}
	}
	require.Equal(t, exitOK, r.stop(), r.logs.String())
}
