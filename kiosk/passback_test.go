package kiosk

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/facegate/facegate/record"
)

// A restart inside the window still refuses the second entry: the grant is
// read back from the state directory, which holds no raw submission id.
func TestAntiPassbackSurvivesARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.AntiPassback.Mode = "hard"
		cfg.Policy.AntiPassback.Window = time.Hour
		first := newRig(t, cfg)
		stop := first.start(t)
		first.identify(t, worker, 1)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if ev := first.events()[0]; ev.Decision != record.DecisionGranted {
			t.Fatalf("first entry %s %v", ev.Decision, ev.Reason)
		}
		saved, err := os.ReadFile(filepath.Join(cfg.StateDir, "kiosk", "passback.json"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(saved), worker.SubmissionID) {
			t.Fatalf("the state file holds the raw submission id: %s", saved)
		}

		time.Sleep(10 * time.Minute)
		second := newRig(t, cfg) // the same state directory: a restarted daemon
		stop = second.start(t)
		second.identify(t, worker, 1)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if ev := second.events()[0]; ev.Decision != record.DecisionDenied || !slices.Contains(ev.Reason, ReasonAntiPassback) {
			t.Errorf("entry after the restart %s %v, want denied anti_passback", ev.Decision, ev.Reason)
		}
		if second.relay.count() != 0 {
			t.Errorf("%d pulses after the restart, want 0", second.relay.count())
		}
	})
}

func TestPassbackWindowAndClockSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passback.json")
	granted := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	p, err := openPassback(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.grant("sub-1", granted, time.Hour); err != nil {
		t.Fatal(err)
	}
	reopened, err := openPassback(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just after", granted.Add(time.Second), true},
		{"inside the window", granted.Add(59 * time.Minute), true},
		{"window passed", granted.Add(time.Hour), false},
		{"clock a little behind", granted.Add(-30 * time.Second), true},
		// A Pi booted without its clock: the grant looks years ahead.
		{"clock stepped back", granted.Add(-24 * time.Hour), false},
	} {
		if got := reopened.check("sub-1", tc.now, time.Hour); got != tc.want {
			t.Errorf("%s: check = %v, want %v", tc.name, got, tc.want)
		}
	}
	if reopened.check("sub-2", granted.Add(time.Second), time.Hour) {
		t.Error("another worker is refused")
	}

	// Grants outside the window are dropped from the file.
	if err := reopened.grant("sub-2", granted.Add(2*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	again, err := openPassback(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.last) != 1 || !again.check("sub-2", granted.Add(2*time.Hour+time.Minute), time.Hour) {
		t.Errorf("after pruning: %d entries, want only sub-2", len(again.last))
	}
}

func TestCorruptPassbackFileIsNamed(t *testing.T) {
	for name, content := range map[string]string{
		"not json": "{granted",
		"raw id":   `{"granted":{"sub-1":"2026-11-22T08:00:00Z"}}`,
		"bad time": `{"granted":{"` + passbackKey("s") + `":"yesterday"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			dir := filepath.Join(cfg.StateDir, "kiosk")
			if err := os.MkdirAll(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "passback.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fix or delete it") {
				t.Fatalf("New: %v, want an error naming %s", err, path)
			}
		})
	}
}

// A grant that cannot be saved still opens the gate and tells the operator.
func TestPassbackSaveFailureAlerts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.AntiPassback.Mode = "hard"
		r := newRig(t, cfg)
		// A directory in the file's place makes the rename fail.
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, "kiosk", "passback.json", "x"), 0o750); err != nil {
			t.Fatal(err)
		}
		stop := r.start(t)
		r.identify(t, worker, 1)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		evs, _, alerts := r.pub.snapshot()
		if evs[0].Decision != record.DecisionGranted || r.relay.count() != 1 {
			t.Errorf("event %s, %d pulses; want granted and 1", evs[0].Decision, r.relay.count())
		}
		if len(alerts) != 1 || alerts[0].Code != "state_dir" || !strings.Contains(alerts[0].Message, "anti-passback") {
			t.Errorf("alerts %+v, want one state_dir alert about the anti-passback memory", alerts)
		}
	})
}

// A grant interrupted by kill -9 or a power cut during its pulse (after
// the relay energised, before the anti-passback memory's save reached the
// disk) is recovered at the next start as "interrupted: whether the gate
// opened is unknown". It counts as an entry: until 2026-12-07 the same
// worker was let in again at once under hard anti-passback.
func TestInterruptedGrantCountsForAntiPassback(t *testing.T) {
	for _, privacy := range []record.Privacy{record.PrivacyPlain, record.PrivacyHash} {
		t.Run(string(privacy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Privacy = privacy
				cfg.Policy.AntiPassback = AntiPassback{Mode: "hard", Window: time.Hour}
				r := newRig(t, cfg)
				stop := r.start(t)
				r.identify(t, worker, 1)
				if err := stop(); err != nil {
					t.Fatal(err)
				}

				// What a kill during the pulse leaves: the pending grant is
				// the audit log's last line, the passback file never saved,
				// the running mark still there.
				path := filepath.Join(cfg.StateDir, "audit", auditName)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
				if !strings.Contains(lines[len(lines)-2], `"relay":"pending"`) {
					t.Fatalf("no pending grant before the result: %s", b)
				}
				must := func(err error) {
					t.Helper()
					if err != nil {
						t.Fatal(err)
					}
				}
				must(os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-1], "")), 0o640))
				must(os.Remove(filepath.Join(cfg.StateDir, "kiosk", "passback.json")))
				must(os.WriteFile(filepath.Join(cfg.StateDir, "kiosk", runningName), []byte("x\n"), 0o640))

				time.Sleep(time.Minute)
				again := newRig(t, cfg)
				stop = again.start(t)
				again.identify(t, worker, 2) // the grant queued again, then this session
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if res := again.pub.relayResults(); len(res) == 0 || res[0].Relay != record.RelayInterrupted {
					t.Fatalf("relay results %+v, want the interrupted grant's first", res)
				}
				evs := again.events()
				ev := evs[len(evs)-1]
				if ev.Decision != record.DecisionDenied || !slices.Contains(ev.Reason, ReasonAntiPassback) {
					t.Fatalf("a minute after an interrupted grant the same worker got %s %v (%d pulses): want denied %s",
						ev.Decision, ev.Reason, again.relay.count(), ReasonAntiPassback)
				}
			})
		})
	}
}
