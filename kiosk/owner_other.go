//go:build !linux

package kiosk

import "os"

// noFollow is no flag off Linux.
const noFollow = 0

// lockAppend does nothing off Linux.
func lockAppend(*os.File) func() { return func() {} }

// openOwnDir is dir off Linux (the daemon runs on Linux).
func openOwnDir(dir string) (string, func() error, error) {
	return dir, func() error { return nil }, nil
}

// matchOwner does nothing off Linux (the daemon runs on Linux).
func matchOwner(state, dir string) error { return nil }
