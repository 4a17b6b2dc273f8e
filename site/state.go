package site

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/facegate/facegate/internal/atomicfile"
	"github.com/facegate/facegate/internal/jsonobj"
)

// StateFormat heads the state file: the snapshot with its checksum.
const StateFormat = "facegate-site-state"

type stateFile struct {
	Format   string          `json:"format"`
	Version  int             `json:"version"`
	SHA256   string          `json:"sha256"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// encodeState wraps a snapshot with its checksum.
func encodeState(snap []byte) []byte {
	sum := sha256.Sum256(snap)
	b, err := json.Marshal(stateFile{Format: StateFormat, Version: 1, SHA256: hex.EncodeToString(sum[:]), Snapshot: snap})
	if err != nil {
		panic(fmt.Sprintf("site: encoding the state file: %v", err)) // snap is valid JSON
	}
	return append(b, '\n')
}

// maxStateBytes bounds the state file's snapshot. It is this gate's own
// whole site (every person tracked, written by Save, checksummed), not a
// peer's share: a peer's limit (maxSnapshotBytes, about 29,000 persons of
// two facts) made a large site's own file refused at the next start, which
// then began empty and set the file aside at every restart.
const maxStateBytes = 512 << 20

// decodeState checks a state file and decodes its snapshot.
func decodeState(b []byte) (*decoded, error) {
	var s stateFile
	if err := jsonobj.Decode(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if s.Format != StateFormat || s.Version != 1 {
		return nil, fmt.Errorf("%w: format %q version %d, want %q version 1", ErrCorruptState, s.Format, s.Version, StateFormat)
	}
	sum := sha256.Sum256(s.Snapshot)
	if hex.EncodeToString(sum[:]) != s.SHA256 {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptState)
	}
	d, err := decodeSnapshotMax(s.Snapshot, maxStateBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return d, nil
}

// load reads the state file; a missing file is an empty presence, a corrupt
// one is moved aside (StateProblem). Only an unreadable file fails.
func (p *Presence) load() error {
	path := p.opts.StatePath
	// A Save a crash cut short left its temporary file (the daemon holds
	// the state directory's lock: no Save is running).
	if n, err := atomicfile.RemoveTemps(path); err != nil {
		p.log.Warn("leftover temporary site state file not removed", "err", err)
	} else if n > 0 {
		p.log.Info("leftover temporary site state files removed", "count", n)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("site: reading the state file: %w", err)
	}
	if err := p.loadBytes(b); err != nil {
		if aside, rerr := atomicfile.SetAside(path, p.now()); rerr != nil {
			p.problem = fmt.Errorf("%s: %w; moving it aside failed: %v", path, err, rerr)
		} else {
			p.problem = fmt.Errorf("%s: %w; kept as %s, started empty", path, err, aside)
		}
		p.log.Error("site state file corrupt", "path", path, "err", p.problem)
		return nil
	}
	return nil
}

// loadBytes joins a state file's content into an empty presence.
func (p *Presence) loadBytes(b []byte) error {
	d, err := decodeState(b)
	if err != nil {
		return err
	}
	if d.site != "" && p.opts.Site != "" && d.site != p.opts.Site {
		return fmt.Errorf("%w: the file is of site %q, this is site %q", ErrCorruptState, d.site, p.opts.Site)
	}
	p.mu.Lock()
	t := p.begin()
	t.join(d)
	t.commit()
	p.dirty = false
	p.mu.Unlock()
	return nil
}

// Save writes the state file atomically (temporary file, fsync, rename,
// fsync of the directory) with a checksum. Without a StatePath it does
// nothing. Run calls it; call it on shutdown otherwise.
func (p *Presence) Save() error {
	if p.opts.StatePath == "" {
		return nil
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.mu.Lock()
	s := p.collect(func(fact) bool { return true })
	p.dirty = false
	p.mu.Unlock()
	if err := writeAtomic(p.opts.StatePath, encodeState(s.marshal())); err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
		return err
	}
	return nil
}

// Dirty reports whether the presence changed since it was last saved or
// loaded.
func (p *Presence) Dirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty
}

func writeAtomic(path string, b []byte) error {
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("site: saving the state file: %w", err)
	}
	return nil
}

// Run does the periodic work until ctx ends: every interval (a minute when
// 0) Tick (daily reset, tombstones) and Save when dirty; a last Save when
// ctx ends, whose error it returns. Save errors on the way are logged, and
// the first of a run goes to Options.SaveFailed.
func (p *Presence) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = time.Minute
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			if p.Dirty() {
				return p.Save()
			}
			return nil
		case <-tk.C:
			p.Tick(p.now())
			if p.Dirty() {
				err := p.Save()
				if err != nil {
					p.log.Error("site state not saved", "err", err)
					if !failing && p.opts.SaveFailed != nil {
						p.opts.SaveFailed(err)
					}
				}
				failing = err != nil
			}
		}
	}
}
