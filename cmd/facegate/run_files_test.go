package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/systemd"
)

// A reload (SIGHUP) whose configuration names a secret file that is a FIFO
// blocks the daemon's one control goroutine in os.ReadFile: SIGTERM is
// then never handled (systemctl stop waits TimeoutStopSec and SIGKILLs the
// gate mid-session, without the ordered shutdown), and no later reload is
// read. The reload must give up on such a file (an error and the
// config_reload alert) and the daemon must still stop.
func TestReloadOfAFIFOSecretDoesNotBlockShutdown(t *testing.T) {
	r := newRig(t, 0)
	r.start()
	require.Eventually(t, func() bool { return r.notify.index(systemd.Ready, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "READY=1")
	r.waitOnlineAndIdle(t)

	fifo := filepath.Join(t.TempDir(), "mqtt-password")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() { // let a reader still blocked go
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	r.writeConfig(strings.Replace(r.cfgYAML, "  urls: [", "  password: {file: "+fifo+"}\n  urls: [", 1))
	r.reload <- syscall.SIGHUP
	time.Sleep(500 * time.Millisecond) // the reload is under way
	r.cancel()                         // SIGTERM
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the daemon did not stop within 15 s of SIGTERM after a reload naming a FIFO as a secret file\n%s", r.logs.String())
	}
}

// `sudo facegate run` by hand (docs/operations.md: "a facegate run by hand
// beside the service") creates the state files as root, 0640 root:root:
// afterwards the service (User=facegate) cannot read the event sequence,
// the anti-passback memory or append to the audit log, and the gate does
// not start (or denies every session) until someone chowns them.
// `facegate relay pulse` and `model install` give what they create to the
// state directory's owner; `run` must too.
func TestRunAsRootLeavesTheStateFilesToTheStateDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := newRig(t, 0)
	state := filepath.Join(filepath.Dir(r.cfgPath), "state")
	require.NoError(t, os.MkdirAll(state, 0o750))
	require.NoError(t, os.Chown(state, 12345, 23456))
	r.start()
	r.waitOnlineAndIdle(t)
	r.identify()
	require.Eventually(t, func() bool { return r.bl.granted() == 1 }, 30*time.Second, 20*time.Millisecond, "a granted event")
	r.stop()
	var rootOwned []string
	require.NoError(t, filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 12345 {
			rel, _ := filepath.Rel(state, p)
			rootOwned = append(rootOwned, rel)
		}
		return nil
	}))
	require.Empty(t, rootOwned, "state files the daemon's user cannot use after a root run")
}
