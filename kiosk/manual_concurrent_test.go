package kiosk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// `facegate relay pulse` appends to the audit log the daemon has open
// (ManualAudit: "both append to the file"). The daemon's auditLog keeps its
// own idea of the file's size; when one of its writes then fails half way
// (a full disk), it cuts the file back to that stale size and erases the
// fsynced records of the manual pulse: an opening of the relay with no
// record left.
func TestDaemonFailedWriteKeepsAManualPulsesRecords(t *testing.T) {
	o := *testConfig(t)
	dir := filepath.Join(o.StateDir, "audit")
	disk := &faultyDisk{free: 1 << 30}
	daemon, err := openAuditWith(dir, 10<<20, 5, disk.ops())
	require.NoError(t, err)
	defer daemon.close()
	require.NoError(t, daemon.write(auditEvent(1)))

	m, err := OpenManualAudit(o, "installer", func() time.Time { return time.Unix(1, 0) })
	require.NoError(t, err)
	require.NoError(t, m.Start(time.Second)) // fsynced: the line may move now
	require.NoError(t, m.End("pulsed", nil))
	require.NoError(t, m.Close())

	disk.full = true
	require.Error(t, daemon.write(auditEvent(2)))

	b, err := os.ReadFile(filepath.Join(dir, auditName))
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(b), `"kind":"relay_manual"`),
		"the manual pulse's records were cut off by the daemon's failed write:\n%s", b)
}

// The other way round: a manual pulse whose write fails cuts the file back
// to the size it saw at open, erasing the grants the daemon recorded (and
// fsynced, and then pulsed the relay for) in the meantime.
func TestManualPulseFailedWriteKeepsTheDaemonsRecords(t *testing.T) {
	o := *testConfig(t)
	dir := filepath.Join(o.StateDir, "audit")
	daemon, err := openAudit(dir, 10<<20, 5)
	require.NoError(t, err)
	defer daemon.close()

	m, err := OpenManualAudit(o, "installer", func() time.Time { return time.Unix(1, 0) })
	require.NoError(t, err)
	require.NoError(t, m.Start(time.Second))
	require.NoError(t, daemon.write(auditEvent(7))) // a grant, recorded before its relay moves
	disk := &faultyDisk{full: true, free: 1 << 30}
	m.log.ops = disk.ops()
	require.Error(t, m.End("pulsed", nil))
	_ = m.Close()

	b, err := os.ReadFile(filepath.Join(dir, auditName))
	require.NoError(t, err)
	require.Contains(t, string(b), `"event_id":"e7"`, "the daemon's fsynced grant record was cut off by the manual pulse's failed write")
}

// A `relay pulse` killed half way through its line leaves a torn tail in
// the file the daemon has open: the daemon's next line starts on a line
// of its own, and stays whole.
func TestDaemonLineAfterAnotherProcesssTornTail(t *testing.T) {
	o := *testConfig(t)
	dir := filepath.Join(o.StateDir, "audit")
	daemon, err := openAudit(dir, 10<<20, 5)
	require.NoError(t, err)
	defer daemon.close()
	require.NoError(t, daemon.write(auditEvent(1)))
	f, err := os.OpenFile(filepath.Join(dir, auditName), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"kind":"relay_manual","phase":"st`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, daemon.write(auditEvent(2)))

	b, err := os.ReadFile(filepath.Join(dir, auditName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 3, "%s", b)
	require.Contains(t, lines[2], `"event_id":"e2"`)
	require.True(t, strings.HasPrefix(lines[2], "{"), "the daemon's line was glued to the torn tail: %q", lines[2])
}

// A `relay pulse` stopped (Ctrl-Z) while it holds the audit log's lock
// must not stop the gate's records: the daemon waits for the lock a
// bounded time, then writes its line.
func TestDaemonDoesNotWaitForeverForTheAuditLock(t *testing.T) {
	o := *testConfig(t)
	dir := filepath.Join(o.StateDir, "audit")
	daemon, err := openAudit(dir, 10<<20, 5)
	require.NoError(t, err)
	defer daemon.close()
	require.NoError(t, daemon.write(auditEvent(1)))
	other, err := os.OpenFile(filepath.Join(dir, auditName), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer other.Close()
	unlock := lockAppend(other) // another open file: another process's lock
	defer unlock()
	done := make(chan error, 1)
	go func() { done <- daemon.write(auditEvent(2)) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(appendLockWait + 5*time.Second):
		t.Fatal("the daemon's audit write waited for a lock another process never gave back")
	}
}
