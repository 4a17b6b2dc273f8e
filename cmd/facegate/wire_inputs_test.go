package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/kiosk"
)

// TestRunRecordsForcedDoorAndTamper: a door opened without a grant and a
// tamper alarm are not only logged: each is an operator alert on
// <prefix>/alert and a record in the audit log.
func TestRunRecordsForcedDoorAndTamper(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  door: {line: GPIO7}\n  tamper: {line: GPIO8}\n  leds:\n", 1))
	r.start()
	waitUntil(t, 10*time.Second, "idle", func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle })
	waitUntil(t, 10*time.Second, "online", func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "online"
	})
	sim := r.d.p.gate.Sim()
	for _, tc := range []struct{ line, alert, input string }{
		{"door", "door_forced", kiosk.InputDoorForced},
		{"tamper", "tamper_alarm", kiosk.InputTamperAlarm},
	} {
		if err := sim.SetInput(tc.line, true); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "the "+tc.alert+" alert", func() bool {
			r.bl.mu.Lock()
			defer r.bl.mu.Unlock()
			for _, a := range r.bl.alerts {
				if a.Code == tc.alert {
					return true
				}
			}
			return false
		})
		audit := filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl")
		waitUntil(t, 5*time.Second, "the "+tc.input+" audit record", func() bool {
			b, _ := os.ReadFile(audit)
			return strings.Contains(string(b), `"kind":"input","input":"`+tc.input+`"`)
		})
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
}
