package kiosk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
)

// A daemon killed during an evacuation hold (kill -9, a power cut, the
// watchdog's SIGABRT) ends the hold as surely as a stop (the line is no
// longer driven): the next start records that end (relay_hold held:false,
// reason interrupted) with a relay_interrupted alert. Until 2026-12-08
// nothing did, and the audit log's last word on the hold stayed held:true
// (for good when the evacuation ended while the gate was down; found by a
// red-team pass).
func TestHoldInterruptedByACrashIsRecordedAsEnded(t *testing.T) {
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

		holds, b := auditHoldRecords(t, cfg.StateDir)
		var last *relayHoldRecord
		if len(holds) > 0 {
			last = &holds[len(holds)-1]
		}
		if last == nil || last.Held || last.EvacuationID != "evac-1" {
			t.Fatalf("after a crash during the hold of evac-1 the audit log's last relay_hold is %+v: the hold's end is never recorded\n%s", last, b)
		}
	})
}

// The site holds the relay again at a restart during a trusted evacuation
// still on, as soon as its wire runs, which is before the kiosk runs: the
// end of the interrupted hold is recorded when the kiosk is made, before
// that, never over the new hold (which the red-team fix, at Run, took for
// the old one).
func TestInterruptedHoldEndedBeforeTheNewHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		r := newRig(t, cfg)
		stop := r.start(t)
		r.k.RelayHeld(true, "evac-1")
		stop()
		mark := filepath.Join(cfg.StateDir, "kiosk", runningName)
		if err := os.WriteFile(mark, []byte("x\n"), 0o640); err != nil {
			t.Fatal(err)
		}

		r2 := newRig(t, cfg)
		r2.k.RelayHeld(true, "evac-1") // the site wire, before the kiosk runs
		stop = r2.start(t)
		defer stop()

		holds, b := auditHoldRecords(t, cfg.StateDir)
		if len(holds) != 3 || !holds[0].Held || holds[1].Held || holds[1].Reason != "interrupted" || !holds[2].Held {
			t.Fatalf("holds %+v: want the old hold, its interrupted end, then the new hold\n%s", holds, b)
		}
	})
}

// A start that fails after the kiosk was made (its port taken, the model
// missing) is not a crash: Abandon removes the running mark New wrote, and
// the next start does not take it for one (it would queue the newest
// relay result again and look for an interrupted hold).
func TestAbandonedStartIsNotACrash(t *testing.T) {
	cfg := testConfig(t)
	r := newRig(t, cfg)
	mark := filepath.Join(cfg.StateDir, "kiosk", runningName)
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("New wrote no running mark: %v", err)
	}
	r.k.Abandon()
	if _, err := os.Stat(mark); !os.IsNotExist(err) {
		t.Fatalf("the running mark of an abandoned start stays: %v", err)
	}
	if err := r.k.Run(t.Context()); err == nil {
		t.Error("Run after Abandon started")
	}
	r2 := newRig(t, cfg)
	if r2.k.died {
		t.Error("the start after an abandoned one takes it for a crash")
	}
	r2.k.Abandon()
}

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

		holds, b := auditHoldRecords(t, cfg.StateDir)
		// held, shutdown end, held (run 2), its interrupted end, held (run 3)
		if len(holds) != 5 || holds[2].Held != true || holds[3].Held || holds[3].Reason != "interrupted" || !holds[4].Held {
			t.Fatalf("relay_hold records %+v: the hold of the run killed before its running mark is never recorded as ended\n%s", holds, b)
		}
	})
}

// auditHoldRecords are the relay_hold records of stateDir's audit log, in
// order, and the log itself (for a failure's message).
func auditHoldRecords(t *testing.T, stateDir string) ([]relayHoldRecord, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "audit", auditName))
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
	return holds, b
}
