//go:build linux

package kiosk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/smalldisk"
)

// fillDisk writes a file until the file system refuses.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			return
		}
	}
}

// TestPadStateOnARealFullDisk: on a full tmpfs the save fails with ENOSPC,
// the failure counts all the same, and the file keeps its last content.
func TestPadStateOnARealFullDisk(t *testing.T) {
	dir := smalldisk.Mount(t, "64k")
	now := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	path := filepath.Join(dir, lockoutFileName)
	var p padState
	if err := p.open(path, now, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := p.fail("a", now, 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, dir)
	locked, err := p.fail("a", now.Add(time.Second), 2, time.Hour)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save on a full disk: %v, want ENOSPC", err)
	}
	if !locked || !p.locked("a", now.Add(2*time.Second), 2, time.Hour) {
		t.Error("an unsaved failure does not count")
	}
	if m := readLockout(t, path); len(m[lockoutKey("a")]) != 1 {
		t.Errorf("file %v, want the last saved content", m)
	}
}
