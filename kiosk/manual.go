package kiosk

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/internal/owndir"
	"github.com/facegate/facegate/record"
)

// manualRelayKind is the "kind" of the audit records of a relay pulsed by
// hand (facegate relay pulse): an opening outside the daemon is recorded
// like any other.
const manualRelayKind = "relay_manual"

// manualRelayRecord is that audit line: one before the line moves
// (Phase "start"), one once it is inactive again or failed ("end").
type manualRelayRecord struct {
	Kind  string `json:"kind"`  // manualRelayKind
	Phase string `json:"phase"` // "start" or "end"
	// ID pairs a pulse's start and end (since 2026-12-08).
	ID         string `json:"id,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Relay is how the pulse went (record.RelayPulsed, RelayCut,
	// RelayNotEnergised, RelayFault); on "end" only.
	Relay string `json:"relay,omitempty"`
	Error string `json:"error,omitempty"`
	By    string `json:"by"` // the operating system's user who ran it
	// Started is the start's ts, on an end written for a pulse whose
	// process died (Relay "interrupted") by whichever ran next.
	Started string `json:"started,omitempty"`
	TS      string `json:"ts"`
	Site    string `json:"site"`
	Gate    string `json:"gate"`
}

// ManualAudit writes the audit records of a relay pulsed by hand to the
// audit log of a state directory. It does not take the state directory's
// lock: `facegate relay pulse` runs while the daemon holds its relay line
// only with another line or driver, and then both append to the file
// (each line under an flock, so a failed write cuts back only its own
// bytes and a torn tail of the other's gets its newline).
// Each record is fsynced before its method returns: the line moves only
// after Start succeeded.
type ManualAudit struct {
	log              *auditLog
	id               string
	mark             *os.File // locked while the pulse runs (manualmark.go)
	markName         string
	state            string
	dirDone          func() error // closes owndir.Open's folder
	site, gate, by   string
	now              func() time.Time
	duration         time.Duration
	started, stopped bool
}

// OpenManualAudit opens the audit log of o.StateDir (o.Audit's rotation)
// for a pulse run by user by.
func OpenManualAudit(o Options, by string, now func() time.Time) (*ManualAudit, error) {
	if o.StateDir == "" {
		return nil, errors.New("kiosk: Options.StateDir is required")
	}
	if now == nil {
		now = time.Now
	}
	// Run as root, in a folder the daemon's user may have made a symlink.
	dir, dirDone, err := owndir.Open(filepath.Join(o.StateDir, "audit"))
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	log, err := openAudit(dir, int64(o.Audit.MaxSizeMB)<<20, o.Audit.MaxFiles)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("audit log: %w", err), dirDone())
	}
	return &ManualAudit{log: log, state: o.StateDir, dirDone: dirDone, site: o.Site, gate: o.Gate, by: clip(by), now: now,
		id: rand.Text()[:16]}, nil
}

// manualMark is the content of a pulse's mark (manualmark.go): what the
// end record written for it repeats.
type manualMark struct {
	ID         string `json:"id"`
	DurationMS int64  `json:"duration_ms"`
	By         string `json:"by"`
	TS         string `json:"ts"` // the pulse's start
}

// Interrupted records the end of the pulses by hand whose process died
// without writing it (kill -9, a power cut) and returns them, for the
// command to say so. Call it before Start.
func (m *ManualAudit) Interrupted() ([]ManualPulse, error) {
	recs, err := recordDeadManualPulses(m.log, m.now(), m.site, m.gate)
	return manualPulses(recs), err
}

// ManualPulse is a pulse by hand whose end was recorded as interrupted.
type ManualPulse struct {
	By, Started string
}

func manualPulses(recs []manualRelayRecord) []ManualPulse {
	var out []ManualPulse
	for _, r := range recs {
		out = append(out, ManualPulse{By: r.By, Started: r.Started})
	}
	return out
}

// Start records the pulse of d about to begin. Its mark, locked while
// this process lives, is written first: a kill after the record leaves
// the mark for the next start to end the pulse.
func (m *ManualAudit) Start(d time.Duration) error {
	m.duration = d
	ts := record.Timestamp(m.now())
	f, name, err := writeManualMark(m.log.dir, manualMark{ID: m.id, DurationMS: d.Milliseconds(), By: m.by, TS: ts}, m.log.ops.syncDir)
	if err != nil {
		return fmt.Errorf("record the pulse before it starts: %w", err)
	}
	m.mark, m.markName = f, name
	// Run as root, the mark goes to the state directory's owner now, not
	// at Close: the daemon (its own user) must be able to take its lock
	// once this process is killed. A failure here is reported by Close.
	_ = matchOwner(m.state, m.log.dir)
	if err := m.log.write(manualRelayRecord{Kind: manualRelayKind, Phase: "start", ID: m.id, DurationMS: d.Milliseconds(),
		By: m.by, TS: ts, Site: m.site, Gate: m.gate}); err != nil {
		m.dropMark()
		return fmt.Errorf("record the pulse before it starts: %w", err)
	}
	m.started = true
	return nil
}

// dropMark removes the pulse's mark and lets its lock go.
func (m *ManualAudit) dropMark() {
	if m.mark == nil {
		return
	}
	os.Remove(m.markName)
	m.mark.Close()
	m.mark = nil
}

// End records how the pulse went: relay is a record.Relay* value, err
// the pulse's error (nil when it ran its course).
func (m *ManualAudit) End(relay string, err error) error {
	if !m.started || m.stopped {
		return nil
	}
	m.stopped = true
	rec := manualRelayRecord{Kind: manualRelayKind, Phase: "end", ID: m.id, DurationMS: m.duration.Milliseconds(), Relay: relay,
		By: m.by, TS: record.Timestamp(m.now()), Site: m.site, Gate: m.gate}
	if err != nil {
		rec.Error = clip(err.Error())
	}
	if werr := m.log.write(rec); werr != nil {
		// The mark stays: once this process is gone, the next start
		// records the end as interrupted.
		return fmt.Errorf("record the end of the pulse: %w", werr)
	}
	m.dropMark()
	return nil
}

// Close closes the audit log and, run as root, gives the files it may
// have created the state directory's owner (the daemon's user).
func (m *ManualAudit) Close() error {
	err := errors.Join(m.log.close(), matchOwner(m.state, m.log.dir), m.dirDone())
	if m.mark != nil {
		m.mark.Close() // kept, unlocked: the end was not recorded
	}
	return err
}

// recoverManualPulses records the end of each pulse by hand whose process
// died without writing it, and alerts: New calls it, and the self-test
// (a pulse killed while the daemon runs beside it).
func (k *Kiosk) recoverManualPulses() {
	recs, err := recordDeadManualPulses(k.audit, k.now(), k.site, k.gate)
	if err != nil {
		k.log.Error("the end of an interrupted pulse by hand not recorded: trying again at the next self-test", "err", err)
	}
	for _, r := range recs {
		k.alert(AlertRelayInterrupted, fmt.Sprintf("a relay pulse by hand (by %s, started %s) ended without recording its end (killed, or a power cut): recorded as interrupted; its line was released when its process died", r.By, r.Started), "")
	}
}
