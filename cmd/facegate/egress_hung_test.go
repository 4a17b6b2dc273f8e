//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
)

// hangAudit makes state/audit/audit.jsonl a FIFO nobody reads: once its
// buffer is full (fill), every audit write blocks, as on a hung SD card.
// The returned func fills it; release drains it for the rest of the test.
func hangAudit(t *testing.T, state string) (fill func(), release func()) {
	t.Helper()
	dir := filepath.Join(state, "audit")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.jsonl")
	if err := syscall.Mkfifo(path, 0o640); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var once bool
	fill = func() {
		chunk := make([]byte, 4096)
		for i := range chunk {
			chunk[i] = ' '
		}
		for {
			if _, err := syscall.Write(fd, chunk); err != nil {
				if errors.Is(err, syscall.EAGAIN) {
					break
				}
				t.Fatal(err)
			}
		}
		for { // the last bytes
			if _, err := syscall.Write(fd, chunk[:1]); err != nil {
				break
			}
		}
	}
	release = func() {
		if once {
			return
		}
		once = true
		go func() {
			buf := make([]byte, 65536)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := syscall.Read(fd, buf); err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(func() { release(); time.Sleep(50 * time.Millisecond); close(stop); syscall.Close(fd) })
	return fill, release
}

// The exit button is egress: "egress never waits for a disk" (docs/gate.md),
// and sideRecords exists because "a hung card held egress". But the gate
// inputs that need a person (door-forced, door-held-open, tamper,
// input-fault) are still written to the audit log synchronously on the
// gate-events goroutine (run.go gateEvents -> kiosk.GateInput). With the
// card hung, one door-forced stops that goroutine; the monitor's event
// buffer (64) fills with the next presses and door changes, the monitor
// blocks in emit, and from then on the exit button no longer pulses the
// relay: people cannot get out.
func TestHungDiskAndADoorForcedDoNotStopTheExitButton(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n",
		"  door: {line: GPIO27}\n  exit_button: {line: GPIO6, pulse: 5ms}\n  leds:\n", 1))
	fill, release := hangAudit(t, filepath.Join(filepath.Dir(r.cfgPath), "state"))
	r.start()
	defer release()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	sim := r.d.p.gate.Sim()

	fill() // the card hangs
	// Someone forces the door: its audit record blocks the gate-events loop.
	require.NoError(t, sim.SetInput("door", true))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, sim.SetInput("door", false))

	// People leave by the exit button: every press pulses the relay.
	press := func() {
		require.NoError(t, sim.SetInput("exit_button", true))
		time.Sleep(2 * time.Millisecond)
		require.NoError(t, sim.SetInput("exit_button", false))
		time.Sleep(20 * time.Millisecond) // the 5 ms pulse ends
	}
	for i := 0; i < 70; i++ {
		press()
	}
	time.Sleep(200 * time.Millisecond)
	before := len(sim.Pulses())
	press()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(sim.Pulses()) == before {
		time.Sleep(10 * time.Millisecond)
	}
	got := len(sim.Pulses())
	release() // let the daemon stop
	if got == before {
		t.Fatalf("exit button pressed with the audit disk hung after a door-forced: the relay did not pulse (%d pulses before, %d after)", before, got)
	}
}

// An exit press whose relay pulse fails (the line cannot be energised):
// with a fail-secure strike the person is not let out. It is an operator
// alert (relay_failed) and an audit record after the press's; until
// 2026-12-07 it was only a log line.
func TestExitPulseFailureIsRecorded(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 50ms}\n  leds:\n", 1))
	r.start()
	r.waitOnlineAndIdle(t)
	sim := r.d.p.gate.Sim()
	sim.FailOutput("relay", errors.New("line lost"))
	require.NoError(t, sim.SetInput("exit_button", true))
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "exit button pulse failed") }, 5*time.Second, 20*time.Millisecond)
	alertCodes := func() []string {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		var c []string
		for _, a := range r.bl.alerts {
			c = append(c, a.Code)
		}
		return c
	}
	// Waited for, not slept on: a loaded runner takes longer than any
	// fixed pause to bring the alert to the broker.
	require.Eventually(t, func() bool { return slices.Contains(alertCodes(), "relay_failed") }, 10*time.Second, 20*time.Millisecond, "the relay_failed alert on the broker")
	alerts := alertCodes()
	r.stop()
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
	if len(sim.Pulses()) != 0 {
		t.Fatalf("test premise: the relay energised: %+v", sim.Pulses())
	}
	if !slices.Contains(alerts, "relay_failed") || !strings.Contains(string(b), `"input":"exit-pulse-failed"`) {
		t.Fatalf("the exit button's pulse failed (nobody let out): alerts %v, audit log:\n%s", alerts, b)
	}
}
