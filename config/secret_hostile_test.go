package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parseWithin is Parse that must return within d (the daemon's start and
// its SIGHUP reload both read every secret file on their one goroutine).
func parseWithin(t *testing.T, d time.Duration, yml string, env Env) (*Config, error) {
	t.Helper()
	type res struct {
		c   *Config
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := Parse("f.yaml", []byte(yml), env)
		done <- res{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(d):
		t.Fatalf("config load still blocked after %s", d)
		return nil, nil
	}
}

// A secret file that is a FIFO (a secret manager's pipe, or any special
// file put there by mistake) must be refused, not waited on forever: the
// daemon's reload runs on the goroutine that also handles SIGTERM, so a
// reload stuck here leaves the gate unstoppable but by SIGKILL.
func TestSecretFileFIFODoesNotHang(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "api-key")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// Unblock the reader at the end so the test binary can exit.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	_, err := parseWithin(t, 3*time.Second, "api:\n  key: {file: "+fifo+"}\n", nil)
	require.Error(t, err)
}

// The same for systemd's credential folder ($CREDENTIALS_DIRECTORY/<name>).
func TestSecretCredentialFIFODoesNotHang(t *testing.T) {
	creds := t.TempDir()
	fifo := filepath.Join(creds, "facegate-api-key")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	_, err := parseWithin(t, 3*time.Second, "site: s\n", envOf(map[string]string{"CREDENTIALS_DIRECTORY": creds}))
	require.Error(t, err)
}

// A secret file that is far larger than any secret (here 64 MiB of a
// sparse file; /dev/zero, or a log path given by mistake, has no end at all)
// is refused by its size, not read whole into memory.
func TestSecretFileHugeIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "api-key")
	require.NoError(t, os.WriteFile(p, []byte("k"), 0o600))
	require.NoError(t, os.Truncate(p, 64<<20))
	_, err := parseWithin(t, 10*time.Second, "api:\n  key: {file: "+p+"}\n", nil)
	require.Error(t, err, "a 64 MiB secret file was taken as the key")
}

// A secret file left full of NUL bytes (a power cut right after it was
// written, on a file system that then shows zeroes) is not a secret: the
// remote-open HMAC key would be 32 zero bytes, which anyone can sign with.
func TestSecretFileOfNULsIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "open-secret")
	require.NoError(t, os.WriteFile(p, make([]byte, 32), 0o600))
	yml := "mqtt:\n  enabled: true\n  urls: [tcp://127.0.0.1:1883]\n  commands:\n    open:\n      enabled: true\n      secret: {file: " + p + "}\n"
	c, err := parseWithin(t, 3*time.Second, yml, nil)
	if err == nil {
		require.NotEqual(t, strings.Repeat("\x00", 32), c.MQTT.Commands.Open.Secret.Value(), "a NUL-filled file became the HMAC key of remote opens")
	}
}
