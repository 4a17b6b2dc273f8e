package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/internal/regularfile"
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
	// The current file, and the one before when the current one was read
	// from its start and starts after since (rotated since the save), or
	// is missing: a kill inside a rotation leaves audit.jsonl renamed to
	// .1 and no new one yet (found by a red-team pass).
	cur, err := w.replayAuditFile(filepath.Join(dir, "audit.jsonl"), since, siteReplayBudget)
	if errors.Is(err, os.ErrNotExist) {
		cur, err = replayRead{whole: true}, nil
	}
	applied := cur.applied
	if err == nil && cur.whole && (cur.first.IsZero() || !cur.first.Before(since)) && cur.read < siteReplayBudget {
		prev, err2 := w.replayAuditFile(filepath.Join(dir, "audit.jsonl.1"), since, siteReplayBudget-cur.read)
		applied += prev.applied
		err = err2
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Error("audit log not read for the passages since the site state's last save: a crash just before may have lost some of this gate's own", "err", err)
	}
	if applied > 0 {
		w.log.Info("this gate's own records since the site state's last save applied again", "records", applied, "since", since.UTC().Format(time.RFC3339))
	}
}

// siteReplayBudget bounds the audit bytes replayOwnRecords reads at a
// start: audit.max_size_mb may be up to 1024, and two such files read
// whole (no state file, or a clock stepped back) would hold the start
// past systemd's start timeout on a Pi. Only a crash before the first
// save of a gate with a long audit history loses passages to it.
const siteReplayBudget = 64 << 20

// replayRead is what replayAuditFile read: the records applied, the
// earliest time read (zero when none), the bytes read, and whether the
// file was read from its start.
type replayRead struct {
	applied int
	first   time.Time
	read    int64
	whole   bool
}

// replayAuditFile applies path's decisions and relay results of this
// gate and site at or after since, reading at most budget bytes from the
// file's end (from a line before since when since is set). A line that
// is not a record (torn by a crash) is skipped.
func (w *siteWire) replayAuditFile(path string, since time.Time, budget int64) (replayRead, error) {
	// Without blocking, a regular file only: a FIFO in its place hung the
	// start here (found by a red-team pass).
	f, st, err := regularfile.Open(path)
	if err != nil {
		return replayRead{}, err
	}
	defer f.Close()
	off := replayStart(f, st.Size(), since, budget)
	r := replayRead{read: st.Size() - off, whole: off == 0}
	sc := bufio.NewScanner(io.NewSectionReader(f, off, st.Size()-off))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if off > 0 {
		sc.Scan() // the rest of a line cut by the window
	}
	for sc.Scan() {
		line := sc.Bytes()
		at, ok := w.ownRecordTime(line)
		if at.IsZero() {
			continue
		}
		if r.first.IsZero() || at.Before(r.first) {
			r.first = at
		}
		if !ok || at.Before(since) {
			continue
		}
		if w.applyOwnRecord(line) {
			r.applied++
		}
	}
	return r, sc.Err()
}

// replayStart is the offset replayAuditFile reads from: a window from
// the end, grown until its first record is older than since, or the
// budget (or the file) is used up.
func replayStart(f *os.File, size int64, since time.Time, budget int64) int64 {
	limit := min(size, budget)
	if since.IsZero() {
		return size - limit
	}
	for win := min(int64(256<<10), limit); ; win = min(win*4, limit) {
		off := size - win
		if off == 0 || win == limit {
			return off
		}
		if at, ok := firstRecordTime(f, off); ok && at.Before(since) {
			return off
		}
	}
}

// firstRecordTime is the time of the first whole audit line after off.
func firstRecordTime(f *os.File, off int64) (time.Time, bool) {
	sc := bufio.NewScanner(io.NewSectionReader(f, off, 1<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Scan() // cut by off
	for sc.Scan() {
		var head struct {
			TS string `json:"ts"`
		}
		if json.Unmarshal(sc.Bytes(), &head) != nil {
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, head.TS); err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}

// ownRecordTime is the time of an audit line that is a decision or a
// relay result (zero otherwise), and whether it is this gate's and
// site's.
func (w *siteWire) ownRecordTime(line []byte) (time.Time, bool) {
	var head struct {
		Kind string `json:"kind"`
		TS   string `json:"ts"`
		Gate string `json:"gate"`
		Site string `json:"site"`
	}
	if json.Unmarshal(line, &head) != nil || (head.Kind != "" && head.Kind != record.PulseKind) {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, head.TS)
	if err != nil {
		return time.Time{}, false
	}
	return at, head.Gate == w.cfg.Gate && head.Site == w.cfg.Site
}

// applyOwnRecord applies a decision or relay result line to the presence
// as the kiosk did (Record, RecordRelay); false when it is neither a
// grant nor a relay result.
func (w *siteWire) applyOwnRecord(line []byte) bool {
	var r record.PulseResult
	if json.Unmarshal(line, &r) == nil && r.Kind == record.PulseKind {
		w.RecordRelay(r)
		return true
	}
	var ev record.Event
	if json.Unmarshal(line, &ev) == nil && ev.Decision == record.DecisionGranted {
		w.Record(ev)
		return true
	}
	return false
}
