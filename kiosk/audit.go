package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/facegate/facegate/internal/atomicfile"
)

// auditLog appends one JSON line per decision to <dir>/audit.jsonl,
// fsyncing each line, and rotates by size to audit.jsonl.1 … .N-1 (the
// oldest deleted). It never holds images.
//
// Durability contract: write returns nil only once the line is written and
// fsynced. Whenever it is not (ENOSPC, EIO, a failed fsync, the file not
// open, the log closed) it returns an error, and the bytes it wrote are cut
// off again so that the log holds no line it reported as failed (if the cut
// fails too, the fragment is left on a line of its own).
//
// It keeps working through a full or failing disk: a torn last line (a
// crash mid-write) is ended with '\n' at open, or before the next line if
// that write fails; a file that cannot be opened at start (disk full) is
// opened at the next write; a failed rotation is retried at the next write
// while lines go on being appended to the current file.
type auditLog struct {
	mu       sync.Mutex
	dir      string
	maxSize  int64
	maxFiles int
	ops      auditOps
	f        *os.File // nil until the file could be opened
	size     int64
	closed   bool
	// torn: the file may end without '\n'; the next line starts with one.
	torn bool
	// reopen: the file was renamed away by a rotation whose new file could
	// not be opened yet; lines go on to the renamed file until it can.
	reopen bool
	// repaired counts torn lines ended since open.
	repaired int
	// writeErr and rotateErr are the last failures, nil after a success.
	writeErr, rotateErr error
}

const auditName = "audit.jsonl"

// errAuditClosed: write after close.
var errAuditClosed = errors.New("audit log closed")

// auditOps are the calls that fail on a full or broken disk; tests replace
// them.
type auditOps struct {
	open     func(name string) (*os.File, error)
	write    func(f *os.File, b []byte) (int, error)
	sync     func(f *os.File) error
	truncate func(f *os.File, size int64) error
	rename   func(from, to string) error
	// syncDir syncs the log's folder, so that a file created or renamed
	// there survives a power cut (a grant fsynced into a new file whose
	// name was lost would be lost with it).
	syncDir func(dir string) error
	// freeSpace is the space an unprivileged user may still write on the
	// file system of dir, in bytes.
	freeSpace func(dir string) (uint64, error)
	// freeInodes is how many more files the file system of dir can hold,
	// and how many it holds at most (ok false where it does not count
	// them).
	freeInodes func(dir string) (free, total uint64, ok bool)
	// sameFileSystem reports whether two folders share a file system (the
	// disk check measures one of them then).
	sameFileSystem func(a, b string) bool
}

var osAuditOps = auditOps{
	open:       openAuditFile,
	write:      func(f *os.File, b []byte) (int, error) { return f.Write(b) },
	sync:       func(f *os.File) error { return f.Sync() },
	truncate:   func(f *os.File, size int64) error { return f.Truncate(size) },
	rename:     os.Rename,
	syncDir:    atomicfile.SyncDir,
	freeSpace:  freeSpace,
	freeInodes: freeInodes,

	sameFileSystem: sameFileSystem,
}

// openAuditFile opens name for appending. Never through a symlink: the
// folder is the daemon user's, and `sudo facegate relay pulse` writes
// there as root.
func openAuditFile(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND|noFollow, 0o640)
}

// openAudit opens the log in dir. A full disk does not fail it: the log
// then starts degraded (see auditState) and retries at each write.
func openAudit(dir string, maxSize int64, maxFiles int) (*auditLog, error) {
	return openAuditWith(dir, maxSize, maxFiles, osAuditOps)
}

func openAuditWith(dir string, maxSize int64, maxFiles int, ops auditOps) (*auditLog, error) {
	a := &auditLog{dir: dir, maxSize: maxSize, maxFiles: maxFiles, ops: ops}
	err := os.MkdirAll(dir, 0o750)
	if err != nil {
		err = fmt.Errorf("create audit directory: %w", err)
	} else {
		err = a.open()
	}
	if err != nil {
		if !diskFull(err) {
			return nil, err
		}
		a.writeErr = err
	}
	return a, nil
}

// open opens the current file and ends a torn last line.
func (a *auditLog) open() error {
	f, size, err := a.openFile(filepath.Join(a.dir, auditName))
	if err != nil {
		return err
	}
	a.f, a.size = f, size
	if size > 0 {
		last := make([]byte, 1)
		// Unreadable counts as torn: a blank line costs nothing.
		if _, err := f.ReadAt(last, size-1); err != nil || last[0] != '\n' {
			a.torn = true
			if err := a.endTornLine(); err != nil {
				a.writeErr = err // still torn: the next line starts with the '\n'
			}
		}
	}
	return nil
}

// openFile opens name for appending; an empty one (new, or left by a
// rotation) has its folder synced first, so that its name, and the
// renames before it, survive a power cut.
func (a *auditLog) openFile(name string) (*os.File, int64, error) {
	f, err := a.ops.open(name)
	if err != nil {
		return nil, 0, fmt.Errorf("open audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat audit log: %w", err)
	}
	if st.Size() == 0 {
		if err := a.ops.syncDir(filepath.Dir(name)); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("sync audit folder: %w", err)
		}
	}
	return f, st.Size(), nil
}

// endTornLine appends the '\n' a crash left out, so that the next line is
// a line of its own.
func (a *auditLog) endTornLine() error {
	if err := a.append([]byte{'\n'}); err != nil {
		return err
	}
	a.torn = false
	a.repaired++
	return nil
}

// append writes b and fsyncs; on failure it cuts the file back so that
// nothing of b stays behind, or, if it cannot, marks the tail torn.
func (a *auditLog) append(b []byte) error {
	// `facegate relay pulse` appends to the same file from its own
	// process: hold the file for the write, and cut back (on a failure)
	// only to its size as it is now, not as this process last left it
	// (until 2026-12-07 a failed write erased the other's fsynced lines).
	defer lockAppend(a.f)()
	if st, err := a.f.Stat(); err == nil && st.Size() != a.size {
		a.size = st.Size()
		last := make([]byte, 1)
		if a.size > 0 && b[0] != '\n' {
			if _, err := a.f.ReadAt(last, a.size-1); err != nil || last[0] != '\n' {
				b = append([]byte{'\n'}, b...) // the other's torn tail
			}
		}
	}
	n, err := a.ops.write(a.f, b)
	if err != nil {
		err = fmt.Errorf("write audit log: %w", err)
	} else if serr := a.ops.sync(a.f); serr != nil {
		err = fmt.Errorf("sync audit log: %w", serr)
	}
	if err == nil {
		a.size += int64(n)
		return nil
	}
	if n > 0 {
		if a.ops.truncate(a.f, a.size) == nil {
			_ = a.ops.sync(a.f)
		} else {
			a.size += int64(n)
			a.torn = a.torn || n < len(b) || b[len(b)-1] != '\n'
		}
	}
	return err
}

// write appends one record (an record.Event, an record.PulseResult, an input
// record) as one line (see the durability contract above).
func (a *auditLog) write(rec any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode audit line: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errAuditClosed
	}
	if a.f == nil {
		if err := a.open(); err != nil {
			a.writeErr = err
			return err
		}
	}
	switch {
	case a.reopen:
		a.rotateErr = a.switchFile(filepath.Join(a.dir, auditName))
	case a.size > 0 && a.size+int64(len(line)) > a.maxSize:
		a.rotateErr = a.rotate()
	}
	if a.torn {
		line = append([]byte{'\n'}, line...)
	}
	if err := a.append(line); err != nil {
		a.writeErr = err
		return err
	}
	if a.torn {
		a.torn = false
		a.repaired++
	}
	a.writeErr = nil
	return nil
}

// rotate shifts the files by one and starts a new audit.jsonl. Until it
// has a new file it leaves a.f alone, so lines go on being written to the
// current one; a failure is retried at the next write.
func (a *auditLog) rotate() error {
	base := filepath.Join(a.dir, auditName)
	if a.maxFiles <= 1 {
		// Replace the file in one rename, so that a failure keeps it.
		tmp := base + ".new"
		os.Remove(tmp)
		f, _, err := a.openFile(tmp)
		if err != nil {
			return fmt.Errorf("rotate audit log: %w", err)
		}
		if err := a.ops.rename(tmp, base); err != nil {
			f.Close()
			os.Remove(tmp)
			return fmt.Errorf("rotate audit log: %w", err)
		}
		// The old file is gone from the folder: write to the new one even
		// if its name is not synced yet (the error is reported).
		a.f.Close()
		a.f, a.size, a.torn = f, 0, false
		if err := a.ops.syncDir(a.dir); err != nil {
			return fmt.Errorf("rotate audit log: sync folder: %w", err)
		}
		return nil
	}
	os.Remove(base + "." + strconv.Itoa(a.maxFiles-1))
	for i := a.maxFiles - 2; i >= 1; i-- {
		from := base + "." + strconv.Itoa(i)
		if err := a.ops.rename(from, base+"."+strconv.Itoa(i+1)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotate audit log: %w", err)
		}
	}
	if err := a.ops.rename(base, base+".1"); err != nil {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	a.reopen = true
	return a.switchFile(base)
}

// switchFile moves writing to a new file at name, keeping the current one
// on failure.
func (a *auditLog) switchFile(name string) error {
	f, size, err := a.openFile(name)
	if err != nil {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	a.f.Close()
	a.f, a.size, a.reopen, a.torn = f, size, false, false
	return nil
}

// auditState is what the self-test reports about the log.
type auditState struct {
	// WriteErr is the last write's failure, RotateErr the last rotation's
	// (lines are still written): nil once one works again.
	WriteErr, RotateErr error
	// Repaired counts torn lines ended since start; Torn is a torn line
	// not yet ended.
	Repaired int
	Torn     bool
}

func (a *auditLog) state() auditState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return auditState{WriteErr: a.writeErr, RotateErr: a.rotateErr, Repaired: a.repaired, Torn: a.torn}
}

// stateDir is the directory the log's directory is in (<state_dir>).
func (a *auditLog) stateDir() string { return filepath.Dir(a.dir) }

func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// cropStore keeps the JPEGs sent to the API when audit.save_crops is on,
// named <UTC time>_<event id>.jpg, deleting those older than keep.
type cropStore struct {
	dir  string
	keep time.Duration
}

func (c *cropStore) save(now time.Time, eventID string, jpeg []byte) error {
	if err := os.MkdirAll(c.dir, 0o750); err != nil {
		return fmt.Errorf("create crop directory: %w", err)
	}
	name := now.UTC().Format("20060102T150405.000Z") + "_" + eventID + ".jpg"
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, jpeg, 0o640); err != nil {
		os.Remove(path) // a truncated JPEG (a full disk) is no evidence and takes room
		return fmt.Errorf("save crop: %w", err)
	}
	return nil
}

// cropFuture: a crop dated further ahead of the clock than this is pruned.
const cropFuture = 24 * time.Hour

// prune deletes saved crops older than keep, or dated more than cropFuture
// ahead of now; it goes by the file's modification time, so renamed or
// foreign .jpg files are pruned as well.
func (c *cropStore) prune(now time.Time) (int, error) {
	entries, err := os.ReadDir(c.dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list crops: %w", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jpg") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		// Dated more than a day ahead: saved while the clock was wrong
		// (as liveness clips); kept, it would stay until the clock got there.
		if age := now.Sub(info.ModTime()); age > c.keep || age < -cropFuture {
			if err := os.Remove(filepath.Join(c.dir, e.Name())); err == nil {
				n++
			}
		}
	}
	return n, nil
}
