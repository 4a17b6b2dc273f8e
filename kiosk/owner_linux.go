package kiosk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// noFollow makes an open refuse a symlink as the last part of the path.
const noFollow = syscall.O_NOFOLLOW

// lockAppend holds f exclusively (flock) until the returned func is
// called: the daemon and `facegate relay pulse` append to one audit log.
// A lock that cannot be taken is not waited for.
func lockAppend(f *os.File) (unlock func()) {
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX) != nil {
		return func() {}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
}

// openOwnDir opens dir (created if missing) for a root process writing in
// a state directory another user owns: that user may make dir a symlink
// (to /etc) at any time. dir must be a directory of its own; the returned
// path names the directory opened, through /proc/self/fd, whatever dir's
// name comes to point at later. Not root: dir as it is.
func openOwnDir(dir string) (path string, done func() error, err error) {
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
		return "", nil, fmt.Errorf("%s is not a directory of its own (a symlink?): refused as root: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	return "/proc/self/fd/" + strconv.Itoa(fd), f.Close, nil
}

// matchOwner gives the entries of dir (and dir itself) that root created
// the owner of state, the state directory: `sudo facegate relay pulse`
// must not leave an audit file the daemon's user cannot append to.
// Nothing is changed unless this process is root; dir is openOwnDir's
// path, so following it is safe, and an entry is never followed (nor
// changed when it has other names: a hard link to a file of root's).
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
	give := func(fi os.FileInfo, chown func(uid, gid int) error) error {
		s, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || (s.Uid == want.Uid && s.Gid == want.Gid) {
			return nil
		}
		if !fi.IsDir() && s.Nlink != 1 {
			return fmt.Errorf("%s has %d names: not given to the state directory's owner", fi.Name(), s.Nlink)
		}
		return chown(int(want.Uid), int(want.Gid))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := give(fi, func(uid, gid int) error { return os.Chown(dir, uid, gid) }); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if err := give(fi, func(uid, gid int) error { return os.Lchown(p, uid, gid) }); err != nil {
			return err
		}
	}
	return nil
}
