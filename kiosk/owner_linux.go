package kiosk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// noFollow makes an open refuse a symlink as the last part of the path.
const noFollow = syscall.O_NOFOLLOW

// lockAppend holds f exclusively (flock) until the returned func is
// called: the daemon and `facegate relay pulse` append to one audit log.
// The other holds it for one line's write and fsync; it is waited for at
// most appendLockWait (a `relay pulse` stopped with Ctrl-Z mid-line must
// not stop the gate's records), then the line is written without it.
func lockAppend(f *os.File) (unlock func()) {
	fd := int(f.Fd())
	for deadline := time.Now().Add(appendLockWait); ; {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(fd, syscall.LOCK_UN) }
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return func() {}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// appendLockWait bounds the wait for the audit log's lock.
const appendLockWait = time.Second

// matchOwner gives the entries of dir (and dir itself) that root created
// the owner of state, the state directory: `sudo facegate relay pulse`
// must not leave an audit file the daemon's user cannot append to.
// Nothing is changed unless this process is root; dir is owndir.Open's
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
