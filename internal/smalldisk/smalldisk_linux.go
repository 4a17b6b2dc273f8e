//go:build linux

// Package smalldisk gives tests a real, tiny file system to fill up: the
// full-disk tests of the audit log and the outbox.
package smalldisk

import (
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (e.g. "64k") on a fresh temporary folder for
// the test and returns it, or skips the test when it may not mount (not
// root, no CAP_SYS_ADMIN, a container). It is unmounted at the test's end.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("a real full disk needs a tmpfs mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
