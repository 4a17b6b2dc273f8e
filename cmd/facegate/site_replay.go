package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/record"
)

// siteReplayMargin is how long before the state file's last save the
// audit log is read again at start: a record written just before the
// save may have reached the presence after it.
const siteReplayMargin = time.Minute

// replayOwnRecords applies to the presence this gate's own decisions and
// relay results that the audit log holds from shortly before the
// presence's state file was last saved. A kill -9 or a power cut within
// siteSaveEvery of a grant lost it from the state file, and nothing else
// brings a gate's own passage back: each peer's snapshot carries that
// peer's facts, the outbox no longer holds an event the broker took, and
// the broker does not send its echo again. The audit log holds every
// grant durably before its relay moved. Applying a fact twice changes
// nothing, so the margin costs nothing. Without a state file (a new gate
// that crashed before its first save, or one set aside as corrupt) the
// two newest audit files are read whole: a later passage of the same
// person, here or at a peer, still wins over an older one.
func (w *siteWire) replayOwnRecords() {
	var since time.Time
	st, err := os.Stat(filepath.Join(w.cfg.StateDir, siteStateName))
	switch {
	case err == nil && !st.ModTime().After(time.Now()):
		since = st.ModTime().Add(-siteReplayMargin)
	case err == nil:
		// Saved at a clock ahead of this one (stepped back since): the
		// grants since are stamped before the save. Read them all.
		w.log.Warn("site state file saved later than now (the clock stepped back): the audit files are read whole", "mtime", st.ModTime().UTC().Format(time.RFC3339))
	case !errors.Is(err, os.ErrNotExist):
		w.log.Error("site state file not read for its time: the passages since its last save are not read again from the audit log", "err", err)
		return
	}
	dir := filepath.Join(w.cfg.StateDir, "audit")
	applied := 0
	// The current file, and the one before when the current one starts
	// after since (rotated since the save).
	cur, first, err := w.replayAuditFile(filepath.Join(dir, "audit.jsonl"), since)
	applied += cur
	if err == nil && (first.IsZero() || !first.Before(since)) {
		n, _, err2 := w.replayAuditFile(filepath.Join(dir, "audit.jsonl.1"), since)
		applied += n
		err = err2
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Error("audit log not read for the passages since the site state's last save: a crash just before may have lost some of this gate's own", "err", err)
	}
	if applied > 0 {
		w.log.Info("this gate's own records since the site state's last save applied again", "records", applied, "since", since.UTC().Format(time.RFC3339))
	}
}

// replayAuditFile applies path's decisions and relay results of this
// gate at or after since; first is the earliest time of a record read
// (zero when none). A line that is not a record (torn by a crash) is
// skipped.
func (w *siteWire) replayAuditFile(path string, since time.Time) (applied int, first time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var head struct {
			Kind string `json:"kind"`
			TS   string `json:"ts"`
			Gate string `json:"gate"`
			Site string `json:"site"`
		}
		line := sc.Bytes()
		if json.Unmarshal(line, &head) != nil || (head.Kind != "" && head.Kind != record.PulseKind) {
			continue
		}
		at, perr := time.Parse(time.RFC3339Nano, head.TS)
		if perr != nil {
			continue
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.Before(since) || head.Gate != w.cfg.Gate || head.Site != w.cfg.Site {
			continue
		}
		if head.Kind == record.PulseKind {
			var r record.PulseResult
			if json.Unmarshal(line, &r) == nil {
				w.RecordRelay(r)
				applied++
			}
			continue
		}
		var ev record.Event
		if json.Unmarshal(line, &ev) == nil && ev.Decision == record.DecisionGranted {
			w.Record(ev)
			applied++
		}
	}
	return applied, first, sc.Err()
}
