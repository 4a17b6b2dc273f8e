package kiosk

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// An exit button opening whose audit line cannot be
// written (one ENOSPC/EIO) leaves no trace an operator sees: no audit
// line, no MQTT event (exit presses are not published), no alert. The
// failure is only a journal line and facegate_audit_write_failures_total
// (whose help says "Decisions"). A decision whose write fails raises
// record_failed; a gate input raises its own alert; records dropped from
// the side queue raise audit_log. When the next write works before the
// self-test runs, the audit check never turns degraded either, so the
// opening is unrecorded with nobody told.
func TestExitPressWhoseAuditWriteFailsIsAlerted(t *testing.T) {
	r := newRig(t, nil)
	disk := &faultyDisk{free: 1 << 30}
	r.k.audit.ops = disk.ops()

	disk.full = true
	r.k.ExitPressed(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)) // the relay already pulsed (egress)
	disk.full = false
	r.k.ExitPressed(time.Date(2026, 12, 7, 9, 0, 5, 0, time.UTC)) // the next one is written

	// The periodic self-test after both.
	r.k.setHealth(r.k.selfTest(context.Background()))

	b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `"input":"exit-pressed"`); n != 1 {
		t.Fatalf("audit holds %d exit presses, want 1 (the setup: the first write failed): %s", n, b)
	}
	if codes := r.alertCodes(); len(codes) == 0 {
		t.Fatalf("an exit opening whose audit record failed raised no alert (alerts %v): the opening is recorded nowhere and nobody is told", codes)
	}
}

// Another gate's liveness unlock applied here whose audit line cannot be
// written: the HTTP caller of an unlock reads it in the answer's detail,
// but nobody reads a peer's; it raises record_failed.
func TestSiteUnlockWhoseAuditWriteFailsIsAlerted(t *testing.T) {
	r := newRig(t, nil)
	disk := &faultyDisk{free: 1 << 30, full: true}
	r.k.audit.ops = disk.ops()
	u, applied := r.k.SiteUnlock(SiteUnlock{Key: lockoutKey("sub-1"), Nonce: "nonce-0123456789abcdef", Issued: time.Now(), Received: time.Now(), By: "site-office"})
	if !applied || !strings.Contains(u.Detail, "not written to the audit log") {
		t.Fatalf("unlock %+v applied %v: want applied, its audit line failed", u, applied)
	}
	if codes := r.alertCodes(); !slices.Contains(codes, AlertRecordFailed) {
		t.Fatalf("alerts %v: a peer's unlock that the audit log lost must raise %s", codes, AlertRecordFailed)
	}
}
