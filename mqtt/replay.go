package mqtt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/internal/atomicfile"
)

// replayMemory is the durable memory of accepted cmd/open commands. It
// makes "a captured command never opens twice" hold across restarts and
// whatever the clock says, using only the timestamps of accepted commands:
//
//   - Last is the newest accepted ts; Floor (never lower than Last-skew
//     and never decreasing) is the oldest ts still accepted.
//   - Nonces holds every accepted nonce whose ts >= Floor.
//
// A command already accepted has ts <= Last: either ts < Floor (refused by
// age) or its nonce is held (refused as a replay). Floor is moved by
// accepted timestamps only, never by the clock, so a clock set back (a
// Raspberry Pi without RTC booting on its last saved time) cannot let an
// old command through, and a clock far ahead cannot make the gate forget
// nonces.
//
// The file is written (temporary file, fsync, rename, fsync of the
// directory) before a command is accepted. It is not safe for concurrent
// use: OpenVerifier holds its lock around every call.
type replayMemory struct {
	path string
	// write replaces the file durably; tests replace it to fail.
	write func(path string, data []byte) error
	// broken is why the file could not be read at start: every open is
	// refused until a person repairs it (see docs/mqtt.md).
	broken error
	// failed is the last write error, cleared by the next good write.
	failed error
	st     replayState
}

// replayState is the file's content.
type replayState struct {
	Version int              `json:"version"`
	Floor   int64            `json:"floor"`  // Unix seconds: ts below are refused
	Last    int64            `json:"last"`   // Unix seconds: newest accepted ts (0: none yet)
	Nonces  map[string]int64 `json:"nonces"` // accepted nonce → its ts, all >= Floor
	// Refused holds the nonces of signed commands refused as stale, with
	// their ts (>= Floor; at most maxRefused): such a command must not
	// be accepted later, when a clock that was behind reaches its ts or a
	// clock set back on a reboot comes near it again.
	Refused map[string]int64 `json:"refused,omitempty"`
}

// maxRefused bounds the stale refusals remembered; past it the one
// furthest from the gate's reference time goes first (the last one the
// clock could reach).
const maxRefused = 1024

// ReplayFileName is the name of the remote open's replay memory
// (OpenOptions.ReplayPath) in the state directory.
const ReplayFileName = "mqtt-open-replay.json"

const (
	replayVersion = 1
	// maxTS bounds timestamps (year 36812): larger ones are not Unix seconds.
	maxTS = 1 << 40
)

// openReplayMemory reads the file at path. A missing file starts a new
// memory whose Floor is now: nothing issued before the first start is
// accepted (a previous version kept no file). An unreadable or
// inconsistent file leaves the memory broken: it refuses everything.
//
// write replaces the file durably (writeFileDurably; tests may pass a
// faster or failing one).
func openReplayMemory(path string, now time.Time, write func(path string, data []byte) error) *replayMemory {
	m := &replayMemory{path: path, write: write}
	// Temporary files of writes cut short by a crash (the daemon holds the
	// state directory's lock: no write is running).
	if tmps, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")); err == nil {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		m.st = replayState{Version: replayVersion, Floor: max(now.Unix(), 1), Nonces: map[string]int64{}}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			m.failed = fmt.Errorf("create the directory of %s: %w", path, err)
			return m
		}
		m.failed = m.save()
		return m
	case err != nil:
		m.broken = fmt.Errorf("read %s: %w", path, err)
		return m
	}
	if m.st, err = decodeReplayState(b); err != nil {
		m.broken = fmt.Errorf("%s is corrupt: %w", path, err)
	}
	return m
}

// problem is why opens are refused (broken file) or fail (last write), or nil.
func (m *replayMemory) problem() error {
	if m.broken != nil {
		return m.broken
	}
	return m.failed
}

// check refuses ts below Floor, a nonce already accepted, and a full
// memory. It changes nothing.
func (m *replayMemory) check(ts int64, nonce string) error {
	if m.broken != nil {
		return fmt.Errorf("%w: %w", ErrReplayMemory, m.broken)
	}
	if ts < m.st.Floor {
		return fmt.Errorf("%w: ts %d is before %d, the oldest the gate accepts (max_skew before the newest accepted command, or the first start); send the current time", ErrStale, ts, m.st.Floor)
	}
	if _, ok := m.st.Nonces[nonce]; ok {
		return fmt.Errorf("%w: nonce %s", ErrReplayed, nonce)
	}
	if _, ok := m.st.Refused[nonce]; ok {
		return fmt.Errorf("%w: nonce %s was refused before as stale (a command is never accepted later)", ErrReplayed, nonce)
	}
	if len(m.st.Nonces) >= maxNonces && ts <= m.oldest() {
		// accept makes room by refusing the oldest ts from now on, which
		// would refuse this one too.
		return fmt.Errorf("%w: %d commands remembered, none older than ts %d", ErrTooMany, len(m.st.Nonces), ts)
	}
	return nil
}

// oldest is the smallest ts among the held nonces.
func (m *replayMemory) oldest() int64 {
	o := int64(maxTS)
	for _, t := range m.st.Nonces {
		o = min(o, t)
	}
	return o
}

// accept records a command that passed check and saves the file. On a
// write error the command must be refused; it stays recorded in memory
// (refused, it can only be safer to treat its nonce as used).
func (m *replayMemory) accept(ts int64, nonce string, skew time.Duration) error {
	if len(m.st.Nonces) >= maxNonces {
		// Full: the oldest nonces go and their ts becomes too old, which
		// keeps every forgotten command refused (check made sure that this
		// one is newer).
		m.st.Floor = max(m.st.Floor, m.oldest()+1)
	}
	m.st.Nonces[nonce] = ts
	m.st.Last = max(m.st.Last, ts)
	m.st.Floor = max(m.st.Floor, m.st.Last-int64(skew/time.Second))
	for n, t := range m.st.Nonces {
		if t < m.st.Floor {
			delete(m.st.Nonces, n)
		}
	}
	m.pruneRefused()
	m.failed = m.save()
	if m.failed != nil {
		return fmt.Errorf("%w: %w", ErrReplayMemory, m.failed)
	}
	return nil
}

// refuse remembers a signed command refused as stale (its ts outside the
// window around ref, the gate's reference time) and saves the file. One
// older than Floor needs no memory: it is refused by age forever. A
// write error is returned and kept for problem, as an accepted command's;
// the command is refused anyway.
func (m *replayMemory) refuse(ts int64, nonce string, ref time.Time) error {
	if m.broken != nil || ts < m.st.Floor {
		return nil
	}
	if _, ok := m.st.Nonces[nonce]; ok {
		return nil
	}
	if _, ok := m.st.Refused[nonce]; ok {
		return nil
	}
	if m.st.Refused == nil {
		m.st.Refused = map[string]int64{}
	}
	m.st.Refused[nonce] = ts
	if len(m.st.Refused) > maxRefused {
		far, farDist := "", int64(-1)
		for n, t := range m.st.Refused {
			d := t - ref.Unix()
			if d < 0 {
				d = -d
			}
			if d > farDist || (d == farDist && n < far) {
				far, farDist = n, d
			}
		}
		delete(m.st.Refused, far)
	}
	m.failed = m.save()
	return m.failed
}

// pruneRefused forgets the stale refusals older than Floor: refused by age.
func (m *replayMemory) pruneRefused() {
	for n, t := range m.st.Refused {
		if t < m.st.Floor {
			delete(m.st.Refused, n)
		}
	}
}

// last is the newest accepted ts (zero time when none).
func (m *replayMemory) last() time.Time {
	if m.st.Last == 0 {
		return time.Time{}
	}
	return time.Unix(m.st.Last, 0)
}

// save writes the state: its JSON, then a line with its SHA-256, so that a
// damaged file is refused rather than read as a lower Floor.
func (m *replayMemory) save() error {
	b, err := json.Marshal(m.st)
	if err != nil {
		return fmt.Errorf("encode replay memory: %w", err)
	}
	sum := sha256.Sum256(b)
	b = append(b, "\nsha256:"+hex.EncodeToString(sum[:])+"\n"...)
	if err := m.write(m.path, b); err != nil {
		return fmt.Errorf("write %s: %w", m.path, err)
	}
	return nil
}

func decodeReplayState(b []byte) (replayState, error) {
	var st replayState
	body, sumLine, ok := bytes.Cut(b, []byte("\nsha256:"))
	if !ok {
		return st, errors.New("no checksum line")
	}
	want, err := hex.DecodeString(string(bytes.TrimSuffix(sumLine, []byte("\n"))))
	if sum := sha256.Sum256(body); err != nil || !bytes.Equal(want, sum[:]) {
		return st, errors.New("checksum mismatch")
	}
	if err := decodeStrict(body, &st); err != nil {
		return st, err
	}
	switch {
	case st.Version != replayVersion:
		return st, fmt.Errorf("version %d, want %d", st.Version, replayVersion)
	case st.Floor <= 0 || st.Floor > maxTS || st.Last < 0 || st.Last > maxTS:
		return st, fmt.Errorf("floor %d or last %d out of range", st.Floor, st.Last)
	case len(st.Nonces) > maxNonces:
		return st, fmt.Errorf("%d nonces, more than %d", len(st.Nonces), maxNonces)
	}
	if st.Nonces == nil {
		st.Nonces = map[string]int64{}
	}
	for n, ts := range st.Nonces {
		if !validNonce(n) || ts < st.Floor || ts > st.Last {
			return st, fmt.Errorf("nonce %q with ts %d outside %d..%d", n, ts, st.Floor, st.Last)
		}
	}
	if len(st.Refused) > maxRefused {
		return st, fmt.Errorf("%d stale refusals, more than %d", len(st.Refused), maxRefused)
	}
	for n, ts := range st.Refused {
		if !validNonce(n) || ts < 0 || ts > maxTS {
			return st, fmt.Errorf("refused nonce %q with ts %d out of range", n, ts)
		}
	}
	return st, nil
}

// writeFileDurably replaces the replay memory file: the old or the new
// content after a crash, the new one once it returns.
func writeFileDurably(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o640)
}
