package main

import (
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/systemd"
)

// freePort is a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestMetricsListenerCannotStarveTheDaemon: until 2026-12-07 neither
// listener bounded its connections, and the unit gives the daemon LimitNOFILE=4096 file
// descriptors for everything (audit log, outbox, seq and lockout files,
// the FaceAuth API, the broker, the camera). metrics.listen is meant for a
// Prometheus on another host (0.0.0.0:9108), so any host that reaches that
// port opened ~4096 connections and kept them (one request each, then
// idle: the idle timeout is 60 s, a new request restarts it). Every fd of
// the process was then a socket of his: the kiosk page on loopback was no
// longer accepted (the screen went "Gate offline"), and the session's API
// call, the outbox write and the seq and lockout files failed with EMFILE.
// Both listeners are bounded now (netutil.LimitListener).
//
// The daemon runs as a process with the unit's limit (prlimit); the test
// holds the connections and asks the kiosk listener for /healthz.
func TestMetricsListenerCannotStarveTheDaemon(t *testing.T) {
	starveDaemon(t, true)
}

// TestKioskListenerCannotStarveTheDaemon: the same through kiosk.listen,
// which on its default loopback address every user of the Pi reaches (and
// with kiosk.allow_remote every host of the LAN): the gate must keep the
// descriptors it needs for its records and its API calls. (The page's own
// connection may wait; the daemon must not fail with EMFILE.)
func TestKioskListenerCannotStarveTheDaemon(t *testing.T) {
	starveDaemon(t, false)
}

// starveDaemon runs the daemon as a process with the unit's descriptor
// limit and holds more connections than that to one of its listeners.
func starveDaemon(t *testing.T, viaMetrics bool) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	const unitLimit = 4096 // systemd/facegate.service LimitNOFILE
	const attackConns = unitLimit + 200
	dir, bin, frames := processFixture(t)
	kioskAddr, metricsAddr := freePort(t), freePort(t)
	cfgPath := filepath.Join(dir, "facegate.yaml")
	cfg := fmt.Sprintf(`site: proc
gate: g
state_dir: %s
api: {url: "http://127.0.0.1:9/v3", timeout: 1s}
camera: {source: "%s"}
io: {relay: {driver: sim}}
kiosk: {listen: "%s", health_interval: 1s}
metrics: {listen: "%s"}
`, filepath.Join(dir, "state"), filepath.Join(frames, "frame-000001.jpg"), kioskAddr, metricsAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := newNotifySocket(t)
	logs := &syncBuffer{}
	lim := fmt.Sprintf("--nofile=%d:%d", unitLimit, unitLimit)
	cmd := exec.Command("prlimit", lim, bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "FACEGATE_API_KEY=process-test-key", "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=10000000")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out := logs.String()
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			t.Logf("daemon output (end):\n%s", out)
		}
	}()
	require.Eventually(t, func() bool { return ns.index(systemd.Ready, 0) >= 0 }, 60*time.Second, 20*time.Millisecond, "READY=1")

	healthz := func() error {
		// A new connection each time, as the kiosk browser makes after
		// a reload.
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + kioskAddr + "/healthz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := healthz(); err != nil {
		t.Fatalf("before: %v", err)
	}

	// The attacker: one small request per connection, then idle.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	target := metricsAddr
	if !viaMetrics {
		target = kioskAddr
	}
	for i := 0; i < attackConns; i++ {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			t.Logf("connection %d: %v", i, err)
			break
		}
		conns = append(conns, c)
		_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	}
	t.Logf("%d connections held on %s", len(conns), target)
	time.Sleep(2 * time.Second)

	if err := healthz(); viaMetrics && err != nil {
		t.Errorf("the kiosk page's listener does not answer while a host holds connections to metrics.listen: %v", err)
	}
	// A reload reads the configuration file (as a session writes the
	// audit log, the outbox and the seq file): it needs a descriptor.
	from := ns.count()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !assert.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "configuration reloaded") && ns.index("RELOADING=1", from) >= 0
	},
		10*time.Second, 20*time.Millisecond) {
		t.Errorf("SIGHUP while the connections are held: no reload")
	}
	if n := strings.Count(logs.String(), "too many open files"); n > 0 {
		t.Errorf("the daemon ran out of file descriptors (%d log lines say \"too many open files\")", n)
	}
}
