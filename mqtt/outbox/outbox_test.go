package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t testing.TB, path string, o Options) *Outbox {
	t.Helper()
	b, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

func payload(i int) []byte { return []byte(fmt.Sprintf(`{"event_id":"ev-%d"}`, i)) }

func appendN(t testing.TB, b *Outbox, from, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for i := from; i < from+n; i++ {
		id, err := b.Append(payload(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	return ids
}

func payloads(t testing.TB, b *Outbox) []string {
	t.Helper()
	recs, err := b.Next(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Payload))
	}
	return out
}

func TestAppendNextAckKeepsOrder(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "q"), Options{})
	defer b.Close()
	ids := appendN(t, b, 0, 5)
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	recs, _ := b.Next(ids[1], 2)
	if len(recs) != 2 || recs[0].ID != ids[2] || recs[1].ID != ids[3] {
		t.Fatalf("Next(after %d, 2) = %+v", ids[1], recs)
	}
	if err := b.Ack(ids[0], ids[2]); err != nil {
		t.Fatal(err)
	}
	want := []string{string(payload(1)), string(payload(3)), string(payload(4))}
	if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after ack: %v, want %v", got, want)
	}
	if b.Len() != 3 {
		t.Fatalf("Len = %d, want 3", b.Len())
	}
	if err := b.Ack(ids[0], 9999); err != nil { // again, and unknown: ignored
		t.Fatal(err)
	}
	if b.Len() != 3 {
		t.Fatalf("Len after repeated ack = %d, want 3", b.Len())
	}
}

func TestReopenReplaysUnackedInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	b := open(t, path, Options{})
	ids := appendN(t, b, 0, 10)
	if err := b.Ack(ids[:4]...); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = open(t, path, Options{})
	defer b.Close()
	got := payloads(t, b)
	if len(got) != 6 || got[0] != string(payload(4)) || got[5] != string(payload(9)) {
		t.Fatalf("after reopen: %v", got)
	}
	id, err := b.Append(payload(10))
	if err != nil {
		t.Fatal(err)
	}
	if id <= ids[9] {
		t.Fatalf("new id %d is not after the old ones (%d)", id, ids[9])
	}
}

func TestTornOrCorruptTailIsCutAndSaved(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   int
	}{
		{"torn write", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{40, 0, 0, 0, 1, 2}) // header of a record never finished
			f.Close()
		}, 3},
		{"bad checksum in the last record", func(t *testing.T, path string) {
			data, _ := os.ReadFile(path)
			data[len(data)-2] ^= 0xff
			os.WriteFile(path, data, 0o600)
		}, 2},
		{"absurd length", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(bytes.Repeat([]byte{0xff}, 20))
			f.Close()
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "q")
			b := open(t, path, Options{})
			appendN(t, b, 0, 3)
			b.Close()
			tc.damage(t, path)

			b = open(t, path, Options{})
			if got := b.Len(); got != tc.want {
				t.Fatalf("Len after recovery = %d, want %d", got, tc.want)
			}
			appendN(t, b, 100, 1) // the file is usable again
			b.Close()
			b = open(t, path, Options{})
			defer b.Close()
			if got := b.Len(); got != tc.want+1 {
				t.Fatalf("Len after append and reopen = %d, want %d", got, tc.want+1)
			}
			saved, _ := filepath.Glob(path + ".corrupt-*")
			if len(saved) != 1 {
				t.Fatalf("corrupt tail saved as %v, want one file", saved)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "q"), Options{MaxRecords: 3, MaxBytes: 1 << 20})
	defer b.Close()
	ids := appendN(t, b, 0, 3)
	if _, err := b.Append(payload(3)); !errors.Is(err, ErrFull) {
		t.Fatalf("4th append: %v, want ErrFull", err)
	}
	b.Ack(ids[0])
	if _, err := b.Append(payload(3)); err != nil {
		t.Fatalf("append after an ack: %v", err)
	}
	if _, err := b.Append(make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge append: %v, want ErrTooLarge", err)
	}

	small := open(t, filepath.Join(t.TempDir(), "q"), Options{MaxBytes: 100})
	defer small.Close()
	if _, err := small.Append(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if _, err := small.Append(make([]byte, 60)); !errors.Is(err, ErrFull) {
		t.Fatalf("over MaxBytes: %v, want ErrFull", err)
	}
}

func TestCompactionBoundsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	b := open(t, path, Options{NoSync: true})
	big := bytes.Repeat([]byte("x"), 4096)
	var ids []uint64
	for i := 0; i < 3000; i++ { // ~12 MiB
		id, err := b.Append(big)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	before := b.FileSize()
	if err := b.Ack(ids[:2900]...); err != nil {
		t.Fatal(err)
	}
	after := b.FileSize()
	if after > before/5 {
		t.Fatalf("file is %d bytes after acking 97%% of %d bytes: not compacted", after, before)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("temporary compaction file left behind: %v", err)
	}
	recs, _ := b.Next(0, 1000)
	if len(recs) != 100 || recs[0].ID != ids[2900] || !bytes.Equal(recs[0].Payload, big) {
		t.Fatalf("after compaction: %d records, first id %d", len(recs), recs[0].ID)
	}
	b.Close()
	b = open(t, path, Options{})
	if b.Len() != 100 {
		t.Fatalf("after compaction and reopen: Len %d, want 100", b.Len())
	}
	recs, _ = b.Next(0, 1000)
	if err := b.Ack(recOf(recs)...); err != nil {
		t.Fatal(err)
	}
	if b.FileSize() != 0 {
		t.Fatalf("empty queue: file is %d bytes, want 0", b.FileSize())
	}
	b.Close()
}

func recOf(rs []Record) []uint64 {
	var ids []uint64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestClosed(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "q"), Options{})
	b.Close()
	if _, err := b.Append(payload(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// FuzzRecover: whatever is on disk, Open recovers a usable queue.
func FuzzRecover(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "seed")
	b := open(f, good, Options{NoSync: true})
	appendN(f, b, 0, 3)
	b.Close()
	data, _ := os.ReadFile(good)
	f.Add(data)
	f.Add(data[:len(data)-3])
	f.Add([]byte{})
	f.Add([]byte{9, 0, 0, 0, 0, 0, 0, 0, 'A', 1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "q")
		os.WriteFile(path, data, 0o600)
		b, err := Open(path, Options{NoSync: true})
		if err != nil {
			return // refused with an error: fine
		}
		defer b.Close()
		n := b.Len()
		if _, err := b.Append([]byte("new")); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
		recs, err := b.Next(0, n+1)
		if err != nil || len(recs) != n+1 || string(recs[n].Payload) != "new" {
			t.Fatalf("after recovery: %d records, err %v", len(recs), err)
		}
	})
}

func BenchmarkAppendFsync(b *testing.B) {
	box := open(b, filepath.Join(b.TempDir(), "q"), Options{})
	defer box.Close()
	p := bytes.Repeat([]byte("x"), 700)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := box.Append(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	b := open(t, path, Options{})
	if _, err := Open(path, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	b.Close()
	b = open(t, path, Options{}) // free again after Close
	b.Close()
}
