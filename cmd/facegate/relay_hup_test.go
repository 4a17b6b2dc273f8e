package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/syncbuf"
)

// relayPulseHelperEnv names the config of the helper process below.
const relayPulseHelperEnv = "FACEGATE_TEST_RELAY_PULSE_CONFIG"

// TestRelayPulseHelperProcess is `facegate relay pulse` as the
// binary runs it: main's own signal handling (only SIGINT and SIGTERM end
// the command's context), then os.Exit. Run only by the test below.
func TestRelayPulseHelperProcess(t *testing.T) {
	cfg := os.Getenv(relayPulseHelperEnv)
	if cfg == "" {
		t.Skip("helper process")
	}
	os.Args = []string{"facegate", "relay", "pulse", "--config", cfg, "--duration", "10s"}
	main()
}

// A pulse by hand whose terminal goes away (an SSH session that drops, a
// closed terminal window: SIGHUP) must end like an interrupted one: the
// line driven inactive by facegate and the end recorded (relay "cut").
// docs/gate.md: "every pulse ends inactive ... on SIGTERM" and "one [audit
// record] once it is inactive again". Until 2026-12-08 `relay pulse` did
// not catch SIGHUP, and Go's default action killed the process: no Halt,
// no "end" record; the audit log kept a relay_manual "start" that never
// ended (found by a red-team pass).
func TestRelayPulseEndsAndIsRecordedOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a helper process")
	}
	cfg, state := relayConfig(t, "{driver: sim, max_pulse: 10s}")
	cmd, exited, out := startRelayPulseProcess(t, cfg, state)
	time.Sleep(100 * time.Millisecond) // mid-pulse
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("relay pulse did not end after SIGHUP")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Errorf("relay pulse was killed by %v mid-pulse (exit %v): the line was never driven inactive by facegate", ws.Signal(), err)
	}
	got := manualRecords(t, state)
	if len(got) != 2 || got[1].Phase != "end" || got[1].Relay != "cut" {
		t.Fatalf("audit records %+v after SIGHUP mid-pulse, want start and a cut end\noutput:\n%s", got, out.String())
	}
}

// startRelayPulseProcess runs `facegate relay pulse --duration 10s` with
// cfg as a process of its own and returns once its start record is in
// state's audit log (the record is written before the line moves), with
// the channel its exit comes on and its output.
func startRelayPulseProcess(t *testing.T, cfg, state string) (*exec.Cmd, <-chan error, *syncbuf.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayPulseHelperProcess$")
	cmd.Env = append(os.Environ(), relayPulseHelperEnv+"="+cfg, "SUDO_USER=installer")
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(state, "audit", "audit.jsonl")); err == nil && strings.Contains(string(b), `"phase":"start"`) {
			return cmd, exited, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start record\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
