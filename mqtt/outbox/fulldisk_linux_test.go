//go:build linux

package outbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/facegate/facegate/internal/smalldisk"
)

// fill writes a file in dir until the disk is full and returns its name.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return name
		}
	}
}

// On a real full file system: Append fails with ENOSPC and stores nothing,
// a torn record does not stop Open, and everything works again once space
// is freed, without a restart.
func TestRealFullDisk(t *testing.T) {
	dir := smalldisk.Mount(t, "256k")
	path := filepath.Join(dir, "q")
	b := open(t, path, Options{})
	p := bytes.Repeat([]byte("x"), 700)
	stored := 0
	for ; stored < 10; stored++ {
		if _, err := b.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	// A crash in the middle of an Append, then the disk fills up.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(record(kindPut, 99, string(p))[:100])
	f.Close()
	filler := fill(t, dir)

	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open on a full disk with a torn record: %v", err)
	}
	if rec := b.Recovery(); !rec.Torn || rec.Damaged() {
		t.Errorf("Recovery %v, want the torn record cut, nothing lost", rec)
	}
	var appendErr error
	for i := 0; i < 100 && appendErr == nil; i++ { // the cut may have freed a little
		if _, appendErr = b.Append(p); appendErr == nil {
			stored++
		}
	}
	if !errors.Is(appendErr, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v, want ENOSPC", appendErr)
	}
	if b.Len() != stored {
		t.Fatalf("Len %d, want the %d stored", b.Len(), stored)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(p); err != nil {
		t.Fatalf("Append once space is back: %v", err)
	}
	stored++
	b.Close()
	b = open(t, path, Options{})
	defer b.Close()
	if b.Len() != stored || b.Recovery().DamagedBytes != 0 {
		t.Fatalf("reopen: Len %d (want %d), Recovery %v", b.Len(), stored, b.Recovery())
	}
}
