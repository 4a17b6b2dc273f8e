package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/systemd"
)

// TestReloadOfAFIFORosterDoesNotBlockShutdown (review of 030bda1): the
// fix reads secret files without blocking, so a reload naming a FIFO no
// longer keeps SIGTERM waiting. The roster, read by the same reload on the
// same goroutine (kiosk.Reload → LoadRoster → os.Open), is still opened
// blocking: identity.roster.file naming a FIFO (an HR export piped in, a
// mistake) leaves the gate unstoppable but by SIGKILL.
func TestReloadOfAFIFORosterDoesNotBlockShutdown(t *testing.T) {
	r := newRig(t, 0)
	r.start()
	require.Eventually(t, func() bool { return r.notify.index(systemd.Ready, 0) >= 0 }, 10*time.Second, 20*time.Millisecond, "READY=1")
	r.waitOnlineAndIdle(t)

	fifo := filepath.Join(t.TempDir(), "roster.csv")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() { // let a reader still blocked go
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	yml := strings.Replace(r.cfgYAML, "identity:\n  timeout: 10s\n", "identity:\n  timeout: 10s\n  roster: {file: "+fifo+"}\n", 1)
	require.NotEqual(t, r.cfgYAML, yml)
	r.writeConfig(yml)
	r.reload <- syscall.SIGHUP
	time.Sleep(500 * time.Millisecond) // the reload is under way
	r.cancel()                         // SIGTERM
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the daemon did not stop within 15 s of SIGTERM after a reload naming a FIFO as the roster file")
	}
}
