//go:build !unix

package outbox

import (
	"fmt"
	"os"
)

// lockFile only creates the file where flock is not available.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("outbox: lock: %w", err)
	}
	return f, nil
}
