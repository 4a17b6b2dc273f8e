package kiosk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// The site wire holds the relay for a trusted evacuation still on as soon
// as its loop runs, which is before the kiosk's Run writes the running
// mark (cmd/facegate/run.go starts p.site.run, then the HTTP servers, then
// kiosk.Run, whose markRunning comes after the crop pruning). A daemon
// killed in between (kill -9, a power cut, a panic at start in a crash
// loop) left a hold and no running mark when the run before it had
// stopped cleanly: the next start (recoverInterruptedHold sees no mark)
// never records its end, and the audit log reads held, held: a hold the
// door no longer kept between the two, never ended.
func TestHoldBeforeTheRunningMarkInterruptedByACrashIsRecordedAsEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		// Run 1 during an evacuation: held, then a clean stop.
		r := newRig(t, cfg)
		stop := r.start(t)
		r.k.RelayHeld(true, "evac-1")
		r.k.HoldEndedByShutdown("evac-1")
		stop()
		if _, err := os.Stat(filepath.Join(cfg.StateDir, "kiosk", runningName)); err == nil {
			t.Fatal("running mark left by a clean stop")
		}
		// Run 2: the kiosk is made, the site wire holds again for evac-1
		// still on, and the daemon dies before kiosk.Run.
		r2 := newRig(t, cfg)
		r2.k.RelayHeld(true, "evac-1")
		// kill -9 here: Run never ran.

		// Run 3.
		r3 := newRig(t, cfg)
		r3.k.RelayHeld(true, "evac-1")
		stop = r3.start(t)
		defer stop()

		b, err := os.ReadFile(filepath.Join(cfg.StateDir, "audit", auditName))
		if err != nil {
			t.Fatal(err)
		}
		var holds []relayHoldRecord
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec relayHoldRecord
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Kind == relayHoldKind {
				holds = append(holds, rec)
			}
		}
		// held, shutdown end, held (run 2), its interrupted end, held (run 3)
		if len(holds) != 5 || holds[2].Held != true || holds[3].Held || holds[3].Reason != "interrupted" || !holds[4].Held {
			t.Fatalf("relay_hold records %+v: the hold of the run killed before its running mark is never recorded as ended\n%s", holds, b)
		}
	})
}
