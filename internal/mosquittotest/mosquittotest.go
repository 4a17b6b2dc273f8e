// Package mosquittotest runs a real mosquitto for tests: on 127.0.0.1, on a
// free port, with its own generated configuration, persistence directory
// and log. Tests skip with a clear message when mosquitto is not installed
// (Debian's package; `make deps` installs it).
package mosquittotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/syncbuf"
)

// Config shapes the broker.
type Config struct {
	// Users, when set, turns anonymous access off (a password file is made
	// with mosquitto_passwd).
	Users map[string]string
	// CAFile, CertFile and KeyFile serve TLS instead of plain TCP.
	CAFile, CertFile, KeyFile string
	// RequireClientCert asks clients for a certificate signed by CAFile.
	RequireClientCert bool
	// Extra is appended to the configuration (e.g. a bridge).
	Extra string
}

// Mosquitto is one broker process (restartable on the same port).
type Mosquitto struct {
	t    testing.TB
	dir  string
	conf string
	port int
	tls  bool

	mu  sync.Mutex
	cmd *exec.Cmd
	log *syncBuffer
}

// Binary is the path of mosquitto, or "" when it is not installed.
func Binary() string {
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// Start starts mosquitto or skips the test when it is not installed. The
// broker is stopped when the test ends.
func Start(t testing.TB, cfg Config) *Mosquitto {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("mosquitto is not installed (apt-get install mosquitto, or `make deps`): skipping the real-broker test")
	}
	m := &Mosquitto{t: t, dir: t.TempDir(), tls: cfg.CertFile != ""}
	m.port = freePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\npersistence true\npersistence_location %s/\nautosave_interval 0\nmax_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
		m.port, m.dir)
	if u, err := user.Current(); err == nil {
		conf += "user " + u.Username + "\n"
	}
	if cfg.Users != nil {
		pw := filepath.Join(m.dir, "passwd")
		if _, err := exec.LookPath("mosquitto_passwd"); err != nil {
			t.Skip("mosquitto_passwd is not installed: skipping the credentials test")
		}
		for u, p := range cfg.Users {
			args := []string{"-b", pw, u, p}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		os.Chmod(pw, 0o600)
		conf += "allow_anonymous false\npassword_file " + pw + "\n"
	} else {
		conf += "allow_anonymous true\n"
	}
	if m.tls {
		conf += fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\n", cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if cfg.RequireClientCert {
			conf += "require_certificate true\n"
		}
	}
	conf += cfg.Extra
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Restart()
	t.Cleanup(m.Stop)
	return m
}

// URL is tcp://127.0.0.1:<port> (ssl:// with TLS).
func (m *Mosquitto) URL() string {
	scheme := "tcp"
	if m.tls {
		scheme = "ssl"
	}
	return scheme + "://" + m.Addr()
}

// Addr is 127.0.0.1:<port>.
func (m *Mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.port) }

// Restart starts the process (again) on the same port and waits until it
// accepts connections.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.t.Fatal("mosquittotest: already running")
	}
	m.log = &syncBuffer{}
	cmd := exec.Command(Binary(), "-c", m.conf)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %s: %v\n%s", m.Addr(), err, m.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process with SIGTERM (mosquitto saves its sessions and
// queued messages) and waits for it.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

// Log is what mosquitto printed since its last start.
func (m *Mosquitto) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log == nil {
		return ""
	}
	return m.log.String()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is written by exec's copying goroutine and read by Log.
type syncBuffer = syncbuf.Buffer

// Forget deletes the broker's persistence file while it is stopped: the
// next Restart starts without retained messages or sessions, as a broker
// without persistence (or that lost its disk) would.
func (m *Mosquitto) Forget() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.t.Fatal("mosquittotest: Forget while running")
	}
	if err := os.Remove(filepath.Join(m.dir, "mosquitto.db")); err != nil && !os.IsNotExist(err) {
		m.t.Fatalf("mosquittotest: %v", err)
	}
}

// PID is the process id of the running broker (0 when stopped), e.g. to
// read its CPU time from /proc/<pid>/stat.
func (m *Mosquitto) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}
