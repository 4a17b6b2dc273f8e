//go:build !linux

package kiosk

import (
	"errors"
	"syscall"
)

// freeSpace is not measured here: the disk check reports "absent".
func freeSpace(string) (uint64, error) { return 0, errors.ErrUnsupported }

func diskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }
