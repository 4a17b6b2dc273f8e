package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/systemd"
)

// A reload (SIGHUP) whose configuration names a file that is a FIFO (a
// secret file, the roster: a secret manager's pipe, an HR export piped
// in, a mistake) blocked the daemon's one control goroutine in its read:
// SIGTERM was then never handled (systemctl stop waits TimeoutStopSec and
// SIGKILLs the gate mid-session, without the ordered shutdown), and no
// later reload was read. The reload must give up on such a file (an error
// and the config_reload alert) and the daemon must still stop.
func TestReloadOfAFIFODoesNotBlockShutdown(t *testing.T) {
	for _, tc := range []struct{ name, anchor, key string }{
		{"secret file", "  urls: [", "  password: {file: %s}\n"},
		{"roster", "identity:\n  timeout: 10s\n", "  roster: {file: %s}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0)
			r.start()
			require.Eventually(t, func() bool { return r.notify.index(systemd.Ready, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "READY=1")
			r.waitOnlineAndIdle(t)

			fifo := filepath.Join(t.TempDir(), "pipe")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			t.Cleanup(func() { // let a reader still blocked go
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
			})
			at := strings.Index(r.cfgYAML, tc.anchor)
			require.GreaterOrEqual(t, at, 0, "the rig's configuration has %q", tc.anchor)
			at += len(tc.anchor)
			if tc.anchor == "  urls: [" {
				at -= len(tc.anchor) // the key goes before the anchor's line
			}
			r.writeConfig(r.cfgYAML[:at] + fmt.Sprintf(tc.key, fifo) + r.cfgYAML[at:])
			r.reload <- syscall.SIGHUP
			time.Sleep(500 * time.Millisecond) // the reload is under way
			r.cancel()                         // SIGTERM
			select {
			case <-r.done:
			case <-time.After(15 * time.Second):
				t.Fatalf("the daemon did not stop within 15 s of SIGTERM after a reload naming a FIFO (%s)\n%s", tc.name, r.logs.String())
			}
		})
	}
}

// `sudo facegate run` by hand on the service's state directory created the
// state files as root, 0640 root:root: afterwards the service
// (User=facegate) could not read the event sequence or append to the audit
// log, and did not start until someone chowned them. Such a run is refused
// before it writes anything there, naming the user to run as.
func TestRunAsRootRefusesAnotherUsersStateDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the state directory to another user (make test runs as root in CI)")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	require.NoError(t, os.MkdirAll(state, 0o750))
	require.NoError(t, os.Chown(state, 12345, 23456))
	cfgPath := filepath.Join(dir, "facegate.yaml")
	cfg := "site: s\ngate: g\nstate_dir: " + state + "\napi: {url: \"http://127.0.0.1:9/v3\"}\n" +
		"camera: {source: \"" + filepath.Join(dir, "frame.jpg") + "\"}\nio: {relay: {driver: sim}}\nkiosk: {listen: \"127.0.0.1:0\"}\n"
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"run", "--config", cfgPath}, map[string]string{"FACEGATE_API_KEY": "k"}, nil, &out, &errb)
	require.Equal(t, exitError, code, errb.String())
	require.Contains(t, errb.String(), "state_dir "+state+" belongs to 12345")
	entries, err := os.ReadDir(state)
	require.NoError(t, err)
	require.Empty(t, entries, "the refused run wrote in the state directory")
}
