package kiosk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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

// sequencer numbers events: Seq persisted in the state directory (written
// before the event leaves), EventID a UUIDv7 (time-ordered, 74 random bits)
// so that ids stay unique even if the seq file were lost.
type sequencer struct {
	mu   sync.Mutex
	path string
	seq  uint64
}

func openSequencer(dir string) (*sequencer, error) {
	s := &sequencer{path: filepath.Join(dir, "seq")}
	b, err := os.ReadFile(s.path)
	switch {
	case os.IsNotExist(err):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read event sequence: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("event sequence file %s is corrupt (%q): fix or delete it: %w", s.path, clip(string(b)), err)
	}
	if n >= maxSeq {
		return nil, fmt.Errorf("event sequence file %s holds %d, beyond %d: fix or delete it", s.path, n, maxSeq-1)
	}
	s.seq = n
	return s, nil
}

// maxSeq bounds sequence numbers: an event's seq is a JSON number, exact in
// JavaScript and other float64 readers only below 2^53. No gate makes that
// many events; a file or an audit line beyond it is damaged.
const maxSeq = 1<<53 - 1

// next returns the next sequence number and a new event id. The number is
// written (fsynced, atomically renamed) first; on a write error the number
// is still used and the error returned for an alert.
func (s *sequencer) next(now time.Time) (uint64, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	data := []byte(strconv.FormatUint(s.seq, 10) + "\n")
	err := writeFileAtomic(s.path, data)
	if err != nil && diskFull(err) {
		// A full file system (or one out of inodes) cannot take the new
		// file the atomic replace needs, but the file's own block can take
		// the number: without it, a number used now (the decision goes
		// out on MQTT from an outbox elsewhere) would be used again after
		// a restart.
		if werr := overwriteInPlace(s.path, data); werr == nil {
			err = nil
		} else {
			err = errors.Join(err, werr)
		}
	}
	return s.seq, newUUIDv7(now), err
}

// overwriteInPlace writes data over the start of the existing file at
// path and syncs it: no new file and no new block (a number only grows,
// and its few bytes stay in the block the file has).
func overwriteInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|noFollow, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// atLeast makes the next number follow n (a number the audit log holds
// that the file missed); n at or beyond maxSeq is refused.
func (s *sequencer) atLeast(n uint64) error {
	if n >= maxSeq {
		return fmt.Errorf("sequence number %d beyond %d", n, maxSeq-1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = max(s.seq, n)
	return nil
}

// writeFileAtomic replaces a small state file durably (atomicfile.Write:
// synced, renamed, its folder synced).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o640)
}

// newUUIDv7 is RFC 9562's version 7: 48 bits of Unix milliseconds, then
// random bits.
func newUUIDv7(now time.Time) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(u[6:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on Linux ≥ 3.17
	}
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
