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
	r.waitOnlineAndIdle(t)

	sim := r.d.p.gate.Sim()
	if err := sim.SetInput("exit_button", true); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		// "closed" at start (the line as it is), then the pulse.
		return slices.Equal(r.bl.relayTopic, []string{"closed", "open", "closed"})
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

// Exit presses while the daemon stops: the relay is halted, the events
// already emitted handled and their records written before the kiosk
// closes its audit log. Until 2026-12-07 the kiosk closed it first: a
// press after that pulsed the relay and its record was refused.
func TestExitPressesDuringShutdownAreRecorded(t *testing.T) {
	for round := 0; round < 3; round++ {
		r := newRig(t, 0)
		r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 1ms}\n  leds:\n", 1))
		r.start()
		require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
		sim := r.d.p.gate.Sim()
		stop := make(chan struct{})
		pressing := make(chan struct{})
		go func() {
			defer close(pressing)
			for level := true; ; level = !level {
				select {
				case <-stop:
					return
				default:
				}
				_ = sim.SetInput("exit_button", level)
				time.Sleep(200 * time.Microsecond)
			}
		}()
		time.Sleep(50 * time.Millisecond)
		code := r.stop()
		close(stop)
		<-pressing
		require.Equal(t, exitOK, code, r.logs.String())
		for _, lost := range []string{"audit log write failed", "audit record not written"} {
			require.NotContains(t, r.logs.String(), lost, "round %d: a record of an exit press was lost", round)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
		require.NoError(t, err)
		var records int
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec struct{ Kind, Input string }
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			if rec.Kind == "input" && rec.Input == kiosk.InputExitPressed {
				records++
			}
		}
		require.GreaterOrEqual(t, records, len(sim.Pulses()), "round %d: every exit pulse has its press's record", round)
	}
}
