//go:build !linux

package kiosk

import "os"

// noFollow is no flag off Linux.
const noFollow = 0

// lockAppend does nothing off Linux.
func lockAppend(*os.File) func() { return func() {} }

// matchOwner does nothing off Linux (the daemon runs on Linux).
func matchOwner(state, dir string) error { return nil }
