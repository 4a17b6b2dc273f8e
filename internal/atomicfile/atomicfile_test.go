package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReplacesAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := Write(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("content %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the file: %v", len(entries), entries)
	}
}

func TestWriteFailsInAMissingFolderAndNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	err := Write(path, []byte("x"), 0o600)
	if err == nil {
		t.Fatal("no error for a missing folder")
	}
	if want := path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestSetAsideKeepsTheFileUnderATimedName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	aside, err := SetAside(path, time.Date(2026, 12, 3, 2, 20, 0, 0, time.FixedZone("CET", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".corrupt-20261203T012000Z"; aside != want {
		t.Fatalf("aside %q, want %q", aside, want)
	}
	if b, err := os.ReadFile(aside); err != nil || string(b) != "garbage" {
		t.Fatalf("aside holds %q, %v", b, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the file is still at %s: %v", path, err)
	}
	if _, err := SetAside(path, time.Now()); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a missing file: %v, want an error naming it", err)
	}
}
