package owndir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOpen(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it only acts for root (make test runs as root in CI)")
	}
	base := t.TempDir()
	target := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(link); !errors.Is(err, ErrNotOwn) {
		t.Fatalf("Open(a symlink) = %v, want %v", err, ErrNotOwn)
	}

	// A folder opened, then swapped for a symlink: the path still names it.
	dir := filepath.Join(base, "new", "audit")
	p, done, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if err := os.Rename(dir, filepath.Join(base, "new", "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "f")); err == nil {
		t.Fatal("a write through the opened folder landed in the symlink's target")
	}
	if _, err := os.Stat(filepath.Join(base, "new", "moved", "f")); err != nil {
		t.Fatalf("the write did not land in the folder opened: %v", err)
	}
}
