package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var errInjected = errors.New("injected fault")

// faulty returns ops that fail the named call while *on is true.
func faulty(call string, on *bool) fileOps {
	ops := osOps
	switch call {
	case "write":
		ops.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
			if *on {
				n, _ := f.WriteAt(b[:len(b)/2], off) // a short write
				return n, errInjected
			}
			return f.WriteAt(b, off)
		}
	case "sync":
		ops.sync = func(f *os.File) error {
			if *on {
				return errInjected
			}
			return f.Sync()
		}
	case "sync+truncate":
		ops.sync = func(f *os.File) error {
			if *on {
				return errInjected
			}
			return f.Sync()
		}
		ops.truncate = func(f *os.File, size int64) error {
			if *on {
				return errInjected
			}
			return f.Truncate(size)
		}
	default:
		panic(call)
	}
	return ops
}

func TestFailedAppendThenAppendSurvivesReopen(t *testing.T) {
	for _, call := range []string{"write", "sync", "sync+truncate"} {
		t.Run(call, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q")
			b := open(t, path, Options{})
			appendN(t, b, 0, 2)
			fail := true
			b.ops = faulty(call, &fail)
			if _, err := b.Append([]byte(`{"event_id":"lost-because-the-disk-failed","pad":"xxxxxxxxxxxxxxxx"}`)); !errors.Is(err, errInjected) {
				t.Fatalf("Append with a failing %s: %v, want the injected error", call, err)
			}
			fail = false
			appendN(t, b, 2, 2)
			want := []string{string(payload(0)), string(payload(1)), string(payload(2)), string(payload(3))}
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("before reopen: %v, want %v", got, want)
			}
			b.Close()

			b, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("reopen after a failed append: %v", err)
			}
			defer b.Close()
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after reopen: %v, want %v", got, want)
			}
			if b.Skipped() != 0 {
				t.Fatalf("Skipped = %d, want 0", b.Skipped())
			}
		})
	}
}

// record encodes one record as the file holds it.
func record(kind byte, id uint64, p string) []byte {
	buf := make([]byte, headerSize+bodyHdrSize+len(p))
	binary.LittleEndian.PutUint32(buf[0:4], uint32(bodyHdrSize+len(p)))
	buf[8] = kind
	binary.LittleEndian.PutUint64(buf[9:17], id)
	copy(buf[17:], p)
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(buf[8:], castagnoli))
	return buf
}

func TestRecoverSkipsOutOfOrderIDs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records [][]byte
		want    []string
		skipped int
	}{
		{"duplicate id left by a failed fsync", [][]byte{
			record(kindPut, 1, "a"), record(kindPut, 2, "failed"), record(kindPut, 2, "b"),
			record(kindPut, 3, "c"), record(kindAck, 1, ""),
		}, []string{"b", "c"}, 1},
		{"duplicate id acked", [][]byte{
			record(kindPut, 1, "failed"), record(kindPut, 1, "a"), record(kindPut, 2, "b"), record(kindAck, 1, ""),
		}, []string{"b"}, 1},
		{"older id", [][]byte{
			record(kindPut, 5, "a"), record(kindPut, 3, "stray"), record(kindPut, 6, "b"),
		}, []string{"a", "b"}, 1},
		{"in order", [][]byte{
			record(kindPut, 1, "a"), record(kindPut, 2, "b"),
		}, []string{"a", "b"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q")
			if err := os.WriteFile(path, bytes.Join(tc.records, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("recovered %v, want %v", got, tc.want)
			}
			if b.Skipped() != tc.skipped {
				t.Fatalf("Skipped = %d, want %d", b.Skipped(), tc.skipped)
			}
			id, err := b.Append([]byte("new"))
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := b.Next(0, 100)
			if recs[len(recs)-1].ID != id || (len(recs) > 1 && recs[len(recs)-2].ID >= id) {
				t.Fatalf("new id %d not after the recovered ones: %+v", id, recs)
			}
		})
	}
}

// compactable returns an outbox at path whose next Ack of acks compacts it.
func compactable(t *testing.T, path string) (b *Outbox, acks []uint64) {
	t.Helper()
	b = open(t, path, Options{})
	b.compactMin = 1024
	ids := appendN(t, b, 0, 100)
	return b, ids[:90]
}

func TestCompactDirSyncFailureKeepsTheNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	b, acks := compactable(t, path)
	before := b.FileSize()
	b.ops.syncDir = func(string) error { return errInjected }
	if err := b.Ack(acks...); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := b.CompactError(); !errors.Is(err, errInjected) {
		t.Fatalf("CompactError = %v, want the injected error", err)
	}
	if b.FileSize() >= before/2 {
		t.Fatalf("file %d bytes of %d: not compacted", b.FileSize(), before)
	}
	appendN(t, b, 100, 5)
	b.Close()

	b = open(t, path, Options{})
	defer b.Close()
	got := payloads(t, b)
	if len(got) != 15 || got[0] != string(payload(90)) || got[14] != string(payload(104)) {
		t.Fatalf("after reopen: %d records %v, want payloads 90..104", len(got), got)
	}
}

func TestCompactionFailureIsNotAnAckFailure(t *testing.T) {
	for _, call := range []string{"write", "sync", "rename"} {
		t.Run(call, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q")
			b, acks := compactable(t, path)
			defer b.Close()
			attempts := 0
			inject := func(f *os.File) bool {
				if f == nil || strings.HasSuffix(f.Name(), ".compact") {
					attempts++
					return true
				}
				return false
			}
			switch call {
			case "write":
				b.ops.writeAt = func(f *os.File, p []byte, off int64) (int, error) {
					if inject(f) {
						return 0, errInjected
					}
					return f.WriteAt(p, off)
				}
			case "sync":
				b.ops.sync = func(f *os.File) error {
					if inject(f) {
						return errInjected
					}
					return f.Sync()
				}
			case "rename":
				b.ops.rename = func(string, string) error {
					inject(nil)
					return errInjected
				}
			}
			before := b.FileSize()
			if err := b.Ack(acks...); err != nil {
				t.Fatalf("Ack with a failing compaction: %v", err)
			}
			if attempts == 0 {
				t.Fatal("compaction was not attempted")
			}
			if err := b.CompactError(); !errors.Is(err, errInjected) {
				t.Fatalf("CompactError = %v, want the injected error", err)
			}
			if err := b.CompactError(); err != nil {
				t.Fatalf("second CompactError = %v, want nil", err)
			}
			if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
				t.Fatalf("temporary compaction file left behind: %v", err)
			}
			if b.Len() != 10 || b.FileSize() < before {
				t.Fatalf("Len %d, file %d bytes (was %d)", b.Len(), b.FileSize(), before)
			}

			// No retry at the next ack: the file has not grown enough.
			n := attempts
			if err := b.Ack(acks[len(acks)-1]+1, acks[len(acks)-1]+2); err != nil {
				t.Fatal(err)
			}
			if attempts != n {
				t.Fatalf("compaction retried at once (%d attempts)", attempts)
			}

			// Retried, and done, once the disk works and the file has grown.
			b.ops = osOps
			appendN(t, b, 100, 20)
			recs, _ := b.Next(0, 2)
			if err := b.Ack(recOf(recs)...); err != nil {
				t.Fatal(err)
			}
			if err := b.CompactError(); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if b.FileSize() >= before {
				t.Fatalf("file %d bytes after the retry (was %d): not compacted", b.FileSize(), before)
			}
			if b.Len() != 26 {
				t.Fatalf("Len = %d, want 26", b.Len())
			}
		})
	}
}

// An ack the disk refuses (full) still marks its record delivered: the
// broker has it, and Ack's caller keeps the link up instead of sending
// the queue again at every reconnect. The record stays in the file, so
// it goes again after a restart; the error says so.
func TestAckNotWrittenStillMarksDelivered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i := 0; i < 3; i++ {
		id, err := b.Append([]byte(fmt.Sprintf("event %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	fail := true
	b.ops = faulty("write", &fail)
	if err := b.Ack(ids[0]); !errors.Is(err, ErrAckNotWritten) || !errors.Is(err, errInjected) {
		t.Fatalf("Ack on a full disk: %v, want ErrAckNotWritten wrapping the write error", err)
	}
	if recs, _ := b.Next(0, 10); len(recs) != 2 || recs[0].ID != ids[1] {
		t.Fatalf("pending after the ack %v, want the two others", recs)
	}
	b.Close()
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Len() != 3 {
		t.Fatalf("after a restart %d records, want 3 (the unwritten ack's record goes again)", again.Len())
	}
}
