// Package outbox is a durable, bounded, append-only on-disk FIFO queue.
//
// Append writes a record and fsyncs before it returns, so a record that was
// appended survives kill -9 and power loss. Ack marks a record delivered; acks
// are appended too but not fsynced on their own (a lost ack only means the
// record is delivered again: at least once). The file is compacted when
// delivered records dominate it, and truncated when the queue is empty, so it
// does not grow forever.
//
// Record layout, little endian:
//
//	u32 body length | u32 CRC-32C of body | body
//	body = u8 kind ('P' put, 'A' ack) | u64 id | payload (put only)
//
// Open resynchronises on this framing: where no intact record starts (a
// flipped bit, a zeroed sector, a torn write) it steps forward one byte at a
// time until one does, so damage costs only the records it touches. The
// damaged bytes are copied to <path>.corrupt-<unix>[-N] for inspection and
// then removed from the file; Recovery says how many records were lost.
// Files written before resynchronisation existed have the same layout.
//
// Durability contract: Append returns nil only once the record is written
// and fsynced (unless Options.NoSync). Any failure (ENOSPC, EIO, a failed
// fsync, a closed queue) returns an error and the record is not in the
// queue: never a false success.
//
// An Outbox is safe for concurrent use.
package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Errors returned by the outbox.
var (
	// ErrFull: the record would exceed MaxRecords or MaxBytes; it was not stored.
	ErrFull = errors.New("outbox full")
	// ErrTooLarge: the payload exceeds MaxPayload.
	ErrTooLarge = errors.New("outbox record too large")
	// ErrClosed: the outbox was closed.
	ErrClosed = errors.New("outbox closed")
	// ErrLocked: another process has the queue open.
	ErrLocked = errors.New("outbox in use by another process")
)

const (
	headerSize  = 8
	bodyHdrSize = 9
	kindPut     = 'P'
	kindAck     = 'A'
	// MaxPayload is the largest payload Append accepts.
	MaxPayload = 1 << 20
	// compactMinDead is the dead byte count below which compaction is not worth it.
	compactMinDead = 4 << 20
)

// fileOps are the calls that fail on a full or broken disk; tests replace
// them to inject faults.
type fileOps struct {
	writeAt  func(f *os.File, b []byte, off int64) (int, error)
	truncate func(f *os.File, size int64) error
	sync     func(f *os.File) error
	rename   func(from, to string) error
	syncDir  func(dir string) error
}

var osOps = fileOps{
	writeAt:  func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) },
	truncate: func(f *os.File, size int64) error { return f.Truncate(size) },
	sync:     func(f *os.File) error { return f.Sync() },
	rename:   os.Rename,
	syncDir:  syncDir,
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options bound the queue.
type Options struct {
	// MaxRecords is the most undelivered records (default 100,000).
	MaxRecords int
	// MaxBytes is the most undelivered payload bytes (default 256 MiB).
	MaxBytes int64
	// NoSync skips fsync: only for benchmarks of everything else.
	NoSync bool
}

// Record is one undelivered payload.
type Record struct {
	// ID is the outbox's own sequence number, increasing in append order.
	ID      uint64
	Payload []byte
}

type entry struct {
	id    uint64
	off   int64 // of the payload in the file
	n     int32 // payload length
	acked bool
}

// Outbox is the queue. The zero value is not usable: call Open.
type Outbox struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	lock     *os.File // <path>.lock, held while open
	size     int64    // bytes in the file
	entries  []entry
	head     int // entries[:head] are all acked
	live     int
	liveSize int64 // payload bytes of live records
	nextID   uint64
	opts     Options
	closed   bool
	notify   chan struct{}
	ops      fileOps
	// skipped counts records recover ignored because their id was out of order.
	skipped int
	// compactMin is the dead byte count that makes compaction worth it.
	compactMin int64
	// compactRetryAt is the file size before which a failed compaction is
	// not retried, so a full disk is not rewritten on every ack.
	compactRetryAt int64
	// compactErr is the last compaction failure not yet taken by CompactError.
	compactErr error
	// recovery is what Open found wrong in the file.
	recovery Recovery
}

// Recovery is what Open found wrong in the file and what it did about it.
type Recovery struct {
	// Lost estimates the records destroyed by damage (at least one per
	// damaged place; an unfinished last record is not counted). A lost put
	// is an event that will never be sent; a lost ack only means an event
	// is sent again. Anything above zero needs an operator.
	Lost int
	// Torn: the file ended in an unfinished record, an Append cut short by
	// a crash or power loss that never returned success. Nothing is lost.
	Torn bool
	// DamagedBytes is the number of bytes skipped in Places places;
	// Regions lists the first 16 (offsets in the file as found).
	DamagedBytes int64
	Places       int
	Regions      []Region
	// SavedTo names the file that holds the skipped bytes back to back, or
	// is empty when they could not be saved.
	SavedTo string
	// Err says what could not be repaired (a full disk): the damaged bytes
	// stay in the queue file, the queue works around them, and the next
	// Open finds and reports them again.
	Err error
}

// Region is a range of bytes of the queue file.
type Region struct {
	Off, Len int64
}

// Damaged reports whether records were lost or a repair failed: the
// condition for an operator alert.
func (r Recovery) Damaged() bool { return r.Lost > 0 || r.Err != nil }

// String describes the recovery for a log line or an alert.
func (r Recovery) String() string {
	if r.DamagedBytes == 0 {
		return "no damage"
	}
	s := fmt.Sprintf("%d records lost, %d damaged bytes in %d places", r.Lost, r.DamagedBytes, r.Places)
	if r.Torn {
		s += ", unfinished last record removed"
	}
	if r.SavedTo != "" {
		s += ", saved to " + r.SavedTo
	}
	if r.Err != nil {
		s += ", not repaired: " + r.Err.Error()
	}
	return s
}

// Open opens or creates the queue file at path, recovering its records.
// Damage in the file is not an error (see Recovery): it fails only when the
// directory, the lock or the file cannot be opened, or the file cannot be
// read.
func Open(path string, opts Options) (*Outbox, error) {
	return openWith(path, opts, osOps)
}

func openWith(path string, opts Options, ops fileOps) (*Outbox, error) {
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 100000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("outbox: create directory: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", path, err)
	}
	o := &Outbox{path: path, f: f, lock: lock, opts: opts, nextID: 1, notify: make(chan struct{}, 1), ops: ops, compactMin: compactMinDead}
	if os.IsNotExist(statErr) && !opts.NoSync {
		// A new file's directory entry must be durable too.
		if err := o.ops.syncDir(filepath.Dir(path)); err != nil {
			o.closeFiles()
			return nil, fmt.Errorf("outbox: sync directory: %w", err)
		}
	}
	if err := o.recover(); err != nil {
		o.closeFiles()
		return nil, err
	}
	return o, nil
}

// recover scans the file, rebuilds the index and repairs damage (see
// Recovery). Only an unreadable file is an error: damage that cannot be
// saved aside or removed (a full disk) leaves a usable queue and is
// reported in o.recovery.Err.
func (o *Outbox) recover() error {
	st, err := o.f.Stat()
	if err != nil {
		return fmt.Errorf("outbox: stat: %w", err)
	}
	fileSize := st.Size()
	w := newWindow(o.f, fileSize)
	acked := map[uint64]bool{}
	var damaged []Region
	damageAt := int64(-1)
	for pos := int64(0); pos < fileSize; {
		body, err := w.frame(pos)
		if err != nil {
			return fmt.Errorf("outbox: read %s: %w", o.path, err)
		}
		if body == nil {
			// Not a record here: step one byte and look again, so that one
			// bad record costs only itself.
			if damageAt < 0 {
				damageAt = pos
			}
			pos++
			continue
		}
		if damageAt >= 0 {
			damaged = append(damaged, Region{Off: damageAt, Len: pos - damageAt})
			damageAt = -1
		}
		n := int64(len(body))
		id := binary.LittleEndian.Uint64(body[1:9])
		switch body[0] {
		case kindPut:
			e := entry{id: id, off: pos + headerSize + bodyHdrSize, n: int32(n - bodyHdrSize)}
			last := len(o.entries) - 1
			switch {
			case last < 0 || id > o.entries[last].id:
				o.entries = append(o.entries, e)
			case id == o.entries[last].id:
				// Left by an older version whose Append failed in fsync and
				// reused the id: the later copy is the one reported stored.
				o.entries[last] = e
				o.skipped++
			default:
				o.skipped++ // cannot be placed in order
			}
		case kindAck:
			acked[id] = true
		}
		if id >= o.nextID {
			o.nextID = id + 1
		}
		pos += headerSize + n
	}
	if damageAt >= 0 {
		damaged = append(damaged, Region{Off: damageAt, Len: fileSize - damageAt})
	}
	o.size = fileSize
	for i := range o.entries {
		e := &o.entries[i]
		if acked[e.id] {
			e.acked = true
			continue
		}
		o.live++
		o.liveSize += int64(e.n)
	}
	o.advanceHead()
	if len(damaged) > 0 {
		o.repair(w, damaged)
	}
	if _, err := o.f.Seek(o.size, io.SeekStart); err != nil {
		return fmt.Errorf("outbox: seek: %w", err)
	}
	o.maybeCompact() // a failure is kept for CompactError: the queue is usable
	return nil
}

// maxRegions is how many damaged regions Recovery lists.
const maxRegions = 16

// repair counts the damage, saves its bytes aside and removes it from the
// file: a damaged tail is cut, damage inside the file is dropped by
// rewriting the live records. Nothing is removed that was not saved, except
// an unfinished last record (an Append that never returned). Failures go to
// o.recovery.Err; the queue stays usable either way because records are
// found by resynchronising on the framing.
func (o *Outbox) repair(w *window, damaged []Region) {
	rec := &o.recovery
	last := damaged[len(damaged)-1]
	tail := last.Off+last.Len == o.size
	mid := damaged
	if tail {
		mid = damaged[:len(damaged)-1]
	}
	for _, r := range damaged {
		rec.DamagedBytes += r.Len
	}
	for _, r := range mid {
		rec.Lost += recordsIn(w, r)
	}
	if tail {
		if w.torn(last) {
			rec.Torn = true
		} else {
			rec.Lost += recordsIn(w, last)
		}
	}
	rec.Places = len(damaged)
	rec.Regions = append([]Region(nil), damaged[:min(len(damaged), maxRegions)]...)

	saved, err := o.saveDamage(damaged)
	if err != nil {
		if tail && rec.Torn {
			// Never reported stored: cutting it loses nothing, and saving
			// it was only a courtesy.
			if cerr := o.cut(last.Off); cerr != nil {
				err = errors.Join(err, cerr)
			} else if len(mid) == 0 {
				return
			}
		}
		rec.Err = err
		return
	}
	rec.SavedTo = saved
	if tail {
		if err := o.cut(last.Off); err != nil {
			rec.Err = err
			return
		}
	}
	if len(mid) == 0 {
		return
	}
	if o.live == 0 {
		err = o.compactNow() // an empty queue is truncated
	} else {
		err = o.compact()
	}
	if err != nil {
		rec.Err = fmt.Errorf("remove damaged records: %w", err)
	}
}

// cut truncates the file at off. Even when the truncation fails the next
// Append writes from off, so a torn record is never followed by new ones.
func (o *Outbox) cut(off int64) error {
	o.size = off
	if err := o.ops.truncate(o.f, off); err != nil {
		return fmt.Errorf("outbox: cut damaged tail: %w", err)
	}
	return o.sync()
}

// saveDamage copies the damaged regions, back to back, to a new file
// <path>.corrupt-<unix>[-N], fsynced, and returns its name.
func (o *Outbox) saveDamage(damaged []Region) (string, error) {
	base := o.path + ".corrupt-" + strconv.FormatInt(time.Now().Unix(), 10)
	name := base
	var dst *os.File
	var err error
	for i := 2; ; i++ {
		dst, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			break
		}
		name = base + "-" + strconv.Itoa(i)
	}
	if err != nil {
		return "", fmt.Errorf("outbox: save damaged bytes: %w", err)
	}
	var off int64
	for _, r := range damaged {
		if err = copyRange(o.ops, dst, off, o.f, r); err != nil {
			break
		}
		off += r.Len
	}
	if err == nil && !o.opts.NoSync {
		if err = o.ops.sync(dst); err == nil {
			err = o.ops.syncDir(filepath.Dir(o.path))
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name) // a partial copy would mislead whoever inspects it
		return "", fmt.Errorf("outbox: save damaged bytes: %w", err)
	}
	return name, nil
}

func copyRange(ops fileOps, dst *os.File, at int64, src *os.File, r Region) error {
	buf := make([]byte, min(r.Len, 1<<20))
	for done := int64(0); done < r.Len; {
		b := buf[:min(int64(len(buf)), r.Len-done)]
		if _, err := src.ReadAt(b, r.Off+done); err != nil {
			return err
		}
		if _, err := ops.writeAt(dst, b, at+done); err != nil {
			return err
		}
		done += int64(len(b))
	}
	return nil
}

// recordsIn estimates how many records a damaged region held by following
// the length fields it still has: at least one.
func recordsIn(w *window, r Region) int {
	n := 0
	for pos, end := r.Off, r.Off+r.Len; pos < end; {
		n++
		hdr, _ := w.at(pos, headerSize)
		if hdr == nil {
			break
		}
		l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if l < bodyHdrSize || l > MaxPayload+bodyHdrSize || pos+headerSize+l > end {
			break
		}
		pos += headerSize + l
	}
	return n
}

// window reads a file through a buffer that moves forward, so that
// recovery reads in large sequential chunks yet can step one byte at a time
// through damage.
type window struct {
	r    io.ReaderAt
	size int64
	off  int64 // file offset of buf[0]
	buf  []byte
}

// maxFrame is the size of the largest record.
const maxFrame = headerSize + bodyHdrSize + MaxPayload

func newWindow(r io.ReaderAt, size int64) *window {
	return &window{r: r, size: size, buf: make([]byte, 0, min(size, 2*maxFrame))}
}

// at returns the n bytes at pos (valid until the next call), or nil when
// they go past the end of the file.
func (w *window) at(pos int64, n int) ([]byte, error) {
	if pos < 0 || pos+int64(n) > w.size {
		return nil, nil
	}
	if pos < w.off || pos+int64(n) > w.off+int64(len(w.buf)) {
		w.buf = w.buf[:min(int64(cap(w.buf)), w.size-pos)]
		if _, err := w.r.ReadAt(w.buf, pos); err != nil && !errors.Is(err, io.EOF) {
			w.buf = w.buf[:0]
			return nil, err
		}
		w.off = pos
	}
	return w.buf[pos-w.off : pos-w.off+int64(n)], nil
}

// frame returns the body of the record that starts at pos, or nil when no
// intact record does.
func (w *window) frame(pos int64) ([]byte, error) {
	hdr, err := w.at(pos, headerSize)
	if hdr == nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if n < bodyHdrSize || n > MaxPayload+bodyHdrSize {
		return nil, nil
	}
	b, err := w.at(pos, headerSize+int(n))
	if b == nil {
		return nil, err
	}
	body := b[headerSize:]
	if (body[0] != kindPut && body[0] != kindAck) || crc32.Checksum(body, castagnoli) != sum {
		return nil, nil
	}
	return body, nil
}

// torn reports whether a damaged tail is an unfinished record (an Append
// cut short by a crash or power loss): a partial header, a length that
// runs past the end of the file, or zeros (blocks allocated but never
// written).
func (w *window) torn(r Region) bool {
	if r.Len < headerSize {
		return true
	}
	hdr, _ := w.at(r.Off, headerSize)
	if hdr == nil {
		return false
	}
	l := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if l >= bodyHdrSize && l <= MaxPayload+bodyHdrSize && r.Off+headerSize+l > r.Off+r.Len {
		return true
	}
	for pos := r.Off; pos < r.Off+r.Len; pos += maxFrame {
		b, _ := w.at(pos, int(min(maxFrame, r.Off+r.Len-pos)))
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
	}
	return true
}

// Append stores payload durably (written and fsynced) and returns its id.
// It returns an error whenever the record is not durable (a failed write,
// ENOSPC, a failed fsync, ErrClosed, ErrFull, ErrTooLarge), and the record
// is then not in the queue: callers may rely on nil meaning stored. (Only
// if the fsync and the truncation that undoes the write both fail, and the
// process stops before the next Append overwrites it, may the record
// reappear at the next Open: delivered, never lost.)
func (o *Outbox) Append(payload []byte) (uint64, error) {
	if len(payload) > MaxPayload {
		return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(payload), MaxPayload)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	if o.live >= o.opts.MaxRecords {
		return 0, fmt.Errorf("%w: %d records", ErrFull, o.live)
	}
	if o.liveSize+int64(len(payload)) > o.opts.MaxBytes {
		return 0, fmt.Errorf("%w: %d bytes", ErrFull, o.liveSize)
	}
	// The id is used up even on failure, so it is never on disk twice.
	id := o.nextID
	o.nextID++
	start := o.size
	if err := o.write(kindPut, id, payload); err != nil {
		return 0, err
	}
	if err := o.sync(); err != nil {
		// Not durable and reported as not stored: remove it. If the cut
		// fails, the next record overwrites it from start and recovery cuts
		// any leftover tail.
		o.size = start
		if o.ops.truncate(o.f, start) == nil {
			_ = o.sync()
		}
		return 0, err
	}
	o.entries = append(o.entries, entry{id: id, off: o.size - int64(len(payload)), n: int32(len(payload))})
	o.live++
	o.liveSize += int64(len(payload))
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return id, nil
}

// write appends one record at the end of the file; on a short write the
// file is cut back so that the next record starts on a boundary.
func (o *Outbox) write(kind byte, id uint64, payload []byte) error {
	buf := make([]byte, headerSize+bodyHdrSize+len(payload))
	binary.LittleEndian.PutUint32(buf[0:4], uint32(bodyHdrSize+len(payload)))
	buf[8] = kind
	binary.LittleEndian.PutUint64(buf[9:17], id)
	copy(buf[17:], payload)
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[8:], castagnoli))
	if _, err := o.ops.writeAt(o.f, buf, o.size); err != nil {
		_ = o.ops.truncate(o.f, o.size)
		return fmt.Errorf("outbox: write: %w", err)
	}
	o.size += int64(len(buf))
	return nil
}

func (o *Outbox) sync() error {
	if o.opts.NoSync {
		return nil
	}
	if err := o.ops.sync(o.f); err != nil {
		return fmt.Errorf("outbox: fsync: %w", err)
	}
	return nil
}

// Next returns up to n undelivered records with an id greater than after,
// oldest first. Payloads are fresh copies.
func (o *Outbox) Next(after uint64, n int) ([]Record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	i := o.head + sort.Search(len(o.entries)-o.head, func(i int) bool { return o.entries[o.head+i].id > after })
	var out []Record
	for ; i < len(o.entries) && len(out) < n; i++ {
		e := o.entries[i]
		if e.acked {
			continue
		}
		p := make([]byte, e.n)
		if _, err := o.f.ReadAt(p, e.off); err != nil {
			return out, fmt.Errorf("outbox: read record %d: %w", e.id, err)
		}
		out = append(out, Record{ID: e.id, Payload: p})
	}
	return out, nil
}

// Ack marks records delivered. Unknown or already acked ids are ignored.
// A record is marked delivered even when its ack cannot be written (a full
// disk): the broker has it, and sending it again at once (the caller used
// to drop the link for it, and resent the queue at every reconnect) helps
// nobody; the file still holds it, so it goes again only after a restart.
// The first such write error is returned, wrapping ErrAckNotWritten. A
// failed compaction is kept for CompactError and retried after the file
// has grown.
func (o *Outbox) Ack(ids ...uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	var ackErr error
	for _, id := range ids {
		i := o.head + sort.Search(len(o.entries)-o.head, func(i int) bool { return o.entries[o.head+i].id >= id })
		if i >= len(o.entries) || o.entries[i].id != id || o.entries[i].acked {
			continue
		}
		if o.live > 1 && ackErr == nil { // the last ack is replaced by truncation below
			if err := o.write(kindAck, id, nil); err != nil {
				ackErr = fmt.Errorf("%w: %w", ErrAckNotWritten, err)
			}
		}
		o.entries[i].acked = true
		o.live--
		o.liveSize -= int64(o.entries[i].n)
	}
	o.advanceHead()
	o.maybeCompact()
	return ackErr
}

// ErrAckNotWritten: a delivered record's ack could not be written (Ack);
// it is delivered again after a restart.
var ErrAckNotWritten = errors.New("outbox: ack not written (the record goes again after a restart)")

// CompactError returns the error of the last failed compaction since the
// previous call, or nil. The queue stays usable; only the file is larger.
func (o *Outbox) CompactError() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.compactErr
	o.compactErr = nil
	return err
}

// Recovery reports what Open found wrong in the file (the zero value when
// nothing). The daemon raises an operator alert when Damaged.
func (o *Outbox) Recovery() Recovery {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.recovery
	r.Regions = slices.Clone(r.Regions)
	return r
}

// Lost is Recovery().Lost: records destroyed by damage found at Open.
func (o *Outbox) Lost() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recovery.Lost
}

// Skipped is the number of records Open ignored because their id was out
// of order (a second copy of an id, left by an Append that failed in an
// older version, replaces the first).
func (o *Outbox) Skipped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.skipped
}

func (o *Outbox) advanceHead() {
	for o.head < len(o.entries) && o.entries[o.head].acked {
		o.head++
	}
	if o.head > 1024 && o.head > len(o.entries)/2 {
		o.entries = append([]entry(nil), o.entries[o.head:]...)
		o.head = 0
	}
}

// maybeCompact truncates an empty queue, or rewrites the file when
// delivered records take more room than the undelivered ones. A failure is
// kept in compactErr and a rewrite is not retried before the file has grown
// by a quarter of compactMin.
func (o *Outbox) maybeCompact() {
	if err := o.compactNow(); err != nil {
		o.compactErr = err
		o.compactRetryAt = o.size + o.compactMin/4
	}
}

func (o *Outbox) compactNow() error {
	if o.live == 0 {
		if o.size == 0 {
			return nil
		}
		if err := o.ops.truncate(o.f, 0); err != nil {
			return fmt.Errorf("outbox: truncate: %w", err)
		}
		o.size = 0
		o.entries = o.entries[:0]
		o.head = 0
		o.compactRetryAt = 0
		return o.sync()
	}
	liveFile := o.liveSize + int64(o.live)*(headerSize+bodyHdrSize)
	dead := o.size - liveFile
	if dead < o.compactMin || dead < liveFile || o.size < o.compactRetryAt {
		return nil
	}
	return o.compact()
}

// compact writes the live records to a new file, fsyncs it, renames it over
// the old one and fsyncs the directory.
func (o *Outbox) compact() error {
	tmpName := o.path + ".compact"
	tmp, err := os.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: compact: %w", err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmpName)
		return fmt.Errorf("outbox: compact: %w", err)
	}
	next := make([]entry, 0, o.live)
	var off int64
	var buf []byte
	for _, e := range o.entries[o.head:] {
		if e.acked {
			continue
		}
		n := headerSize + bodyHdrSize + int(e.n)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := o.f.ReadAt(buf, e.off-headerSize-bodyHdrSize); err != nil {
			return fail(err)
		}
		if _, err := o.ops.writeAt(tmp, buf, off); err != nil {
			return fail(err)
		}
		next = append(next, entry{id: e.id, off: off + headerSize + bodyHdrSize, n: e.n})
		off += int64(n)
	}
	if !o.opts.NoSync {
		if err := o.ops.sync(tmp); err != nil {
			return fail(err)
		}
	}
	if err := o.ops.rename(tmpName, o.path); err != nil {
		return fail(err)
	}
	// The path now names tmp: use it before anything else can fail, or
	// later appends would go to the unlinked old file.
	o.f.Close()
	o.f = tmp
	o.size = off
	o.entries = next
	o.head = 0
	o.compactRetryAt = 0
	if !o.opts.NoSync {
		if err := o.ops.syncDir(filepath.Dir(o.path)); err != nil {
			return fmt.Errorf("outbox: compact: sync directory: %w", err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Len is the number of undelivered records.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.live
}

// LiveBytes is the payload bytes of the undelivered records (what
// MaxBytes bounds).
func (o *Outbox) LiveBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.liveSize
}

// FileSize is the current size of the queue file in bytes.
func (o *Outbox) FileSize() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.size
}

// Notify receives a value (coalesced) after each Append.
func (o *Outbox) Notify() <-chan struct{} { return o.notify }

// Close fsyncs pending acks and closes the file. Later calls return ErrClosed.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.closed = true
	err := o.sync()
	if cerr := o.closeFiles(); err == nil && cerr != nil {
		err = fmt.Errorf("outbox: close: %w", cerr)
	}
	return err
}

func (o *Outbox) closeFiles() error {
	err := o.f.Close()
	o.lock.Close()
	return err
}
