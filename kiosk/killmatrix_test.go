package kiosk

import (
	"bufio"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/outbox"
	"github.com/facegate/facegate/record"
)

// The kill matrix: a kiosk process (this test binary, re-executed) runs
// granted sessions back to back with the real audit log and the real
// outbox, and a relay that records each energise durably before it
// "moves". The parent kills it with SIGKILL at random points, over and over,
// then checks the write-ahead promise on what is left on disk:
//
//   - no energise without a durable record: energises <= grants in the
//     audit log, and <= grants in the outbox;
//   - nothing silently lost: every grant has exactly one relay result
//     (after the last start, which recovers an interrupted one);
//   - results agree with the relay: pulsed <= energises <= pulsed + interrupted.
//
// FACEGATE_KILLS sets the number of kills (make test: 40; make kill-matrix: 300).

const (
	killChildEnv = "FACEGATE_KILLMATRIX_DIR"
	killOnceEnv  = "FACEGATE_KILLMATRIX_ONCE" // start, recover, stop cleanly
)

func TestKillMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the kill matrix starts and kills dozens of processes")
	}
	kills := 40
	if s := os.Getenv("FACEGATE_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("FACEGATE_KILLS=%q is not a positive number", s)
		}
		kills = n
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; i < kills; i++ {
		cmd := killChild(t, dir, false)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Random points: during start-up (recovery), mid-session, mid-pulse.
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	last := killChild(t, dir, true)
	if out, err := last.CombinedOutput(); err != nil {
		t.Fatalf("the final clean start failed: %v\n%s", err, out)
	}

	energises := countLines(t, filepath.Join(dir, "relay.log"))
	grants, results := auditGrants(t, filepath.Join(dir, "audit"))
	boxGrantIDs, boxResults := outboxGrants(t, filepath.Join(dir, "outbox"))
	boxGrants := len(boxGrantIDs)
	byOutcome := map[string]int{}
	for id, rs := range results {
		if len(rs) != 1 {
			t.Errorf("grant %s has %d relay results %v, want exactly 1", id, len(rs), rs)
		}
		for _, r := range rs {
			byOutcome[r]++
		}
	}
	for id := range grants {
		if len(results[id]) == 0 {
			t.Errorf("grant %s has no relay result after the recovering start", id)
		}
		// What the audit log holds, MQTT gets: a kill between the two
		// writes is made good by the next start.
		if !boxGrantIDs[id] {
			t.Errorf("grant %s is in the audit log but not in the outbox", id)
		}
		for _, r := range results[id] {
			if !boxResults[id][r] {
				t.Errorf("grant %s: relay result %s is in the audit log but not in the outbox (%v)", id, r, boxResults[id])
			}
		}
	}
	for id, rs := range boxResults {
		// A result queued again after a crash is the same record
		// (consumers drop it by event_id); two different ones would be
		// two stories of one grant.
		if len(rs) != 1 {
			t.Errorf("grant %s has different relay results %v in the outbox, want one", id, rs)
		}
	}
	t.Logf("%d kills: %d energises, %d grants in the audit log, %d in the outbox, results %v",
		kills, energises, len(grants), boxGrants, byOutcome)
	if energises > len(grants) || energises > boxGrants {
		t.Errorf("%d energises but %d grants in the audit log and %d in the outbox: an energise without a durable record", energises, len(grants), boxGrants)
	}
	if p, i := byOutcome[record.RelayPulsed], byOutcome[record.RelayInterrupted]; energises < p || energises > p+i {
		t.Errorf("%d energises, %d pulsed and %d interrupted results: want pulsed <= energises <= pulsed + interrupted", energises, p, i)
	}
	if len(grants)-energises > kills {
		t.Errorf("%d grants never energised with only %d kills", len(grants)-energises, kills)
	}
	if energises == 0 || (kills >= 20 && byOutcome[record.RelayInterrupted] == 0) {
		t.Errorf("the matrix did not exercise the pulse (energises %d, interrupted %d): timing changed?", energises, byOutcome[record.RelayInterrupted])
	}
}

func killChild(t *testing.T, dir string, once bool) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMatrixChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	if once {
		cmd.Env = append(cmd.Env, killOnceEnv+"=1")
	}
	return cmd
}

// TestKillMatrixChild is the killed process (it does nothing unless the
// kill matrix started it).
func TestKillMatrixChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		t.Skip("run by TestKillMatrix only")
	}
	cfg := testConfig(t)
	cfg.StateDir = dir
	cfg.Policy.Cooldown = 0
	cfg.Policy.Attempts.Max = 0
	cfg.RelayPulse = 30 * time.Millisecond
	box, err := outbox.Open(filepath.Join(dir, "outbox"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	relay := &fileRelay{path: filepath.Join(dir, "relay.log")}
	k, err := New(*cfg, Deps{Selector: &fakeSelector{window: 5 * time.Millisecond}, Authenticator: &fakeAuth{res: approved()},
		Relay: relay, Publisher: outboxPublisher{box}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	for k.Status().State != StateIdle {
		time.Sleep(time.Millisecond)
	}
	if os.Getenv(killOnceEnv) == "" {
		for { // until killed
			if k.Identify(worker) != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileRelay appends a line to its file and fsyncs it before it reports the
// line energised: what survives a kill is what the relay did.
type fileRelay struct{ path string }

func (r *fileRelay) Pulse(ctx context.Context, d time.Duration, energised func()) error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString("E\n"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	energised()
	return sleepCtx(ctx, d)
}

// outboxPublisher queues events and relay results in a real outbox.
type outboxPublisher struct{ box *outbox.Outbox }

func (p outboxPublisher) PublishEvent(ev record.Event) error {
	b, err := json.Marshal(ev)
	if err == nil {
		_, err = p.box.Append(b)
	}
	return err
}

func (p outboxPublisher) PublishPulse(r record.PulseResult) error {
	b, err := json.Marshal(r)
	if err == nil {
		_, err = p.box.Append(b)
	}
	return err
}

func (outboxPublisher) PublishState(Status) error  { return nil }
func (outboxPublisher) PublishHealth(Health) error { return nil }
func (outboxPublisher) PublishAlert(Alert) error   { return nil }

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// auditGrants reads every audit file: the granted events by id and the
// relay results by event id. Torn lines (a kill mid-write) are skipped.
func auditGrants(t *testing.T, dir string) (grants map[string]bool, results map[string][]string) {
	t.Helper()
	grants, results = map[string]bool{}, map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(dir, auditName+"*"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec struct {
				Kind     string          `json:"kind"`
				EventID  string          `json:"event_id"`
				Relay    string          `json:"relay"`
				Decision record.Decision `json:"decision"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch {
			case rec.Kind == record.PulseKind:
				results[rec.EventID] = append(results[rec.EventID], rec.Relay)
			case rec.Decision == record.DecisionGranted:
				grants[rec.EventID] = true
			}
		}
		f.Close()
	}
	return grants, results
}

// outboxGrants reads the outbox: the grants' event ids, and the relay
// results by event id (each once: recovery may queue one again).
func outboxGrants(t *testing.T, path string) (grants map[string]bool, results map[string]map[string]bool) {
	t.Helper()
	box, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	grants, results = map[string]bool{}, map[string]map[string]bool{}
	var after uint64
	for {
		recs, err := box.Next(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return grants, results
		}
		for _, r := range recs {
			var rec struct {
				Kind     string          `json:"kind"`
				EventID  string          `json:"event_id"`
				Decision record.Decision `json:"decision"`
				Relay    string          `json:"relay"`
			}
			switch {
			case json.Unmarshal(r.Payload, &rec) != nil:
			case rec.Kind == record.PulseKind:
				if results[rec.EventID] == nil {
					results[rec.EventID] = map[string]bool{}
				}
				results[rec.EventID][rec.Relay] = true
			case rec.Decision == record.DecisionGranted:
				grants[rec.EventID] = true
			}
			after = r.ID
		}
	}
}
