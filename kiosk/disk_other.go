//go:build !linux

package kiosk

import (
	"errors"
	"syscall"
)

// freeSpace is not measured here: the disk check reports "absent".
func freeSpace(string) (uint64, error) { return 0, errors.ErrUnsupported }

// freeInodes is not measured here.
func freeInodes(string) (free, total uint64, ok bool) { return 0, 0, false }

func diskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// sameFileSystem: nothing is measured here.
func sameFileSystem(a, b string) bool { return true }
