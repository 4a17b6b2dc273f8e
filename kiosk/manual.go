package kiosk

import (
	"errors"
	"fmt"
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
	Kind       string `json:"kind"`  // manualRelayKind
	Phase      string `json:"phase"` // "start" or "end"
	DurationMS int64  `json:"duration_ms"`
	// Relay is how the pulse went (record.RelayPulsed, RelayCut,
	// RelayNotEnergised, RelayFault); on "end" only.
	Relay string `json:"relay,omitempty"`
	Error string `json:"error,omitempty"`
	By    string `json:"by"` // the operating system's user who ran it
	TS    string `json:"ts"`
	Site  string `json:"site"`
	Gate  string `json:"gate"`
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
	return &ManualAudit{log: log, state: o.StateDir, dirDone: dirDone, site: o.Site, gate: o.Gate, by: clip(by), now: now}, nil
}

// Start records the pulse of d about to begin.
func (m *ManualAudit) Start(d time.Duration) error {
	m.duration = d
	if err := m.log.write(manualRelayRecord{Kind: manualRelayKind, Phase: "start", DurationMS: d.Milliseconds(),
		By: m.by, TS: record.Timestamp(m.now()), Site: m.site, Gate: m.gate}); err != nil {
		return fmt.Errorf("record the pulse before it starts: %w", err)
	}
	m.started = true
	return nil
}

// End records how the pulse went: relay is a record.Relay* value, err
// the pulse's error (nil when it ran its course).
func (m *ManualAudit) End(relay string, err error) error {
	if !m.started || m.stopped {
		return nil
	}
	m.stopped = true
	rec := manualRelayRecord{Kind: manualRelayKind, Phase: "end", DurationMS: m.duration.Milliseconds(), Relay: relay,
		By: m.by, TS: record.Timestamp(m.now()), Site: m.site, Gate: m.gate}
	if err != nil {
		rec.Error = clip(err.Error())
	}
	if werr := m.log.write(rec); werr != nil {
		return fmt.Errorf("record the end of the pulse: %w", werr)
	}
	return nil
}

// Close closes the audit log and, run as root, gives the files it may
// have created the state directory's owner (the daemon's user).
func (m *ManualAudit) Close() error {
	return errors.Join(m.log.close(), matchOwner(m.state, m.log.dir), m.dirDone())
}
