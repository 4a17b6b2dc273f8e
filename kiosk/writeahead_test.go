package kiosk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// A grant whose event cannot be written durably does not open under the
// default policy (on_record_failure: deny), and opens with an alert under
// "open". Either way the relay result says what happened.
func TestRecordFailureBeforeTheRelay(t *testing.T) {
	tests := []struct {
		name      string
		policy    string
		breakIt   func(r *rig)
		wantPulse bool
		relay     string
	}{
		{"outbox refuses, deny", RecordFailureDeny, func(r *rig) { r.pub.eventErr = errors.New("no space left on device") }, false, record.RelayNotEnergised},
		{"audit log refuses, deny", RecordFailureDeny, func(r *rig) { r.k.audit.close() }, false, record.RelayNotEnergised},
		{"outbox refuses, open", RecordFailureOpen, func(r *rig) { r.pub.eventErr = errors.New("no space left on device") }, true, record.RelayPulsed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Policy.OnRecordFailure = tc.policy
				r := newRig(t, cfg)
				stop := r.start(t)
				tc.breakIt(r)
				r.identify(t, worker, 1)
				require.Eventually(t, func() bool { return len(r.pub.relayResults()) == 1 }, time.Minute, 100*time.Millisecond)
				_, states, alerts := r.pub.snapshot()
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if got := r.relay.count() == 1; got != tc.wantPulse {
					t.Fatalf("pulsed %v, want %v", got, tc.wantPulse)
				}
				res := r.pub.relayResults()[0]
				if res.Relay != tc.relay || (!tc.wantPulse && res.Reason != ReasonRecordFailed) {
					t.Errorf("relay result %+v, want %s", res, tc.relay)
				}
				if !slices.ContainsFunc(alerts, func(a Alert) bool { return a.Code == AlertRecordFailed }) {
					t.Errorf("alerts %+v, want record_failed", alerts)
				}
				if granted := slices.Contains(states, StateGranted); granted != tc.wantPulse {
					t.Errorf("states %v: granted shown %v, want %v", states, granted, tc.wantPulse)
				}
			})
		})
	}
}

// A grant recorded but never followed by its relay result (the daemon was
// killed during the pulse) is recorded as interrupted at the next start,
// with an alert; a finished one is left alone.
func TestInterruptedGrantRecoveredAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		r := newRig(t, cfg)
		stop := r.start(t)
		r.identify(t, worker, 1)
		require.Eventually(t, func() bool { return len(r.pub.relayResults()) == 1 }, time.Minute, 100*time.Millisecond)
		stop()

		// A clean restart finds nothing to recover.
		r2 := newRig(t, cfg)
		stop = r2.start(t)
		stop()
		if res, _, alerts := r2.pub.relayResults(), 0, r2.alertCodes(); len(res) != 0 || len(alerts) != 0 {
			t.Fatalf("after a clean stop: relay results %+v alerts %v", res, alerts)
		}
		// A run that died after writing the relay result to the audit log
		// (its running mark left behind) may not have queued it: the
		// result is queued again, once.
		mark := filepath.Join(cfg.StateDir, "kiosk", runningName)
		require.NoFileExists(t, mark, "a clean stop removes the running mark")
		require.NoError(t, os.WriteFile(mark, []byte("x\n"), 0o640))
		r2b := newRig(t, cfg)
		stop = r2b.start(t)
		stop()
		first := r.pub.relayResults()[0]
		if res := r2b.pub.relayResults(); len(res) != 1 || res[0] != first {
			t.Fatalf("after a crash: relay results %+v, want %+v again", res, first)
		}
		if codes := r2b.alertCodes(); len(codes) != 0 {
			t.Fatalf("after a crash with the result recorded: alerts %v", codes)
		}

		// Simulate kill -9 during the pulse: the grant's relay result never
		// reached the audit log.
		path := filepath.Join(cfg.StateDir, "audit", auditName)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
		var grant record.Event
		if err := json.Unmarshal([]byte(lines[len(lines)-2]), &grant); err != nil || grant.Relay != record.RelayPending {
			t.Fatalf("second-to-last audit line %q is not the pending grant (%v)", lines[len(lines)-2], err)
		}
		// A torn tail is no record, whether left as it is or terminated by
		// the audit log's repair; a gate input recorded during the pulse
		// (the door forced by the crash's cause?) or an operator's unlock
		// made meanwhile does not hide the grant.
		for _, tail := range []string{`{"kind":"relay","event_id":"`, "{\"kind\":\"rel\n",
			`{"kind":"input","input":"tamper-alarm","ts":"2026-01-01T00:00:00.000Z","site":"s","gate":"g"}` + "\n",
			`{"kind":"liveness_unlock","ts":"2026-01-01T00:00:00.000Z","site":"s","gate":"g","source":"http","was_locked":true,"failures_cleared":3}` + "\n"} {
			if err := os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-1], "")+tail), 0o640); err != nil {
				t.Fatal(err)
			}
			r3 := newRig(t, cfg)
			stop = r3.start(t)
			stop()
			res := r3.pub.relayResults()
			if len(res) != 1 || res[0].EventID != grant.EventID || res[0].Relay != record.RelayInterrupted {
				t.Fatalf("tail %q: relay results %+v, want interrupted for %s", tail, res, grant.EventID)
			}
			if codes := r3.alertCodes(); !slices.Equal(codes, []string{AlertRelayInterrupted}) {
				t.Fatalf("tail %q: alerts %v", tail, codes)
			}
			// The grant itself is queued again, before its result: the
			// daemon may have died before the outbox had it.
			if evs := r3.events(); len(evs) != 1 || !reflect.DeepEqual(evs[0], grant) {
				t.Fatalf("tail %q: events queued %+v, want the grant again %+v", tail, evs, grant)
			}
		}

		// Thousands of exit presses (300 KB, more than one read of the
		// log's end) after the grant's result, which a rotation put at the
		// start of the new file: the result is still found, nothing is
		// recovered.
		result := lines[len(lines)-1]
		presses := strings.Repeat(`{"kind":"input","input":"exit-pressed","ts":"2026-01-01T00:00:00.000Z","site":"s","gate":"g"}`+"\n", 3000)
		require.NoError(t, os.WriteFile(path+".1", []byte(strings.Join(lines[:len(lines)-1], "")), 0o640))
		require.NoError(t, os.WriteFile(path, []byte(result+"\n"+presses), 0o640)) // the last of lines has no newline
		rp := newRig(t, cfg)
		stop = rp.start(t)
		stop()
		if res, codes := rp.pub.relayResults(), rp.alertCodes(); len(res) != 0 || len(codes) != 0 {
			t.Fatalf("a finished grant behind 3,000 exit presses: relay results %+v, alerts %v; want none", res, codes)
		}

		// The unlock's line rotated the log: the grant is the last line
		// of audit.jsonl.1.
		unlock := `{"kind":"liveness_unlock","ts":"2026-01-01T00:00:00.000Z","site":"s","gate":"g","source":"site","was_locked":true,"failures_cleared":3}` + "\n"
		require.NoError(t, os.WriteFile(path+".1", []byte(strings.Join(lines[:len(lines)-1], "")), 0o640))
		require.NoError(t, os.WriteFile(path, []byte(unlock), 0o640))
		r4 := newRig(t, cfg)
		stop = r4.start(t)
		stop()
		if res := r4.pub.relayResults(); len(res) != 1 || res[0].EventID != grant.EventID || res[0].Relay != record.RelayInterrupted {
			t.Fatalf("after a rotation: relay results %+v, want interrupted for %s", res, grant.EventID)
		}
	})
}

// TestSeqGoesOnAfterTheAudit: a sequence number used while the sequence
// file could not be saved (the grant still went out, with an alert) is
// not used again after a restart: the audit log holds it.
func TestSeqGoesOnAfterTheAudit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Cooldown = 0
		r := newRig(t, cfg)
		stop := r.start(t)
		r.identify(t, worker, 1)
		r.k.seq.mu.Lock()
		r.k.seq.path = filepath.Join(cfg.StateDir, "no-such-dir", "seq") // every save fails
		r.k.seq.mu.Unlock()
		time.Sleep(time.Second)
		r.identify(t, worker, 2)
		stop()
		require.Contains(t, r.alertCodes(), "state_dir", "the failed save is an alert")
		r2 := newRig(t, cfg)
		stop = r2.start(t)
		r2.identify(t, worker, 1)
		stop()
		before, after := r.events()[1], r2.events()[0]
		require.Equal(t, before.Seq+1, after.Seq, "the number after the newest in the audit log (%s had %d)", before.EventID, before.Seq)
	})
}

// A damaged audit line whose seq is beyond what consumers read exactly
// (or would wrap the counter) does not move the sequence: it goes on from
// its file.
func TestSeqIgnoresADamagedAuditNumber(t *testing.T) {
	for _, seq := range []string{"18446744073709551615", "9007199254740991"} {
		t.Run(seq, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Policy.Cooldown = 0
				r := newRig(t, cfg)
				stop := r.start(t)
				r.identify(t, worker, 1)
				stop()
				f, err := os.OpenFile(filepath.Join(cfg.StateDir, "audit", auditName), os.O_APPEND|os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteString(`{"seq":` + seq + `,"decision":"denied"}` + "\n")
				require.NoError(t, err)
				require.NoError(t, f.Close())
				r2 := newRig(t, cfg)
				stop = r2.start(t)
				r2.identify(t, worker, 1)
				stop()
				require.Equal(t, r.events()[0].Seq+1, r2.events()[0].Seq)
			})
		})
	}
}

func (r *rig) alertCodes() []string {
	_, _, alerts := r.pub.snapshot()
	var codes []string
	for _, a := range alerts {
		codes = append(codes, a.Code)
	}
	return codes
}

// A grant whose relay never energised (driver error, or a pulse cancelled
// before the line moved, which returns ctx's error just like a pulse cut
// after it) records no anti-passback: the worker may try again.
func TestNoPassbackWithoutEnergise(t *testing.T) {
	for _, relayErr := range []error{errors.New("gpio busy"), context.Canceled} {
		t.Run(relayErr.Error(), func(t *testing.T) { testNoPassbackWithoutEnergise(t, relayErr) })
	}
}

func testNoPassbackWithoutEnergise(t *testing.T, relayErr error) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.AntiPassback.Mode = "hard"
		cfg.Policy.AntiPassback.Window = time.Hour
		cfg.Policy.Cooldown = 0
		r := newRig(t, cfg)
		r.relay.err = relayErr
		stop := r.start(t)
		r.identify(t, worker, 1)
		r.relay.mu.Lock()
		r.relay.err = nil
		r.relay.mu.Unlock()
		r.identify(t, worker, 2)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		evs := r.events()
		if evs[1].Decision != record.DecisionGranted || slices.Contains(evs[1].Reason, ReasonAntiPassback) {
			t.Fatalf("second attempt %s %v: the failed opening was remembered as an entry", evs[1].Decision, evs[1].Reason)
		}
	})
}

// The gate inputs that need a person are audited and alerted; others are
// ignored.
func TestGateInputIsAuditedAndAlerted(t *testing.T) {
	r := newRig(t, nil)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, in := range []string{InputDoorForced, InputDoorHeldOpen, InputTamperAlarm, InputFault, "door-opened"} {
		r.k.GateInput(in, "detail of "+in, at)
	}
	if codes := r.alertCodes(); !slices.Equal(codes, []string{"door_forced", "door_held_open", "tamper_alarm", "input_fault"}) {
		t.Fatalf("alerts %v", codes)
	}
	b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"kind":"input","input":"door-forced","detail":"detail of door-forced","ts":"2026-03-04T05:06:07.000Z"`) {
		t.Fatalf("audit:\n%s", b)
	}
}

// TestSlowRecordCannotOpenOnAStaleApproval: the grant is written to the
// audit log and the outbox before the relay moves; when that takes so long
// (a slow or failing card) that the approval is older than max_age, the
// relay stays put and the pulse result says why. A quick record opens. A
// remote open is held to the same age from its session's start: it fired
// minutes after the operator asked, at whoever stood there then.
func TestSlowRecordCannotOpenOnAStaleApproval(t *testing.T) {
	for _, tc := range []struct {
		remote bool
		delay  time.Duration
		pulses int
	}{
		{false, time.Second, 1},
		{false, 6 * time.Second, 0}, // 600 ms selection + 800 ms API + 6 s > 5 s
		{true, time.Second, 1},
		{true, 6 * time.Second, 0},
	} {
		t.Run(fmt.Sprintf("remote=%v/%v", tc.remote, tc.delay), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Policy.MaxAge = 5 * time.Second
				r := newRig(t, cfg)
				r.pub.eventDelay = tc.delay
				stop := r.start(t)
				if tc.remote {
					require.NoError(t, r.k.RemoteOpen(RemoteOpen{Source: SourceMQTT, By: "ops"}))
				} else {
					r.identify(t, worker, 1)
				}
				require.Eventually(t, func() bool { return len(r.pub.relayResults()) == 1 }, time.Minute, 100*time.Millisecond)
				stop()
				if ev := r.events()[0]; ev.Decision != "granted" {
					t.Fatalf("%s %v: the API approved a fresh frame", ev.Decision, ev.Reason)
				}
				if r.relay.count() != tc.pulses {
					t.Fatalf("%d pulses, want %d", r.relay.count(), tc.pulses)
				}
				res := r.pub.relayResults()[0]
				if tc.pulses == 0 && (res.Relay != record.RelayNotEnergised || res.Reason != ReasonStaleApproval) {
					t.Errorf("pulse result %+v, want not_energised stale_approval", res)
				}
				if tc.pulses == 1 && res.Relay != record.RelayPulsed {
					t.Errorf("pulse result %+v, want pulsed", res)
				}
			})
		})
	}
}

// A grant whose pulse the relay refuses because the daemon is stopping (it
// halts the relay before the kiosk's last session ends) is not_energised
// for shutdown, not a relay failure: no relay_failed alert.
func TestHaltedRelayAtShutdownIsNotARelayFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.relay.err = fmt.Errorf("%w: relay halted", ErrRelayStopping)
		stop := r.start(t)
		r.identify(t, worker, 1)
		require.NoError(t, stop())
		res := r.pub.relayResults()
		require.Len(t, res, 1)
		require.Equal(t, record.RelayNotEnergised, res[0].Relay)
		require.Equal(t, ReasonShutdown, res[0].Reason)
		require.NotContains(t, r.alertCodes(), ReasonRelayFailed)
	})
}
