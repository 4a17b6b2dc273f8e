package systemd

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeManager is a unixgram socket standing in for systemd's notify socket.
type fakeManager struct {
	conn *net.UnixConn
}

func newFakeManager(t *testing.T, name string) *fakeManager {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fakeManager{conn: conn}
}

func (m *fakeManager) next(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = m.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := m.conn.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotifierSendsDatagrams(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify") }},
		{"abstract", func(t *testing.T) string { return "@facegate-test-" + strings.ReplaceAll(t.Name(), "/", "-") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			m := newFakeManager(t, addr)
			n, err := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": addr}))
			if err != nil {
				t.Fatal(err)
			}
			if !n.Enabled() {
				t.Fatal("notifier with a socket reports disabled")
			}
			if err := n.Notify(Ready, Status("serving")); err != nil {
				t.Fatal(err)
			}
			if got, want := m.next(t), "READY=1\nSTATUS=serving"; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if err := n.Notify(Watchdog); err != nil {
				t.Fatal(err)
			}
			if got := m.next(t); got != "WATCHDOG=1" {
				t.Fatalf("got %q, want WATCHDOG=1", got)
			}
			if err := n.Notify(Reloading()); err != nil {
				t.Fatal(err)
			}
			if got := m.next(t); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
				t.Fatalf("got %q, want RELOADING=1 with MONOTONIC_USEC", got)
			}
		})
	}
}

func TestNotifierWithoutSocketIsInert(t *testing.T) {
	n, err := NewNotifier(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if n.Enabled() {
		t.Fatal("notifier without NOTIFY_SOCKET reports enabled")
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatalf("Notify without a socket: %v", err)
	}
	var nilN *Notifier
	if err := nilN.Notify(Ready); err != nil {
		t.Fatalf("Notify on nil: %v", err)
	}
}

func TestNotifierErrors(t *testing.T) {
	if _, err := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": "relative/path"})); !errors.Is(err, ErrNotifyAddress) {
		t.Fatalf("relative NOTIFY_SOCKET: err = %v, want ErrNotifyAddress", err)
	}
	n, err := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "absent")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err == nil || !strings.Contains(err.Error(), "systemd notify") {
		t.Fatalf("Notify to an absent socket: err = %v, want a systemd notify error", err)
	}
}

func TestStatusIsOneLine(t *testing.T) {
	if got := Status("camera\nlost"); got != "STATUS=camera lost" {
		t.Fatalf("got %q", got)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    time.Duration
		ok      bool
		wantErr bool
	}{
		{"off", nil, 0, false, false},
		{"30s", map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second, true, false},
		{"our pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, time.Second, true, false},
		{"other pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "43"}, 0, false, false},
		{"garbage", map[string]string{"WATCHDOG_USEC": "soon"}, 0, false, true},
		{"zero", map[string]string{"WATCHDOG_USEC": "0"}, 0, false, true},
		{"bad pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "x"}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := WatchdogInterval(envOf(tc.env), 42)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got (%v, %v), want (%v, %v)", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzWatchdogInterval: the environment systemd hands over never panics
// the parser, and an accepted value is a positive interval.
func FuzzWatchdogInterval(f *testing.F) {
	for _, s := range [][2]string{{"30000000", ""}, {"1", "42"}, {"", ""}, {"-5", "42"}, {"18446744073709551615", "x"}, {"9223372036854775807", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, usec, pid string) {
		env := envOf(map[string]string{"WATCHDOG_USEC": usec, "WATCHDOG_PID": pid})
		d, ok, err := WatchdogInterval(env, 42)
		if ok && (err != nil || d <= 0) {
			t.Fatalf("(%q, %q): interval %v ok with err %v", usec, pid, d, err)
		}
		if !ok && d != 0 {
			t.Fatalf("(%q, %q): interval %v without ok", usec, pid, d)
		}
	})
}
