//go:build linux

package config

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesAFIFO (found by a red-team pass): the configuration is read
// with os.ReadFile, which blocks on a FIFO until a writer comes. The
// daemon's reload (SIGHUP) reads it on the goroutine that also handles
// SIGTERM, so a FIFO (or a device) put at the config path hangs the
// reload and the clean stop after it; the roster and the secret files
// are opened with internal/regularfile for this very reason, and that
// package's doc names the configuration among the files it is for.
func TestLoadRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "facegate.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for name, load := range map[string]func(string, Env) (*Config, error){"Load": Load, "LoadSettings": LoadSettings} {
		done := make(chan error, 1)
		go func() {
			_, err := load(path, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%s of a FIFO: no error", name)
			}
			t.Logf("%s: %v", name, err)
		case <-time.After(2 * time.Second):
			t.Fatalf("%s of a FIFO still blocked after 2s", name)
		}
	}
}
