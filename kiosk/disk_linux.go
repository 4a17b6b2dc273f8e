//go:build linux

package kiosk

import (
	"errors"
	"syscall"
)

// freeSpace is the space an unprivileged user may still write on the file
// system of dir (the blocks reserved for root excluded), in bytes.
func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return uint64(st.Bavail) * bs, nil
}

// freeInodes is how many more files an unprivileged user may create on the
// file system of dir, and its total; ok is false where it does not count
// them (btrfs says 0 of 0) or cannot be read.
func freeInodes(dir string) (free, total uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Files == 0 {
		return 0, 0, false
	}
	return st.Ffree, st.Files, true
}

// diskFull reports whether err is the file system being out of space (or
// of the user's quota): a condition that passes by itself.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// sameFileSystem reports whether a and b are on one file system; false
// when either cannot be read (both are then measured).
func sameFileSystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
