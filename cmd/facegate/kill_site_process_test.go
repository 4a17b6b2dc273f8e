package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// processGate is the built daemon run as a process against a test rig
// (the embedded broker, the FaceAuth emulator, the sim relay) with the
// zones section given, to be killed with SIGKILL and started again.
type processGate struct {
	t        *testing.T
	r        *rig
	bin      string
	addr     string
	stateDir string
	env      []string
	logs     *syncBuffer
}

// newProcessGate builds the binary and writes the rig's configuration
// with zones and a fixed kiosk address; the daemon's output is logged
// when the test fails.
func newProcessGate(t *testing.T, zones string, env ...string) *processGate {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	g := &processGate{t: t, r: newRig(t, 0), bin: filepath.Join(t.TempDir(), "facegate"), logs: &syncBuffer{},
		env: append([]string{"FACEGATE_API_KEY=test-key-123"}, env...)}
	if out, err := exec.Command("go", "build", "-o", g.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	ln.Close()
	g.r.writeConfig(strings.Replace(g.r.cfgYAML, "listen: 127.0.0.1:0", "listen: "+g.addr, 1) + zones)
	g.stateDir = filepath.Join(filepath.Dir(g.r.cfgPath), "state")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon output:\n%s", g.logs.String())
		}
	})
	return g
}

// start runs the daemon; done is closed once it exited.
func (g *processGate) start() (cmd *exec.Cmd, done chan struct{}) {
	g.t.Helper()
	g.r.bl.mu.Lock()
	g.r.bl.status = nil
	g.r.bl.mu.Unlock()
	cmd = exec.Command(g.bin, "run", "--config", g.r.cfgPath)
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Stdout, cmd.Stderr = g.logs, g.logs
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	g.t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return cmd, done
}

// up waits for the kiosk's HTTP server.
func (g *processGate) up() {
	g.t.Helper()
	require.Eventually(g.t, func() bool {
		resp, err := http.Get("http://" + g.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 30*time.Second, 20*time.Millisecond, "http up")
}

// online waits for the broker to see the gate online and its HTTP up,
// and for its command subscriptions.
func (g *processGate) online() {
	g.t.Helper()
	require.Eventually(g.t, func() bool {
		g.r.bl.mu.Lock()
		defer g.r.bl.mu.Unlock()
		return len(g.r.bl.status) > 0 && g.r.bl.status[len(g.r.bl.status)-1] == "online"
	}, 30*time.Second, 20*time.Millisecond, "online")
	g.up()
	time.Sleep(500 * time.Millisecond) // the command subscriptions
}

// identify shows worker-1's badge over MQTT.
func (g *processGate) identify() {
	g.t.Helper()
	if err := g.r.broker.Publish(g.r.prefix+"/cmd/identify", []byte(`{"submission_id":"sub-worker-1","user_id":"worker-1"}`), false); err != nil {
		g.t.Fatal(err)
	}
}

// onSite reports whether /site.json counts worker-1 on site.
func (g *processGate) onSite() bool {
	g.t.Helper()
	resp, err := http.Get("http://" + g.addr + "/site.json")
	if err != nil {
		g.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return strings.Contains(string(body), `"worker-1"`)
}

// The built daemon, as a process, with zones on (entry door, hard
// anti-passback), the emulator, the sim relay and the embedded broker: a
// worker is granted, the daemon is killed with SIGKILL at once (inside
// the presence's 10 s save interval, the pulse in progress), restarted.
// The restarted gate must still count the worker on site (/site.json) and
// refuse the same badge through hard anti-passback.
func TestRealKillRightAfterAGrantKeepsTheWorkerOnSite(t *testing.T) {
	g := newProcessGate(t, `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
  anti_passback: {mode: hard}
`)
	decisions := func() []record.Event {
		g.r.bl.mu.Lock()
		defer g.r.bl.mu.Unlock()
		return append([]record.Event(nil), g.r.bl.events...)
	}
	cmd, done := g.start()
	g.online()
	g.identify()
	require.Eventually(t, func() bool { return g.r.bl.granted() == 1 }, 30*time.Second, 5*time.Millisecond, "a grant")
	_ = cmd.Process.Signal(syscall.SIGKILL) // kill -9 right after the grant went out
	<-done
	audit, _ := os.ReadFile(filepath.Join(g.stateDir, "audit", "audit.jsonl"))
	t.Logf("audit log at the kill:\n%s", audit)

	g.start()
	g.online()
	if !g.onSite() {
		t.Errorf("after the kill the restarted gate does not count worker-1 on site")
	}
	n := len(decisions())
	g.identify()
	require.Eventually(t, func() bool { return len(decisions()) > n }, 30*time.Second, 5*time.Millisecond, "a second decision")
	ev := decisions()[n]
	if ev.Decision == record.DecisionGranted {
		t.Errorf("after the kill the same badge is let in again through hard anti-passback: %+v", ev)
	}
	t.Logf("second decision: %s %v", ev.Decision, ev.Reason)
}

// The same with a two-way door, killed at random points around each
// pass (before the grant, during the pulse, after it): after each restart
// the gate counts the worker on site exactly when the newest grant of the
// audit log whose relay was not proven idle (not_energised) took the
// worker in. FACEGATE_SITE_KILLS sets the number of kills (default 8).
func TestRealKillMatrixTwoWayDoorPresence(t *testing.T) {
	g := newProcessGate(t, `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: both}
  anti_passback: {mode: hard}
`)
	kills := 8
	if s := os.Getenv("FACEGATE_SITE_KILLS"); s != "" {
		fmt.Sscan(s, &kills)
	}
	stateDir := g.stateDir
	// expected reads the audit log: is the worker's newest grant that may
	// have opened an entry?
	expected := func() (bool, int) {
		var lines []string
		for _, name := range []string{"audit.jsonl.1", "audit.jsonl"} {
			b, _ := os.ReadFile(filepath.Join(stateDir, "audit", name))
			lines = append(lines, strings.Split(string(b), "\n")...)
		}
		idle := map[string]bool{}
		var grants []record.Event
		for _, l := range lines {
			var ev record.Event
			if json.Unmarshal([]byte(l), &ev) != nil {
				continue
			}
			var res record.PulseResult
			if json.Unmarshal([]byte(l), &res) == nil && res.Kind == record.PulseKind {
				if res.Relay == record.RelayNotEnergised {
					idle[res.EventID] = true
				}
				continue
			}
			if ev.Decision == record.DecisionGranted && ev.UserID == "worker-1" {
				grants = append(grants, ev)
			}
		}
		for i := len(grants) - 1; i >= 0; i-- {
			if !idle[grants[i].EventID] {
				return grants[i].ZoneTo == "site", len(grants)
			}
		}
		return false, len(grants)
	}
	rng := time.Now().UnixNano()
	for i := 0; i < kills; i++ {
		cmd, done := g.start()
		g.online()
		if want, n := expected(); g.onSite() != want {
			t.Fatalf("after kill %d: /site.json has worker-1 %v, the audit log (%d grants) says %v", i, !want, n, want)
		}
		g.identify()
		rng = rng*6364136223846793005 + 1442695040888963407
		delay := time.Duration(uint64(rng)>>33%700) * time.Millisecond
		time.Sleep(200*time.Millisecond + delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	g.start()
	g.online()
	want, n := expected()
	if g.onSite() != want {
		t.Fatalf("after the last kill: /site.json has worker-1 %v, the audit log (%d grants) says %v", !want, n, want)
	}
	t.Logf("%d kills, %d grants, on site at the end: %v", kills, n, want)
}

// The built daemon holds the relay for an evacuation started through its
// admin API, is killed with SIGKILL during the hold and restarted with
// the evacuation still on: the audit log reads held, its interrupted end,
// held again; then the operator's end releases it.
func TestRealKillDuringAnEvacuationHold(t *testing.T) {
	const token = "kill-test-admin-token-0123456789"
	g := newProcessGate(t, `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
  anti_passback: {mode: hard}
  evacuation: {release_relay: true}
`, "FACEGATE_SITE_ADMIN_TOKEN="+token)
	addr, stateDir := g.addr, g.stateDir
	evacuation := func(action string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/site/evacuation", strings.NewReader(`{"action":"`+action+`","by":"marshal","reason":"rt"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("evacuation %s: %d %s", action, resp.StatusCode, b)
		}
	}
	holds := func() []map[string]any { return auditHolds(t, stateDir) }

	cmd, done := g.start()
	g.up()
	evacuation("start")
	require.Eventually(t, func() bool { return len(holds()) == 1 }, 10*time.Second, 10*time.Millisecond, "held")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done

	cmd, done = g.start()
	g.up()
	require.Eventually(t, func() bool { return len(holds()) >= 3 }, 10*time.Second, 10*time.Millisecond, "held again")
	evacuation("end")
	require.Eventually(t, func() bool { return len(holds()) >= 4 }, 10*time.Second, 10*time.Millisecond, "released")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-done
	h := holds()
	t.Logf("relay_hold records: %v", h)
	if len(h) != 4 || h[0]["held"] != true || h[1]["held"] != false || h[1]["reason"] != "interrupted" ||
		h[2]["held"] != true || h[3]["held"] != false || h[3]["reason"] != nil {
		t.Fatalf("relay_hold records %v: want held, interrupted end, held, released", h)
	}
}
