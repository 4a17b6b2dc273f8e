package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth/emulator"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/internal/syncbuf"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/systemd"
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer = syncbuf.Buffer

// notifySocket is a fake systemd notify socket recording every datagram.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

// index is the position of the first message starting with prefix at or
// after from, or -1.
func (n *notifySocket) index(prefix string, from int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := from; i < len(n.msgs); i++ {
		if strings.HasPrefix(n.msgs[i], prefix) {
			return i
		}
	}
	return -1
}

func (n *notifySocket) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.msgs)
}

// brokerLog records what the daemon publishes.
type brokerLog struct {
	mu         sync.Mutex
	events     []record.Event
	results    []record.PulseResult // <prefix>/event/relay
	alerts     []mqtt.Alert
	status     []string
	relayTopic []string // <prefix>/relay payloads
	doorTopic  []string // <prefix>/door payloads
	// relayAtOffline is the relay's state when "offline" arrived.
	relayAtOffline gate.RelayState
	relay          func() gate.RelayState
	// lockout is the newest <prefix>/site/lockout payload.
	lockout []byte
}

func (b *brokerLog) granted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.events {
		if e.Decision == record.DecisionGranted {
			n++
		}
	}
	return n
}

// rig is a daemon wired to real parts: the emulator, a camera reading a
// video file of the worker, the sim relay, the embedded broker.
type rig struct {
	t        *testing.T
	cfgPath  string
	cfgYAML  string
	env      map[string]string
	notify   *notifySocket
	broker   *broker.Broker
	bl       *brokerLog
	prefix   string
	logs     *syncBuffer
	reload   chan os.Signal
	d        *daemon
	cancel   context.CancelFunc
	exitCode int
	done     chan struct{} // closed when wait returned exitCode (made by start)
}

func newRig(t *testing.T, apiLatency time.Duration) *rig {
	t.Helper()
	images, err := demoscene.ImagesDir(os.Getenv)
	if err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	dir := t.TempDir()
	// The camera: a video file of the worker looking at it (looped).
	video := filepath.Join(dir, "worker.avi")
	scene := demoscene.Scene{Width: 640, Height: 480, FPS: 10, Phases: []demoscene.Phase{
		{Kind: demoscene.Face, Image: filepath.Join(images, demoscene.WorkerPhoto), Duration: 2 * time.Second}}}
	if err := scene.WriteVideo(video); err != nil {
		t.Fatal(err)
	}

	ref, err := os.ReadFile(filepath.Join(images, demoscene.WorkerPhoto))
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(&emulator.Seed{
		Projects:    []emulator.Project{{ID: "p", APIKey: "test-key-123", Policy: emulator.Policy{FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70}}}},
		Submissions: []emulator.Submission{{ID: "sub-worker-1", Status: emulator.StatusApproved, ReferenceJPEG: ref, UserID: "worker-1"}},
		Faults:      emulator.Faults{Latency: apiLatency},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	apiURL, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	r := &rig{t: t, cfgPath: filepath.Join(dir, "facegate.yaml"), notify: newNotifySocket(t),
		bl: &brokerLog{}, prefix: "facegate/test/door1", logs: &syncBuffer{}, reload: make(chan os.Signal, 1)}
	r.broker, err = broker.Start(context.Background(), "127.0.0.1:0", broker.WithSubscription(r.prefix+"/#", r.record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.broker.Close() })
	r.cfgYAML = fmt.Sprintf(`site: test
gate: door1
state_dir: %s
log_level: info
api:
  url: %s
  timeout: 5s
camera:
  source: %s
  fps: 10
io:
  relay:
    driver: sim
    pulse: 300ms
  leds:
    green: {line: GPIO5}
mqtt:
  enabled: true
  urls: [%s]
kiosk:
  listen: 127.0.0.1:0
  health_interval: 1s
identity:
  timeout: 10s
policy:
  cooldown: 200ms
  liveness: off # a still test clip cannot turn its head
`, filepath.Join(dir, "state"), apiURL, video, r.broker.URL())
	r.writeConfig(r.cfgYAML)
	r.env = map[string]string{"FACEGATE_API_KEY": "test-key-123", "NOTIFY_SOCKET": r.notify.path,
		"WATCHDOG_USEC": "400000"}
	return r
}

// record is the broker subscription's handler.
func (r *rig) record(topic string, payload []byte, _ bool) {
	r.bl.mu.Lock()
	defer r.bl.mu.Unlock()
	switch strings.TrimPrefix(topic, r.prefix+"/") {
	case "event":
		var ev record.Event
		if json.Unmarshal(payload, &ev) == nil {
			r.bl.events = append(r.bl.events, ev)
		}
	case "event/relay":
		var res record.PulseResult
		if json.Unmarshal(payload, &res) == nil {
			r.bl.results = append(r.bl.results, res)
		}
	case "relay":
		r.bl.relayTopic = append(r.bl.relayTopic, string(payload))
	case "door":
		r.bl.doorTopic = append(r.bl.doorTopic, string(payload))
	case "alert":
		var a mqtt.Alert
		if json.Unmarshal(payload, &a) == nil {
			r.bl.alerts = append(r.bl.alerts, a)
		}
	case "site/lockout":
		r.bl.lockout = append([]byte(nil), payload...)
	case "status":
		r.bl.status = append(r.bl.status, string(payload))
		if string(payload) == "offline" && r.bl.relay != nil {
			r.bl.relayAtOffline = r.bl.relay()
		}
	}
}

// restartBroker closes the broker and starts a new one on the same address
// (the daemon loses its connection and must make it again).
func (r *rig) restartBroker() {
	r.t.Helper()
	addr := r.broker.Addr()
	r.broker.Close()
	b, err := broker.Start(context.Background(), addr, broker.WithSubscription(r.prefix+"/#", r.record))
	if err != nil {
		r.t.Fatalf("restart the broker on %s: %v", addr, err)
	}
	r.broker = b
}

func (r *rig) writeConfig(s string) {
	r.t.Helper()
	if err := os.WriteFile(r.cfgPath, []byte(s), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) start() {
	t := r.t
	t.Helper()
	cfg, err := config.Load(r.cfgPath, func(k string) string { return r.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	n, err := systemd.NewNotifier(func(k string) string { return r.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.d, err = startDaemon(ctx, cfg, daemonOptions{log: log, level: new(slog.LevelVar), notifier: n,
		getenv: func(k string) string { return r.env[k] }, configPath: r.cfgPath, reload: r.reload})
	if err != nil {
		cancel()
		t.Fatalf("start: %v\n%s", err, r.logs.String())
	}
	r.bl.mu.Lock()
	r.bl.relay = r.d.p.gate.Relay.State
	r.bl.mu.Unlock()
	done := make(chan struct{}) // a new one per start: a rig may start again after stop
	r.done = done
	go func() {
		r.exitCode = r.d.wait(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	})
}

// waitOnlineAndIdle waits for the gate's online status on the broker and
// the kiosk's idle state.
func (r *rig) waitOnlineAndIdle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "online"
	}, 10*time.Second, 20*time.Millisecond, "online")
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
}

func (r *rig) stop() int {
	r.t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.exitCode
	case <-time.After(30 * time.Second):
		r.t.Fatalf("daemon did not stop in 30s\n%s", r.logs.String())
	}
	return -1
}

// identify publishes a badge read on cmd/identify once the daemon has
// subscribed: MQTT keeps nothing for a subscription not yet made, and the
// kiosk is idle before the broker connection is up.
func (r *rig) identify() {
	r.t.Helper()
	require.Eventually(r.t, r.d.p.broker.Connected, 10*time.Second, 20*time.Millisecond, "the command subscriptions")
	body := []byte(`{"submission_id":"sub-worker-1","user_id":"worker-1"}`)
	if err := r.broker.Publish(r.prefix+"/cmd/identify", body, false); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) get(path string) (int, string) {
	r.t.Helper()
	resp, err := http.Get("http://" + r.d.addrString() + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestRunServesSessionsReloadsAndStopsInOrder runs the daemon with real
// parts: a badge-reader identity over MQTT opens the gate; SIGHUP reloads
// good and bad files; the watchdog is fed; shutdown follows the order.
func TestRunServesSessionsReloadsAndStopsInOrder(t *testing.T) {
	r := newRig(t, 0)
	r.start()
	require.Eventually(t, func() bool { return r.notify.index(systemd.Ready, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "READY=1")
	r.waitOnlineAndIdle(t)

	r.identify()
	require.Eventually(t, func() bool { return r.d.p.gate.Sim().Level("leds.green") }, 30*time.Second, 20*time.Millisecond, "the green lamp")
	require.Eventually(t, func() bool { return r.bl.granted() == 1 }, 30*time.Second, 20*time.Millisecond, "a granted event")
	require.Eventually(t, func() bool { return len(r.d.p.gate.Sim().Pulses()) == 1 }, 5*time.Second, 20*time.Millisecond, "the sim relay pulse")
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.results) == 1
	}, 10*time.Second, 20*time.Millisecond, "the grant's relay result")
	r.bl.mu.Lock()
	ev, res := r.bl.events[0], r.bl.results[0]
	r.bl.mu.Unlock()
	if ev.Relay != record.RelayPending || ev.Auth == nil || ev.Auth.Score.FaceSimilarity == nil || ev.IdentitySource != kiosk.SourceMQTT {
		t.Fatalf("granted event lacks the pending relay, the scores or the source: %+v", ev)
	}
	if res.EventID != ev.EventID || res.Relay != record.RelayPulsed || res.EnergisedAt == "" {
		t.Fatalf("relay result %+v, want pulsed for %s", res, ev.EventID)
	}

	if code, body := r.get("/healthz"); code != http.StatusOK && code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := r.get("/api/status"); code != http.StatusOK || !strings.Contains(body, `"state"`) {
		t.Fatalf("/api/status: %d %s", code, body)
	}
	if code, body := r.get("/metrics"); code != http.StatusOK || !strings.Contains(body, "facegate_") {
		t.Fatalf("/metrics: %d", code)
		_ = body
	}

	// A good reload: READY=1 follows RELOADING=1, the kiosk keeps running.
	from := r.notify.count()
	r.writeConfig(strings.Replace(r.cfgYAML, "cooldown: 200ms", "cooldown: 300ms", 1))
	r.reload <- os.Interrupt
	require.Eventually(t, func() bool {
		i := r.notify.index("RELOADING=1", from)
		return i >= 0 && r.notify.index(systemd.Ready, i) > i
	}, 10*time.Second, 20*time.Millisecond, "RELOADING=1 then READY=1")
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "configuration reloaded") }, 5*time.Second, 20*time.Millisecond, "the reload log")
	// A bad file changes nothing.
	r.writeConfig(r.cfgYAML + "unknown_key: 1\n")
	r.reload <- os.Interrupt
	require.Eventually(t, func() bool {
		return strings.Contains(r.logs.String(), "configuration reload failed")
	}, 10*time.Second, 20*time.Millisecond, "the failed reload log")
	// Not only in the journal: an operator alert, and the unit's status
	// (systemctl reload succeeds either way).
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.ContainsFunc(r.bl.alerts, func(a mqtt.Alert) bool { return a.Code == kiosk.AlertConfigReload })
	}, 10*time.Second, 20*time.Millisecond, "the config_reload alert")
	require.Eventually(t, func() bool {
		r.notify.mu.Lock()
		defer r.notify.mu.Unlock()
		return slices.ContainsFunc(r.notify.msgs, func(m string) bool {
			return strings.Contains(m, "the last reload failed: ") && strings.Contains(m, "unknown_key")
		})
	}, 10*time.Second, 20*time.Millisecond, "STATUS= saying the reload failed")
	// A changed camera needs a restart: said so.
	r.writeConfig(strings.Replace(r.cfgYAML, "fps: 10", "fps: 5", 1))
	r.reload <- os.Interrupt
	require.Eventually(t, func() bool {
		return strings.Contains(r.logs.String(), "changed settings take effect at the next restart")
	}, 10*time.Second, 20*time.Millisecond, "the restart-needed log")

	require.Eventually(t, func() bool { return r.notify.index(systemd.Watchdog, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "a watchdog ping")

	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	if r.notify.index(systemd.Stopping, 0) < 0 {
		t.Fatal("no STOPPING=1")
	}
	if st := r.d.p.gate.Relay.State(); st != gate.RelayHalted {
		t.Fatalf("relay %v after shutdown, want halted", st)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.status) > 0 && r.bl.status[len(r.bl.status)-1] == "offline"
	}, 5*time.Second, 20*time.Millisecond, "offline")
	r.bl.mu.Lock()
	defer r.bl.mu.Unlock()
	if r.bl.relayAtOffline != gate.RelayHalted {
		t.Fatalf("relay was %v when offline was published: the relay must be inert first", r.bl.relayAtOffline)
	}
}

// TestRunFinishesTheSessionInFlight: SIGTERM while the API is answering
// (800 ms) lets the worker through before the gate goes offline.
func TestRunFinishesTheSessionInFlight(t *testing.T) {
	r := newRig(t, 800*time.Millisecond)
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	r.identify()
	require.Eventually(t, func() bool {
		return r.d.p.kiosk.Status().State == kiosk.StateAuthenticating
	}, 30*time.Second, 20*time.Millisecond, "authenticating")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	if got := r.bl.granted(); got != 1 {
		t.Fatalf("%d granted events, want the session in flight finished and granted\n%s", got, r.logs.String())
	}
	if n := len(r.d.p.gate.Sim().Pulses()); n != 1 {
		t.Fatalf("%d relay pulses, want 1", n)
	}
	// New identities are refused while draining and after.
	if err := r.d.p.kiosk.Identify(kiosk.Identity{SubmissionID: "sub-worker-1", Source: kiosk.SourceMQTT}); err == nil {
		t.Fatal("an identity was accepted after shutdown")
	}
}

func TestRunRejectsBadInvocations(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("site: x\nnot_a_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--config", filepath.Join(dir, "absent.yaml")}, "absent.yaml"},
		{"unknown key", []string{"--config", bad}, "bad.yaml:2"},
		{"stray argument", []string{"now"}, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"run"}, tc.args...), map[string]string{}, nil, &out, &errb)
			if code != exitError || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), exitError, tc.want)
			}
		})
	}
}

func TestRestartNeeded(t *testing.T) {
	a, b := config.Default(), config.Default()
	if got := restartNeeded(a, b); len(got) != 0 {
		t.Fatalf("identical configs: %v", got)
	}
	b.Camera.FPS = 5
	b.Policy.Cooldown = time.Minute // reloadable
	b.Kiosk.Listen = "127.0.0.1:9"
	if got := strings.Join(restartNeeded(a, b), ","); got != "camera,kiosk.listen" {
		t.Fatalf("got %s", got)
	}
	// Liveness turned on needs its checker, built at start; between two
	// modes that are on, a reload is enough.
	c := config.Default()
	c.Policy.Liveness = kiosk.LivenessChallenge
	if got := strings.Join(restartNeeded(a, c), ","); got != "policy.liveness (from off)" {
		t.Fatalf("off -> challenge: got %q", got)
	}
	d := config.Default()
	d.Policy.Liveness = kiosk.LivenessPassive
	if got := restartNeeded(c, d); len(got) != 0 {
		t.Fatalf("challenge -> passive: got %v", got)
	}
}

// processFixture builds the binary into a new folder and writes a
// camera's frames of the demo worker beside it: what a test that runs the
// daemon as a process needs.
func processFixture(t *testing.T) (dir, bin, frames string) {
	t.Helper()
	images, err := demoscene.ImagesDir(os.Getenv)
	if err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "facegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	frames = filepath.Join(dir, "frames")
	scene := demoscene.Scene{Width: 640, Height: 480, FPS: 10, Phases: []demoscene.Phase{
		{Kind: demoscene.Face, Image: filepath.Join(images, demoscene.WorkerPhoto), Duration: 100 * time.Millisecond}}}
	if err := scene.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	return dir, bin, frames
}

// TestRunAsProcess runs the built binary under real signals: READY=1 on the
// notify socket, SIGHUP reloads, SIGTERM stops in order with exit code 0.
func TestRunAsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir, bin, frames := processFixture(t)
	cfgPath := filepath.Join(dir, "facegate.yaml")
	cfg := fmt.Sprintf(`site: proc
gate: g
state_dir: %s
api: {url: "http://127.0.0.1:9/v3", timeout: 1s}
camera: {source: "%s"}
io: {relay: {driver: sim}}
kiosk: {listen: "127.0.0.1:0", health_interval: 1s}
`, filepath.Join(dir, "state"), filepath.Join(frames, "frame-000001.jpg"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := newNotifySocket(t)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "FACEGATE_API_KEY=process-test-key", "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=1000000")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("daemon output:\n%s", logs.String())
		}
	}()
	require.Eventually(t, func() bool { return ns.index(systemd.Ready, 0) >= 0 }, 30*time.Second, 20*time.Millisecond, "READY=1")

	from := ns.count()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "configuration reloaded") && ns.index("RELOADING=1", from) >= 0
	}, 10*time.Second, 20*time.Millisecond, "the reload")
	require.Eventually(t, func() bool { return ns.index(systemd.Watchdog, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "a watchdog ping")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if ns.index(systemd.Stopping, 0) < 0 || !strings.Contains(logs.String(), "facegate stopped") {
		t.Fatal("no STOPPING=1 or no orderly stop")
	}
	if strings.Contains(logs.String(), "process-test-key") {
		t.Fatal("the API key appears in the output")
	}
}

func TestWatchdogWithheldWithoutSelfTest(t *testing.T) {
	cfg := config.Default()
	cfg.Kiosk.HealthInterval = time.Second
	d := &daemon{cfg: cfg}
	d.lastHealth.Store(time.Now().Add(-time.Minute).UnixNano())
	if reason := d.unsound(); !strings.Contains(reason, "no self-test") {
		t.Fatalf("unsound() = %q, want the stale self-test", reason)
	}
}
