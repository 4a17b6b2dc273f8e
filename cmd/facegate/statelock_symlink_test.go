//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// state_dir belongs to the daemon's user (StateDirectory=); facegate.lock
// in it can be a symlink that user made. A `sudo facegate run` by hand
// (docs/operations.md names it) then truncates and overwrites whatever the
// link points at (here a stand-in for /etc/shadow) with its PID: the lock
// must be taken on the file in state_dir, never through a link.
func TestStateDirLockDoesNotFollowASymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "shadow")
	const content = "root:$6$secret:19000:0:99999:7:::\n"
	if err := os.WriteFile(victim, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, stateLockName)); err != nil {
		t.Fatal(err)
	}
	if f, err := lockStateDir(dir); err == nil {
		f.Close()
	}
	if b, _ := os.ReadFile(victim); string(b) != content {
		t.Fatalf("the file facegate.lock links to was overwritten: %q", b)
	}
}
