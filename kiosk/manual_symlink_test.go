package kiosk

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ownerOf is the uid and gid of p (not following a last symlink).
func ownerOf(t *testing.T, p string) [2]uint32 {
	t.Helper()
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}

// The state directory belongs to the daemon's user (StateDirectory=), so
// that user can replace <state>/audit with a symlink. `sudo facegate relay
// pulse` must not then give root's files (here: a folder standing for /etc)
// to that user: Lchown of <state>/audit/<entry> still follows the symlink
// in the middle of the path.
func TestManualAuditAsRootDoesNotChownThroughASymlinkedAuditDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (sudo facegate relay pulse runs as root)")
	}
	o := *testConfig(t)
	require.NoError(t, os.MkdirAll(o.StateDir, 0o750))
	require.NoError(t, os.Chown(o.StateDir, 12345, 23456))
	etc := filepath.Join(t.TempDir(), "etc") // root's folder
	require.NoError(t, os.MkdirAll(etc, 0o755))
	shadow := filepath.Join(etc, "shadow")
	require.NoError(t, os.WriteFile(shadow, []byte("root:$6$secret:19000:0:99999:7:::\n"), 0o640))
	require.NoError(t, os.Symlink(etc, filepath.Join(o.StateDir, "audit")))

	m, err := OpenManualAudit(o, "root", func() time.Time { return time.Unix(1, 0) })
	if err == nil {
		_ = m.Start(time.Second)
		_ = m.End("pulsed", nil)
		_ = m.Close()
	}
	require.Equal(t, [2]uint32{0, 0}, ownerOf(t, shadow), "root's file was given to the daemon's user")
	require.Equal(t, [2]uint32{0, 0}, ownerOf(t, etc), "root's folder was given to the daemon's user")
	_, err = os.Lstat(filepath.Join(etc, auditName))
	require.ErrorIs(t, err, os.ErrNotExist, "root wrote an audit file into the folder the symlink points at")
}

// The audit file itself replaced by a symlink (to a file of root's that
// must never change): root's pulse appends its JSON lines to that file.
func TestManualAuditAsRootDoesNotAppendThroughASymlinkedAuditFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (sudo facegate relay pulse runs as root)")
	}
	o := *testConfig(t)
	require.NoError(t, os.MkdirAll(filepath.Join(o.StateDir, "audit"), 0o750))
	require.NoError(t, os.Chown(o.StateDir, 12345, 23456))
	require.NoError(t, os.Chown(filepath.Join(o.StateDir, "audit"), 12345, 23456))
	sudoers := filepath.Join(t.TempDir(), "sudoers") // root's file
	const content = "root ALL=(ALL:ALL) ALL\n"
	require.NoError(t, os.WriteFile(sudoers, []byte(content), 0o440))
	require.NoError(t, os.Symlink(sudoers, filepath.Join(o.StateDir, "audit", auditName)))

	m, err := OpenManualAudit(o, "root", func() time.Time { return time.Unix(1, 0) })
	if err == nil {
		_ = m.Start(time.Second)
		_ = m.End("pulsed", nil)
		_ = m.Close()
	}
	b, err := os.ReadFile(sudoers)
	require.NoError(t, err)
	require.Equal(t, content, string(b), "root appended the pulse's records to the file the symlink points at")
}
