package regularfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A regular file is read; a folder, a FIFO without a writer (which would
// block open forever) and a device (never-ending) are refused at once,
// naming what they are; a file over the bound is refused.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	link := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		most int64
		want string // "" reads "abc"
	}{
		{file, 3, ""},
		{file, 2, "is 3 bytes, more than 2"},
		{dir, 10, "is not a regular file (a folder)"},
		{fifo, 10, "is not a regular file (a FIFO)"},
		{link, 10, "is not a regular file (a character device)"},
		{filepath.Join(dir, "missing"), 10, "no such file"},
	} {
		done := make(chan struct{})
		var b []byte
		var err error
		go func() { b, err = Read(c.path, c.most); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read still blocked after 5 s", c.path)
		}
		switch {
		case c.want == "" && (err != nil || string(b) != "abc"):
			t.Errorf("%s: %q, %v", c.path, b, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.path, err, c.want)
		}
	}
	if _, err := Read(dir, 10); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("a folder: %v does not match EISDIR", err)
	}
}
