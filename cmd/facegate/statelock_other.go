//go:build !unix

package main

import (
	"fmt"
	"os"
)

// lockStateDir only creates the directory where flock is not available.
func lockStateDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	return os.Open(dir)
}

// refuseRootOnOthersState has nothing to check without Unix owners.
func refuseRootOnOthersState(string) error { return nil }
