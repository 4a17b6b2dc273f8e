package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
)

// TestRunRecordsForcedDoorAndTamper: a door opened without a grant and a
// tamper alarm are not only logged: each is an operator alert on
// <prefix>/alert and a record in the audit log.
func TestRunRecordsForcedDoorAndTamper(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  door: {line: GPIO7}\n  tamper: {line: GPIO8}\n  leds:\n", 1))
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "online"
	}, 10*time.Second, 20*time.Millisecond, "online")
	sim := r.d.p.gate.Sim()
	for _, tc := range []struct{ line, alert, input string }{
		{"door", "door_forced", kiosk.InputDoorForced},
		{"tamper", "tamper_alarm", kiosk.InputTamperAlarm},
	} {
		if err := sim.SetInput(tc.line, true); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool {
			r.bl.mu.Lock()
			defer r.bl.mu.Unlock()
			for _, a := range r.bl.alerts {
				if a.Code == tc.alert {
					return true
				}
			}
			return false
		}, 10*time.Second, 20*time.Millisecond, "the "+tc.alert+" alert")
		audit := filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl")
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(audit)
			return strings.Contains(string(b), `"kind":"input","input":"`+tc.input+`"`)
		}, 5*time.Second, 20*time.Millisecond, "the "+tc.input+" audit record")
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
}
