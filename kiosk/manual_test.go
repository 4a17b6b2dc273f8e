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
	require.NotEmpty(t, start.ID)
	require.Equal(t, manualRelayRecord{Kind: "relay_manual", Phase: "start", ID: start.ID, DurationMS: 1500, By: "installer", TS: "2026-12-07T09:00:00.000Z", Site: o.Site, Gate: o.Gate}, start)
	require.Equal(t, "end", end.Phase)
	require.Equal(t, "pulsed", end.Relay)
	require.Equal(t, start.ID, end.ID, "the end names its start")
	marks, _ := filepath.Glob(filepath.Join(o.StateDir, "audit", manualMarkPrefix+"*"))
	require.Empty(t, marks, "a pulse whose end is recorded leaves no mark")
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

// A pulse by hand whose process died (kill -9, a power cut) without
// writing its end is ended as interrupted by the daemon's next start,
// with the alert relay_interrupted; one still running is left alone.
// Until 2026-12-08 its start stayed without an end for good.
func TestManualPulseKilledIsEndedAtTheDaemonsStart(t *testing.T) {
	o := *testConfig(t)
	m, err := OpenManualAudit(o, "installer", nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(5*time.Second))

	start := func() *fakePublisher {
		pub := &fakePublisher{}
		_, err := New(o, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Logger: quietLogger()})
		require.NoError(t, err)
		return pub
	}
	ends := func() []manualRelayRecord {
		b, err := os.ReadFile(filepath.Join(o.StateDir, "audit", auditName))
		require.NoError(t, err)
		var out []manualRelayRecord
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r manualRelayRecord
			if json.Unmarshal([]byte(l), &r) == nil && r.Kind == manualRelayKind && r.Phase == "end" {
				out = append(out, r)
			}
		}
		return out
	}
	_, _, alerts := start().snapshot()
	require.Empty(t, ends(), "a running pulse was ended")
	require.Empty(t, alerts)

	m.mark.Close() // the process dies: the kernel lets its lock go
	_, _, alerts = start().snapshot()
	got := ends()
	require.Len(t, got, 1)
	require.Equal(t, "interrupted", got[0].Relay)
	require.Equal(t, m.id, got[0].ID)
	require.Equal(t, "installer", got[0].By)
	require.NotEmpty(t, got[0].Started)
	require.Len(t, alerts, 1)
	require.Equal(t, AlertRelayInterrupted, alerts[0].Code)
	require.Contains(t, alerts[0].Message, "by installer")

	_, _, alerts = start().snapshot()
	require.Len(t, ends(), 1, "ended twice")
	require.Empty(t, alerts)
}

// Run as root, a pulse's mark is the state directory owner's from its
// start: the daemon (its own user) must take its lock once the pulse is
// killed. Until 2026-12-08 it was handed over only at Close, which a
// killed pulse never reaches, so only a later pulse run as root ended it.
func TestManualPulseMarkIsTheStateOwnersWhileItRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files for another user (make test runs as root in CI)")
	}
	o := *testConfig(t)
	require.NoError(t, os.MkdirAll(o.StateDir, 0o750))
	require.NoError(t, os.Chown(o.StateDir, 12345, 23456))
	m, err := OpenManualAudit(o, "root", nil)
	require.NoError(t, err)
	require.NoError(t, m.Start(time.Second))
	defer m.Close()
	fi, err := os.Stat(filepath.Join(o.StateDir, "audit", manualMarkPrefix+m.id+manualMarkSuffix))
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	require.Equal(t, [2]uint32{12345, 23456}, [2]uint32{st.Uid, st.Gid})
}

// A mark still being written (its temporary name) is left alone: its lock
// may not be taken yet, and removing it refused a pulse that was starting.
// One left by a process killed while writing it is removed once old.
func TestManualPulseTemporaryMarkRemovedOnlyOnceOld(t *testing.T) {
	dir := t.TempDir()
	young := filepath.Join(dir, manualMarkPrefix+"YOUNG"+manualMarkSuffix+manualMarkTemp)
	old := filepath.Join(dir, manualMarkPrefix+"OLD"+manualMarkSuffix+manualMarkTemp)
	for _, p := range []string{young, old} {
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	long := time.Now().Add(-2 * time.Minute)
	require.NoError(t, os.Chtimes(old, long, long))
	require.Empty(t, deadManualMarks(dir), "a temporary mark is no pulse to end")
	require.FileExists(t, young)
	require.NoFileExists(t, old)
}
