// Package atomicfile replaces a small state file so that after a crash it
// holds either the old or the new content, never a mix, and the new content
// once Write returns.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Write replaces path with data, mode perm: a temporary file in the same
// folder, written and synced, renamed over path, then the folder synced so
// that the rename itself survives a power cut.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := write(tmp, data, perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("sync folder of %s: %w", path, err)
	}
	return nil
}

// RemoveTemps removes the temporary files of Writes to path that a crash
// (a power cut, kill -9) cut short: nothing else ever would, and each such
// crash left one more. Call it only while nothing writes path (at start,
// under the state directory's lock). It returns how many it removed.
func RemoveTemps(path string) (int, error) {
	tmps, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*"))
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, t := range tmps {
		if err := os.Remove(t); err == nil {
			n++
		} else if first == nil {
			first = err
		}
	}
	return n, first
}

// SyncDir syncs a folder, so that the names created or renamed in it
// survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func write(f *os.File, data []byte, perm fs.FileMode) error {
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// SetAside renames a state file that cannot be used to
// <path>.corrupt-<UTC time of now>[-N] and returns that name: kept for a person
// to look at, out of the way of the fresh file that replaces it.
func SetAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	// A clock without a battery repeats its times (a Pi booting on the
	// same saved time): an earlier copy of that name is kept, not
	// replaced (the daemon holds its state directory's lock).
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); err != nil {
			break // free, or unreadable: Rename says which
		}
		aside = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("set %s aside: %w", path, err)
	}
	return aside, nil
}
