package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
)

// TestRunPublishesExitButtonPulse: a local exit-button pulse shows on the
// retained <prefix>/relay and the screen like a grant's pulse, open then
// closed, and is recorded in the audit log.
func TestRunPublishesExitButtonPulse(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 300ms}\n  leds:\n", 1))
	r.start()
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "online"
	}, 10*time.Second, 20*time.Millisecond, "online")
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")

	sim := r.d.p.gate.Sim()
	if err := sim.SetInput("exit_button", true); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Equal(r.bl.relayTopic, []string{"open", "closed"})
	}, 10*time.Second, 20*time.Millisecond, "the relay topic to show the exit pulse")
	if p := sim.Pulses(); len(p) != 1 || p[0].End.Sub(p[0].Start) < 300*time.Millisecond {
		t.Fatalf("sim pulses %+v, want one of io.exit_button.pulse (300ms)", p)
	}
	if got := r.d.p.kiosk.Status().Relay; got != "closed" {
		t.Fatalf("screen relay %q after the pulse, want closed", got)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	// The opening is in the audit log (it was only a log line).
	b, err := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
	require.NoError(t, err)
	var exits int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct{ Kind, Input, TS string }
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		if rec.Kind == "input" && rec.Input == kiosk.InputExitPressed {
			exits++
			ts, err := time.Parse(time.RFC3339Nano, rec.TS)
			require.NoError(t, err)
			require.WithinDuration(t, sim.Pulses()[0].Start, ts, time.Second, "stamped when the button was pressed")
		}
	}
	require.Equal(t, 1, exits, "one audit record of the exit opening:\n%s", b)
}
