package kiosk

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The records of a pulse by hand: start before the line moves, end with
// how it went, in the audit log the daemon writes.
func TestManualAuditRecords(t *testing.T) {
	o := *testConfig(t)
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	m, err := OpenManualAudit(o, "installer", func() time.Time { return at })
	require.NoError(t, err)
	require.NoError(t, m.Start(1500*time.Millisecond))
	require.NoError(t, m.End("pulsed", nil))
	require.NoError(t, m.End("pulsed", nil), "a second End writes nothing")
	require.NoError(t, m.Close())
	b, err := os.ReadFile(filepath.Join(o.StateDir, "audit", auditName))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 2)
	var start, end manualRelayRecord
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &start))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &end))
	require.Equal(t, manualRelayRecord{Kind: "relay_manual", Phase: "start", DurationMS: 1500, By: "installer", TS: "2026-12-07T09:00:00.000Z", Site: o.Site, Gate: o.Gate}, start)
	require.Equal(t, "end", end.Phase)
	require.Equal(t, "pulsed", end.Relay)
}

// Run as root (sudo facegate relay pulse), the audit files it creates go
// to the state directory's owner: the daemon's user must still append to
// them.
func TestManualAuditGivesRootsFilesToTheStateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files for another user (make test runs as root in CI)")
	}
	o := *testConfig(t)
	require.NoError(t, os.MkdirAll(o.StateDir, 0o750))
	require.NoError(t, os.Chown(o.StateDir, 12345, 23456))
	m, err := OpenManualAudit(o, "root", nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(time.Second))
	require.NoError(t, m.Close())
	for _, p := range []string{filepath.Join(o.StateDir, "audit"), filepath.Join(o.StateDir, "audit", auditName)} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]uint32{12345, 23456}, [2]uint32{st.Uid, st.Gid}, p)
	}
}
