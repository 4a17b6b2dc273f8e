//go:build linux

package kiosk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/smalldisk"
)

// On a full file system the sequence file cannot be replaced (the atomic
// replace needs a new file), but the number is written over the old one
// in place: a number used now is not used again after a restart. Until
// 2026-12-07 it stayed in memory only, and a decision that went out on
// MQTT from an outbox elsewhere with it shared it with the first decision
// after the restart.
func TestSequenceIsSavedOnAFullDisk(t *testing.T) {
	dir := smalldisk.Mount(t, "64k")
	s, err := openSequencer(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // a gate that ran before: the file exists
		if _, _, err := s.next(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	fillDisk(t, dir)
	for i := 0; i < 120; i++ { // past 99: the number grows by a digit
		if _, _, err := s.next(time.Now()); err != nil {
			t.Fatalf("decision %d on a full disk: %v", i, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "seq"))
	if err != nil || strings.TrimSpace(string(b)) != "123" {
		t.Fatalf("sequence file %q, %v after 123 numbers, want 123", b, err)
	}
	again, err := openSequencer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := again.next(time.Now()); n != 124 {
		t.Fatalf("after a restart the next number is %d, want 124", n)
	}
}

// A crop the full disk cut short is removed, not left as a broken JPEG.
func TestCropCutShortByAFullDiskIsRemoved(t *testing.T) {
	dir := smalldisk.Mount(t, "64k")
	c := &cropStore{dir: filepath.Join(dir, "crops"), keep: time.Hour}
	if err := os.MkdirAll(c.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, dir)
	if err := c.save(time.Now(), "e1", make([]byte, 256<<10)); err == nil {
		t.Fatal("a 256 KiB crop saved on a full 64 KiB disk")
	}
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != 0 {
		t.Fatalf("left in the crops folder: %v", entries)
	}
}
