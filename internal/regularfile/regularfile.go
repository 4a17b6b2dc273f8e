// Package regularfile opens files named from outside (the configuration,
// a command line, a folder others write to) only when they are regular
// files: open or read of a FIFO or a device blocks out of a signal's
// reach, a device opens hardware, and /dev/zero never ends.
package regularfile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// NotRegularError is a path that is not a regular file.
type NotRegularError struct {
	Path string
	Mode os.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file (%s)", e.Path, Kind(e.Mode))
}

// Unwrap makes a folder match syscall.EISDIR.
func (e *NotRegularError) Unwrap() error {
	if e.Mode.IsDir() {
		return syscall.EISDIR
	}
	return nil
}

// TooLargeError is a file over the bound its reader sets.
type TooLargeError struct {
	Path       string
	Size, Most int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is %d bytes, more than %d", e.Path, e.Size, e.Most)
}

// Open opens path for reading without blocking and refuses anything but a
// regular file, checked on the opened file itself (no race with a swap).
// The caller closes the file.
func Open(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, fi, nil
}

// Read reads the regular file path whole, at most most bytes (a file that
// is larger, or grows past it while read, is refused).
func Read(path string, most int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > most {
		return nil, &TooLargeError{Path: path, Size: fi.Size(), Most: most}
	}
	b, err := io.ReadAll(io.LimitReader(f, most+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > most {
		return nil, &TooLargeError{Path: path, Size: int64(len(b)), Most: most}
	}
	return b, nil
}

// Kind names a file mode for people: "a folder", "a FIFO".
func Kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
