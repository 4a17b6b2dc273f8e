//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// stateLockName is the lock file in state_dir; it holds the PID of the
// daemon that has it.
const stateLockName = "facegate.lock"

// errStateDirInUse: another daemon holds the state directory's lock.
var errStateDirInUse = errors.New("state directory in use by another facegate")

// lockStateDir takes an exclusive lock on <dir>/facegate.lock, creating
// the directory if needed, so that one daemon at a time writes the event
// sequence, audit log, anti-passback memory and outbox there (two would
// write duplicate sequence numbers). The lock lives as long as the
// returned file: close it at exit; the kernel drops it when the process
// dies, so kill -9 leaves no stale lock.
func lockStateDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, stateLockName)
	// O_NOFOLLOW: state_dir is the daemon user's; a root run must not
	// truncate whatever a symlink named facegate.lock points at.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state_dir %s: lock: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: state_dir %s is locked by %s (%s); stop that daemon or give this one its own state_dir",
				errStateDirInUse, dir, holder, path)
		}
		return nil, fmt.Errorf("state_dir %s: lock %s: %w", dir, path, err)
	}
	// For the error message of the next one; the lock does not depend on it.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(pid, 0)
	}
	return f, nil
}

// refuseRootOnOthersState refuses a daemon run as root on a state
// directory another user owns (the service's, StateDirectory= of
// User=facegate): every file it created would be root's, and the service
// could then no longer read its event sequence or append to its audit log.
func refuseRootOnOthersState(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil // missing: created as root's; anything else, lockStateDir says
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	who := strconv.FormatUint(uint64(st.Uid), 10)
	sudo := "'#" + who + "'"
	if u, err := user.LookupId(who); err == nil {
		who, sudo = u.Username, u.Username
	}
	return fmt.Errorf("state_dir %s belongs to %s: run facegate as that user (the service does; by hand: sudo -u %s facegate run), not as root, whose files that user could not use",
		dir, who, sudo)
}

// lockHolder names the process that wrote its PID in the lock file.
func lockHolder(f *os.File) string {
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		return "pid " + strconv.Itoa(pid)
	}
	return "a process of unknown pid"
}
