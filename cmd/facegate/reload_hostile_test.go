package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWatchdogFollowsAReloadedHealthInterval: kiosk.health_interval is
// documented as applied at once by a reload, and the kiosk's self-test
// does follow it; the watchdog must then expect self-tests at the new
// period. Raised by a reload from 1s to 5m, a self-test a minute old is
// normal, yet the watchdog (still reckoning with 1s: 2*1s+15s) withholds
// its ping and systemd kills the daemon (WatchdogSec=30s) mid-session.
func TestWatchdogFollowsAReloadedHealthInterval(t *testing.T) {
	r := newRig(t, 0)
	r.start()
	r.waitOnlineAndIdle(t)
	r.writeConfig(strings.Replace(r.cfgYAML, "health_interval: 1s", "health_interval: 5m", 1))
	r.reload <- os.Interrupt
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "configuration reloaded") }, 10*time.Second, 20*time.Millisecond, "the reload")
	if strings.Contains(r.logs.String(), "take effect at the next restart") {
		t.Fatalf("kiosk.health_interval is documented as reloadable; the daemon asked for a restart:\n%s", r.logs.String())
	}
	// The kiosk's last self-test a minute ago: its next is due in 4 minutes.
	r.d.lastHealth.Store(time.Now().Add(-time.Minute).UnixNano())
	if reason := r.d.unsound(); reason != "" {
		t.Fatalf("watchdog ping withheld after a reload of kiosk.health_interval to 5m: %q (systemd would kill the daemon)", reason)
	}
}

// TestReloadOfAnEmptyFileKeepsTheRunningConfiguration: an editor saving in
// place (sudoedit, as docs/operations.md suggests, truncates and writes)
// or a `: > facegate.yaml` leaves the file empty for a moment. A SIGHUP
// then must not apply the built-in defaults: here they would accept
// badge QR codes naming any submission id (identity.qr.allow_submission
// back to true), end anti-passback and send events nowhere at the next
// restart. The running configuration stays, and the operator is told.
func TestReloadOfAnEmptyFileKeepsTheRunningConfiguration(t *testing.T) {
	r := newRig(t, 0)
	r.cfgYAML = strings.Replace(r.cfgYAML, "identity:\n  timeout: 10s\n",
		"identity:\n  timeout: 10s\n  qr: {enabled: true, allow_submission: false}\n", 1)
	r.cfgYAML = strings.Replace(r.cfgYAML, "policy:\n", "policy:\n  anti_passback: {mode: hard, window: 5m}\n", 1)
	r.writeConfig(r.cfgYAML)
	r.start()
	r.waitOnlineAndIdle(t)
	if err := r.d.p.kiosk.IdentifyQR("FG1:S:sub-worker-1"); err == nil {
		t.Fatal("setup: a submission QR was accepted with allow_submission off")
	}
	r.writeConfig("") // the editor's truncation, caught by the SIGHUP
	r.reload <- os.Interrupt
	require.Eventually(t, func() bool {
		l := r.logs.String()
		return strings.Contains(l, "configuration reloaded") || strings.Contains(l, "configuration reload failed")
	}, 10*time.Second, 20*time.Millisecond, "the reload's outcome")
	if err := r.d.p.kiosk.IdentifyQR("FG1:S:sub-worker-1"); err == nil {
		t.Errorf("after a reload of an empty file a submission QR code identifies (identity.qr.allow_submission reverted to its default)")
	}
	if !strings.Contains(r.logs.String(), "configuration reload failed") {
		t.Errorf("an empty configuration file was applied as a good one:\n%s", r.logs.String())
	}
}
