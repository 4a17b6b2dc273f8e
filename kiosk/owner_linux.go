package kiosk

import (
	"os"
	"path/filepath"
	"syscall"
)

// matchOwner gives the entries of dir (and dir itself) that root created
// the owner of state, the state directory: `sudo facegate relay pulse`
// must not leave an audit file the daemon's user cannot append to.
// Nothing is changed unless this process is root.
func matchOwner(state, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(state)
	if err != nil {
		return err
	}
	want, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	paths := []string{dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if s, ok := fi.Sys().(*syscall.Stat_t); ok && (s.Uid != want.Uid || s.Gid != want.Gid) {
			if err := os.Lchown(p, int(want.Uid), int(want.Gid)); err != nil {
				return err
			}
		}
	}
	return nil
}
