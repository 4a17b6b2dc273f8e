package kiosk

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// auditLog appends one JSON line per decision to <dir>/audit.jsonl,
// fsyncing each line, and rotates by size to audit.jsonl.1 … .N-1 (the
// oldest deleted). It never holds images.
type auditLog struct {
	mu       sync.Mutex
	dir      string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
}

const auditName = "audit.jsonl"

func openAudit(dir string, maxSize int64, maxFiles int) (*auditLog, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create audit directory: %w", err)
	}
	a := &auditLog{dir: dir, maxSize: maxSize, maxFiles: maxFiles}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *auditLog) open() error {
	f, err := os.OpenFile(filepath.Join(a.dir, auditName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat audit log: %w", err)
	}
	a.f, a.size = f, st.Size()
	return nil
}

// write appends one record (an mqtt.Event or an mqtt.PulseResult) as one
// line. A nil error means the line is on disk (written and fsync'd).
func (a *auditLog) write(rec any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode audit line: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("audit log closed")
	}
	if a.size > 0 && a.size+int64(len(line)) > a.maxSize {
		if err := a.rotate(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("sync audit log: %w", err)
	}
	return nil
}

func (a *auditLog) rotate() error {
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	a.f = nil
	base := filepath.Join(a.dir, auditName)
	if a.maxFiles <= 1 {
		if err := os.Remove(base); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotate audit log: %w", err)
		}
	} else {
		os.Remove(base + "." + strconv.Itoa(a.maxFiles-1))
		for i := a.maxFiles - 2; i >= 1; i-- {
			from := base + "." + strconv.Itoa(i)
			if err := os.Rename(from, base+"."+strconv.Itoa(i+1)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("rotate audit log: %w", err)
			}
		}
		if err := os.Rename(base, base+".1"); err != nil {
			return fmt.Errorf("rotate audit log: %w", err)
		}
	}
	return a.open()
}

func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
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
	if err := os.WriteFile(filepath.Join(c.dir, name), jpeg, 0o640); err != nil {
		return fmt.Errorf("save crop: %w", err)
	}
	return nil
}

// prune deletes saved crops older than keep; it goes by the file's
// modification time, so renamed or foreign .jpg files are pruned as well.
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
		if now.Sub(info.ModTime()) > c.keep {
			if err := os.Remove(filepath.Join(c.dir, e.Name())); err == nil {
				n++
			}
		}
	}
	return n, nil
}
