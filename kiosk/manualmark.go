//go:build unix

package kiosk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/facegate/facegate/record"
)

// A pulse by hand keeps a mark in the audit log's folder, locked (flock)
// for as long as its process lives: the kernel drops the lock when the
// process dies, however it dies. A mark whose lock can be taken is a pulse
// whose process is gone without writing its end (kill -9, a power cut);
// its end is then recorded as interrupted (relay_manual's start used to
// stay without an end for good). The line of a dead process is released
// by the kernel, so the relay is not energised any more.
const (
	manualMarkPrefix = "relay-manual-"
	manualMarkSuffix = ".running"
	// manualMarkTemp is a mark being written: never read as a mark (its
	// lock is taken before its name is).
	manualMarkTemp = ".tmp"
)

// maxManualMark bounds what is read of a mark.
const maxManualMark = 4 << 10

// writeManualMark creates the mark of a pulse in dir, locked, durable,
// and returns its open file (closing it releases the lock) and its name.
func writeManualMark(dir string, m manualMark, syncDir func(string) error) (*os.File, string, error) {
	name := filepath.Join(dir, manualMarkPrefix+m.ID+manualMarkSuffix)
	tmp := name + manualMarkTemp
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("pulse mark: %w", err)
	}
	fail := func(err error) (*os.File, string, error) {
		f.Close()
		os.Remove(tmp)
		return nil, "", fmt.Errorf("pulse mark: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fail(err)
	}
	b, _ := json.Marshal(m)
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		os.Remove(name)
		return nil, "", fmt.Errorf("pulse mark: %w", err)
	}
	return f, name, nil
}

// deadManualMark is a mark whose process is gone, still locked by the
// caller: its end is to be recorded, then done removes it.
type deadManualMark struct {
	mark manualMark
	err  error // the mark could not be read: its end is recorded anyway
	path string
	f    *os.File // holds the lock
}

// youngerThan reports whether e was modified less than d ago.
func youngerThan(e os.DirEntry, d time.Duration) bool {
	fi, err := e.Info()
	return err == nil && time.Since(fi.ModTime()) < d
}

// done removes the mark, then lets its lock go.
func (d deadManualMark) done() { os.Remove(d.path); d.f.Close() }

// deadManualMarks returns the marks in dir whose process is gone, each
// locked until its done is called. Leftover temporary marks of dead
// processes are removed.
func deadManualMarks(dir string) []deadManualMark {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var dead []deadManualMark
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, manualMarkPrefix) || !e.Type().IsRegular() {
			continue
		}
		temp := strings.HasSuffix(n, manualMarkSuffix+manualMarkTemp)
		if !temp && !strings.HasSuffix(n, manualMarkSuffix) {
			continue
		}
		if temp && youngerThan(e, time.Minute) {
			continue // being written: its lock may not be taken yet
		}
		path := filepath.Join(dir, n)
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // its pulse is running
			continue
		}
		// Ended and removed by its own process (or another reader) since
		// the folder was listed: nothing to do.
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) != nil || st.Nlink == 0 {
			f.Close()
			continue
		}
		d := deadManualMark{path: path, f: f}
		if temp { // killed before its pulse could start
			d.done()
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, maxManualMark+1))
		switch {
		case err != nil:
			d.err = err
		case len(b) > maxManualMark:
			d.err = errors.New("mark too long")
		default:
			d.err = json.Unmarshal(b, &d.mark)
		}
		if d.mark.ID == "" {
			d.mark.ID = strings.TrimSuffix(strings.TrimPrefix(n, manualMarkPrefix), manualMarkSuffix)
		}
		dead = append(dead, d)
	}
	return dead
}

// recordDeadManualPulses writes the end of each pulse by hand whose
// process died without writing it (relay "interrupted") and returns what
// it wrote, for the caller to tell. A failed write keeps the mark for the
// next try.
func recordDeadManualPulses(a *auditLog, now time.Time, site, gate string) ([]manualRelayRecord, error) {
	var wrote []manualRelayRecord
	var errs []error
	for _, d := range deadManualMarks(a.dir) {
		msg := "the pulse's process ended without recording its end (killed, or a power cut); the kernel released the line then"
		if d.err != nil {
			msg += " (its mark was unreadable: " + clip(d.err.Error()) + ")"
		}
		rec := manualRelayRecord{Kind: manualRelayKind, Phase: "end", ID: d.mark.ID, DurationMS: d.mark.DurationMS,
			Relay: record.RelayInterrupted, Error: msg, By: d.mark.By, Started: d.mark.TS,
			TS: record.Timestamp(now), Site: site, Gate: gate}
		if err := a.write(rec); err != nil {
			errs = append(errs, fmt.Errorf("record the end of an interrupted pulse by hand: %w", err))
			d.f.Close() // kept: the next start or pulse tries again
			continue
		}
		d.done()
		wrote = append(wrote, rec)
	}
	return wrote, errors.Join(errs...)
}
