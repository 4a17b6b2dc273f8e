package kiosk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// A relay held open for an evacuation is recorded (relay_hold held:true)
// and its end too: released, or released by a stopping daemon
// ({"held":false,"reason":"shutdown"}, 28584cd: "until now the audit log's
// last word on the hold said held:true while the door was locked again").
// A daemon killed during the hold (kill -9, a power cut, the watchdog's
// SIGABRT) ends the hold as surely (the line is no longer driven), but
// nothing ever records that end: the next start finds its running mark and
// recovers an interrupted grant, never an interrupted hold, so the audit
// log's last word on the hold stays held:true (for good when the
// evacuation ended while the gate was down, and the next start holds
// nothing). A grant interrupted the same way gets its "interrupted"
// result and a relay_interrupted alert.
func TestRtGrantHoldInterruptedByACrashIsRecordedAsEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		r := newRig(t, cfg)
		stop := r.start(t)
		r.k.RelayHeld(true, "evac-1") // the site wire holds the relay and records it
		stop()
		// kill -9 during the hold: the running mark stays behind.
		mark := filepath.Join(cfg.StateDir, "kiosk", runningName)
		if err := os.WriteFile(mark, []byte("x\n"), 0o640); err != nil {
			t.Fatal(err)
		}

		r2 := newRig(t, cfg)
		stop = r2.start(t)
		stop()

		b, err := os.ReadFile(filepath.Join(cfg.StateDir, "audit", auditName))
		if err != nil {
			t.Fatal(err)
		}
		var last *relayHoldRecord
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec relayHoldRecord
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Kind == relayHoldKind {
				last = &rec
			}
		}
		if last == nil || last.Held || last.EvacuationID != "evac-1" {
			t.Fatalf("after a crash during the hold of evac-1 the audit log's last relay_hold is %+v: the hold's end is never recorded\n%s", last, b)
		}
	})
}
