package owndir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Open opens dir (created, with its parents, if missing) when this
// process is root. dir must be a folder of its own, not a symlink; the
// returned path names the folder opened, through /proc/self/fd, whatever
// dir's name comes to point at later. done closes it. Not root: dir as it
// is, and a done that does nothing.
func Open(dir string) (path string, done func() error, err error) {
	if os.Geteuid() != 0 {
		return dir, func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return "", nil, fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w: refused as root (%w)", dir, ErrNotOwn, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	return "/proc/self/fd/" + strconv.Itoa(fd), f.Close, nil
}
