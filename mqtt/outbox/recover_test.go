package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// span is one record of a clean file.
type span struct {
	off, end int
	kind     byte
	id       uint64
}

// layout parses a file that has no damage.
func layout(t testing.TB, data []byte) []span {
	t.Helper()
	var out []span
	for off := 0; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		end := off + headerSize + n
		out = append(out, span{off: off, end: end, kind: data[off+headerSize], id: binary.LittleEndian.Uint64(data[off+headerSize+1:])})
		off = end
	}
	return out
}

// tenAndAnAck writes puts of payload(0..9) (ids 1..10) and an ack of id 1.
func tenAndAnAck(t *testing.T, path string) []span {
	t.Helper()
	b := open(t, path, Options{})
	ids := appendN(t, b, 0, 10)
	if err := b.Ack(ids[0]); err != nil {
		t.Fatal(err)
	}
	b.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return layout(t, data)
}

func payloadsExcept(skip ...int) []string {
	var out []string
	for i := 1; i < 10; i++ { // payload(0) is acked
		if !slices.Contains(skip, i) {
			out = append(out, string(payload(i)))
		}
	}
	return out
}

// savedBytes is what the side file must hold: the damaged file's bytes at
// the reported regions.
func savedBytes(data []byte, regions []Region) []byte {
	var out []byte
	for _, r := range regions {
		out = append(out, data[r.Off:r.Off+r.Len]...)
	}
	return out
}

// One damaged record costs that record only: everything after it is
// delivered, the bytes are kept aside, the loss is counted, and the file is
// clean again afterwards.
func TestDamageCostsOnlyTheDamagedRecords(t *testing.T) {
	flip := func(at func(s []span) int, bit byte) func([]byte, []span) []byte {
		return func(d []byte, s []span) []byte { d[at(s)] ^= 1 << bit; return d }
	}
	for _, tc := range []struct {
		name    string
		damage  func(data []byte, s []span) []byte
		want    []string
		lost    int
		damaged func(s []span) int // bytes
	}{
		{"bit flipped in a payload", flip(func(s []span) int { return s[3].end - 3 }, 0),
			payloadsExcept(3), 1, func(s []span) int { return s[3].end - s[3].off }},
		{"bit flipped in a length", flip(func(s []span) int { return s[4].off + 1 }, 2),
			payloadsExcept(4), 1, func(s []span) int { return s[4].end - s[4].off }},
		{"bit flipped in a checksum", flip(func(s []span) int { return s[5].off + 6 }, 7),
			payloadsExcept(5), 1, func(s []span) int { return s[5].end - s[5].off }},
		{"bit flipped in an id", flip(func(s []span) int { return s[6].off + headerSize + 1 }, 1),
			payloadsExcept(6), 1, func(s []span) int { return s[6].end - s[6].off }},
		{"first record", flip(func(s []span) int { return s[0].off + 20 }, 3),
			payloadsExcept(), 1, func(s []span) int { return s[0].end }}, // payload(0) is acked anyway
		{"last put", flip(func(s []span) int { return s[9].off + 20 }, 3),
			payloadsExcept(9), 1, func(s []span) int { return s[9].end - s[9].off }},
		{"the ack: its event is sent again", flip(func(s []span) int { return s[10].off + 12 }, 5),
			append([]string{string(payload(0))}, payloadsExcept()...), 1, func(s []span) int { return s[10].end - s[10].off }},
		{"zeroed sector over two records", func(d []byte, s []span) []byte {
			clear(d[s[3].off+20 : s[4].off+10])
			return d
		}, payloadsExcept(3, 4), 2, func(s []span) int { return s[4].end - s[3].off }},
		{"two damaged places", func(d []byte, s []span) []byte {
			d[s[2].off+20] ^= 0x10
			d[s[7].off+20] ^= 0x10
			return d
		}, payloadsExcept(2, 7), 2, func(s []span) int { return s[2].end - s[2].off + s[7].end - s[7].off }},
		{"garbage between records", func(d []byte, s []span) []byte {
			return slices.Insert(d, s[5].off, []byte("garbage")...)
		}, payloadsExcept(), 1, func(s []span) int { return len("garbage") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "q")
			spans := tenAndAnAck(t, path)
			data, _ := os.ReadFile(path)
			data = tc.damage(data, spans)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}

			b := open(t, path, Options{})
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("recovered %v\nwant      %v", got, tc.want)
			}
			rec := b.Recovery()
			if rec.Lost != tc.lost || b.Lost() != tc.lost || rec.Torn || rec.Err != nil || !rec.Damaged() {
				t.Errorf("Recovery %+v, want %d lost, not torn, no error", rec, tc.lost)
			}
			if want := int64(tc.damaged(spans)); rec.DamagedBytes != want {
				t.Errorf("DamagedBytes %d, want %d", rec.DamagedBytes, want)
			}
			if rec.Places != len(rec.Regions) || !strings.HasPrefix(rec.String(), fmt.Sprintf("%d records lost, %d damaged bytes in %d places, saved to %s", tc.lost, rec.DamagedBytes, rec.Places, rec.SavedTo)) {
				t.Errorf("Recovery %+v says %q", rec, rec)
			}
			saved, err := os.ReadFile(rec.SavedTo)
			if err != nil || !strings.HasPrefix(rec.SavedTo, path+".corrupt-") {
				t.Fatalf("damaged bytes saved to %q: %v", rec.SavedTo, err)
			}
			if !bytes.Equal(saved, savedBytes(data, rec.Regions)) || int64(len(saved)) != rec.DamagedBytes {
				t.Errorf("side file holds %d bytes, not the %d damaged ones", len(saved), rec.DamagedBytes)
			}
			if _, err := b.Append([]byte("new")); err != nil {
				t.Fatal(err)
			}
			b.Close()

			b = open(t, path, Options{})
			defer b.Close()
			if rec := b.Recovery(); rec.DamagedBytes != 0 || rec.Damaged() {
				t.Errorf("second Open found %v: the damage was not removed", rec)
			}
			want := append(slices.Clone(tc.want), "new")
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after reopen %v\nwant         %v", got, want)
			}
		})
	}
}

// A file written before the reader resynchronised (testdata/v1.outbox:
// puts v1-0..v1-9, acks of v1-0, v1-1 and v1-5, written by commit ed369a6)
// reads the same, and one flipped bit in it costs one record.
func TestReadsFilesOfTheFirstFormat(t *testing.T) {
	orig, err := os.ReadFile("testdata/v1.outbox")
	if err != nil {
		t.Fatal(err)
	}
	want := func(skip ...int) []string {
		var out []string
		for i := 2; i < 10; i++ {
			if i != 5 && !slices.Contains(skip, i) {
				out = append(out, fmt.Sprintf(`{"event_id":"v1-%d","seq":%d}`, i, i))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		flip int // byte offset, -1 for none
		want []string
		lost int
	}{
		{"as written", -1, want(), 0},
		{"one flipped bit", bytes.Index(orig, []byte(`"v1-3"`)) + 2, want(3), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := slices.Clone(orig)
			if tc.flip >= 0 {
				data[tc.flip] ^= 1
			}
			path := filepath.Join(t.TempDir(), "q")
			os.WriteFile(path, data, 0o600)
			b := open(t, path, Options{})
			defer b.Close()
			if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("read %v\nwant %v", got, tc.want)
			}
			if b.Lost() != tc.lost {
				t.Errorf("Lost %d, want %d", b.Lost(), tc.lost)
			}
			id, err := b.Append([]byte("new"))
			if err != nil || id != 11 {
				t.Fatalf("Append: id %d, %v; want id 11", id, err)
			}
		})
	}
}

// fullDisk fails every write with ENOSPC while *full.
func fullDisk(full *bool) fileOps {
	ops := osOps
	ops.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		if *full {
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.WriteAt(b, off)
	}
	return ops
}

// On a full disk a damaged queue still opens: the records around the
// damage are delivered, the damage stays in the file and is reported,
// Append says ENOSPC; when space returns everything works and the next
// Open repairs the file.
func TestDamagedQueueOpensOnAFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	spans := tenAndAnAck(t, path)
	data, _ := os.ReadFile(path)
	data[spans[4].off+20] ^= 1
	os.WriteFile(path, data, 0o600)

	full := true
	b, err := openWith(path, Options{}, fullDisk(&full))
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	rec := b.Recovery()
	if !errors.Is(rec.Err, syscall.ENOSPC) || rec.Lost != 1 || rec.SavedTo != "" || !rec.Damaged() {
		t.Errorf("Recovery %+v, want 1 lost, not saved, ENOSPC", rec)
	}
	if left, _ := filepath.Glob(path + ".corrupt-*"); len(left) != 0 {
		t.Errorf("partial side files left: %v", left)
	}
	if got, want := payloads(t, b), payloadsExcept(4); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recovered %v\nwant      %v", got, want)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
		t.Errorf("the damaged file was changed without saving its damage")
	}
	if _, err := b.Append([]byte("while full")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk: %v, want ENOSPC", err)
	}

	full = false
	if _, err := b.Append([]byte("space is back")); err != nil {
		t.Fatalf("Append once space is back: %v", err)
	}
	b.Close()
	want := append(payloadsExcept(4), "space is back")
	for i, wantLost := range []int{1, 0} { // repaired at the first reopen
		b = open(t, path, Options{})
		if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("reopen %d: %v\nwant      %v", i, got, want)
		}
		if rec := b.Recovery(); rec.Lost != wantLost || rec.Err != nil || (wantLost > 0) != (rec.SavedTo != "") {
			t.Errorf("reopen %d: Recovery %+v, want %d lost", i, rec, wantLost)
		}
		b.Close()
	}
}

// A torn last record (kill -9 in the middle of an Append) on a full disk:
// Open cuts it (nothing was stored), reports no loss and no error.
func TestTornTailOnAFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	tenAndAnAck(t, path)
	good, _ := os.ReadFile(path)
	torn := append(slices.Clone(good), record(kindPut, 12, `{"event_id":"never-finished"}`)[:20]...)
	os.WriteFile(path, torn, 0o600)

	full := true
	b, err := openWith(path, Options{}, fullDisk(&full))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	rec := b.Recovery()
	if !rec.Torn || rec.Lost != 0 || rec.Err != nil || rec.Damaged() || rec.DamagedBytes != 20 {
		t.Errorf("Recovery %+v, want torn, 20 bytes, nothing lost", rec)
	}
	if b.FileSize() != int64(len(good)) {
		t.Errorf("file %d bytes, want the torn record cut (%d)", b.FileSize(), len(good))
	}
	if st, _ := os.Stat(path); st.Size() != int64(len(good)) {
		t.Errorf("file on disk %d bytes, want %d", st.Size(), len(good))
	}
}

// Saved but not removed (the rewrite fails): the queue works and the next
// Open reports the damage again.
func TestDamageNotRemovedIsFoundAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	spans := tenAndAnAck(t, path)
	data, _ := os.ReadFile(path)
	data[spans[2].off+20] ^= 1
	os.WriteFile(path, data, 0o600)
	ops := osOps
	ops.rename = func(string, string) error { return errInjected }
	b, err := openWith(path, Options{}, ops)
	if err != nil {
		t.Fatal(err)
	}
	if rec := b.Recovery(); !errors.Is(rec.Err, errInjected) || rec.SavedTo == "" || rec.Lost != 1 {
		t.Errorf("Recovery %+v, want saved, 1 lost, the rename error", rec)
	}
	appendN(t, b, 100, 1)
	b.Close()
	b = open(t, path, Options{})
	defer b.Close()
	if rec := b.Recovery(); rec.Lost != 1 || rec.Err != nil {
		t.Errorf("reopen: Recovery %+v, want the same loss, repaired", rec)
	}
	if got, want := payloads(t, b), append(payloadsExcept(2), string(payload(100))); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen %v\nwant         %v", got, want)
	}
}

// The durability contract the kiosk relies on: Append never reports a
// record stored that is not on disk.
func TestAppendFailsWheneverNotDurable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(fileOps) fileOps
		want error
	}{
		{"disk full", func(o fileOps) fileOps {
			o.writeAt = func(*os.File, []byte, int64) (int, error) { return 0, syscall.ENOSPC }
			return o
		}, syscall.ENOSPC},
		{"fsync fails", func(o fileOps) fileOps {
			o.sync = func(*os.File) error { return syscall.EIO }
			return o
		}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q")
			b := open(t, path, Options{})
			appendN(t, b, 0, 2)
			b.ops = tc.ops(osOps)
			if _, err := b.Append(payload(2)); !errors.Is(err, tc.want) {
				t.Fatalf("Append: %v, want %v", err, tc.want)
			}
			if b.Len() != 2 {
				t.Errorf("Len %d after a failed Append, want 2", b.Len())
			}
			b.ops = osOps
			b.Close()
			b = open(t, path, Options{})
			defer b.Close()
			if got := payloads(t, b); len(got) != 2 {
				t.Errorf("after reopen %v: the failed record is in the queue", got)
			}
		})
	}
	b := open(t, filepath.Join(t.TempDir(), "q"), Options{})
	b.Close()
	if _, err := b.Append(payload(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
}

// fuzzPayload is the payload of put i: JSON of varying length.
func fuzzPayload(i int) string {
	return fmt.Sprintf(`{"event_id":"ev-%d","pad":"%s"}`, i, strings.Repeat("x", i*37%90))
}

// validFrame reports whether an intact record of the given length starts
// at p (the reference the reader is checked against).
func validFrame(data []byte, p int) int {
	if p+headerSize > len(data) {
		return 0
	}
	n := int(binary.LittleEndian.Uint32(data[p:]))
	if n < bodyHdrSize || n > MaxPayload+bodyHdrSize || p+headerSize+n > len(data) {
		return 0
	}
	body := data[p+headerSize : p+headerSize+n]
	if (body[0] != kindPut && body[0] != kindAck) || crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[p+4:]) {
		return 0
	}
	return headerSize + n
}

// FuzzRecoverDamage builds a queue file of puts and acks, damages it (bit
// flips, truncations, inserted garbage, zeroed ranges) and checks that
// every record the damage did not touch counts: each intact put whose ack
// is not intact is delivered exactly once, in order, with its payload;
// nothing else is; the damaged bytes are counted and saved; the file is
// clean after one Open.
func FuzzRecoverDamage(f *testing.F) {
	op := func(kind byte, pos uint16, arg byte) []byte { return []byte{kind, byte(pos), byte(pos >> 8), arg} }
	f.Add(uint8(10), uint64(0), []byte{})
	f.Add(uint8(10), uint64(0), op(0, 1500, 3))                                 // one bit in the middle
	f.Add(uint8(10), uint64(0b101), op(0, 5, 0))                                // a length bit of the first record
	f.Add(uint8(20), uint64(0xff), op(1, 3000, 0))                              // truncated
	f.Add(uint8(20), uint64(0), op(2, 700, 9))                                  // garbage inserted
	f.Add(uint8(30), uint64(0x1234), op(3, 2000, 63))                           // zeroed range
	f.Add(uint8(39), uint64(0xf0f0), append(op(0, 100, 1), op(2, 4000, 20)...)) // two places
	f.Add(uint8(5), uint64(0), bytes.Repeat(op(0, 77, 5), 8))                   // the same bit twice: intact
	f.Fuzz(func(t *testing.T, nrec uint8, acks uint64, damage []byte) {
		n := 1 + int(nrec%40)
		var data []byte
		var frames []span
		for i := 0; i < n; i++ {
			id := uint64(i + 1)
			for _, r := range []struct {
				kind byte
				p    string
			}{{kindPut, fuzzPayload(i)}, {kindAck, ""}} {
				if r.kind == kindAck && acks>>i&1 == 0 {
					continue
				}
				frames = append(frames, span{off: len(data), end: len(data) + headerSize + bodyHdrSize + len(r.p), kind: r.kind, id: id})
				data = append(data, record(r.kind, id, r.p)...)
			}
		}
		orig := slices.Clone(data)
		origin := make([]int, len(data)) // original offset of each byte, -1 if inserted
		for i := range origin {
			origin[i] = i
		}
		for k := 0; k+4 <= len(damage) && k < 32; k += 4 {
			d := damage[k : k+4]
			pos := int(binary.LittleEndian.Uint16(d[1:3]))
			switch d[0] % 4 {
			case 0: // bit flip
				if len(data) > 0 {
					data[pos%len(data)] ^= 1 << (d[3] % 8)
				}
			case 1: // truncation
				p := pos % (len(data) + 1)
				data, origin = data[:p], origin[:p]
			case 2: // inserted garbage
				p := pos % (len(data) + 1)
				g := make([]byte, 1+int(d[3]%48))
				r := rand.New(rand.NewPCG(uint64(pos), uint64(d[3])))
				for i := range g {
					g[i] = byte(r.Uint32())
				}
				data = slices.Insert(data, p, g...)
				origin = slices.Insert(origin, p, slices.Repeat([]int{-1}, len(g))...)
			case 3: // zeroed range
				if len(data) > 0 {
					p := pos % len(data)
					clear(data[p:min(len(data), p+1+int(d[3]%64))])
				}
			}
		}

		// The oracle: the original records that are still intact.
		starts := map[int]span{}
		for _, s := range frames {
			starts[s.off] = s
		}
		var intact []span
		covered := 0
		for p := 0; p < len(data); p++ {
			l := validFrame(data, p)
			if l == 0 {
				continue
			}
			s, ok := starts[origin[p]]
			if !ok || s.end-s.off != l || !bytes.Equal(data[p:p+l], orig[s.off:s.end]) {
				t.Skipf("the damage forms a valid record at %d", p)
			}
			intact = append(intact, s)
			covered += l
			p += l - 1
		}
		ackedIDs := map[uint64]bool{}
		for _, s := range intact {
			if s.kind == kindAck {
				ackedIDs[s.id] = true
			}
		}
		var want []string
		for _, s := range intact {
			if s.kind == kindPut && !ackedIDs[s.id] {
				want = append(want, fuzzPayload(int(s.id-1)))
			}
		}

		path := filepath.Join(t.TempDir(), "q")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path, Options{NoSync: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		got := payloads(t, b)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("delivered %q\nwant      %q", got, want)
		}
		rec := b.Recovery()
		if rec.DamagedBytes != int64(len(data)-covered) {
			t.Errorf("DamagedBytes %d, want %d", rec.DamagedBytes, len(data)-covered)
		}
		if rec.DamagedBytes > 0 && (rec.Lost == 0 && !rec.Torn || rec.Err != nil) {
			t.Errorf("damage not reported: %+v", rec)
		}
		if rec.DamagedBytes > 0 {
			saved, err := os.ReadFile(rec.SavedTo)
			if err != nil || int64(len(saved)) != rec.DamagedBytes {
				t.Errorf("side file %q: %d bytes, %v; want %d", rec.SavedTo, len(saved), err, rec.DamagedBytes)
			}
		}
		if _, err := b.Append([]byte("new")); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		b.Close()
		b, err = Open(path, Options{NoSync: true})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer b.Close()
		if rec := b.Recovery(); rec.DamagedBytes != 0 {
			t.Errorf("reopen found %v: not repaired", rec)
		}
		if got := payloads(t, b); fmt.Sprint(got) != fmt.Sprint(append(want, "new")) {
			t.Fatalf("after reopen %q\nwant         %q", got, append(want, "new"))
		}
	})
}

// BenchmarkOpen recovers a queue of 100,000 events of 700 bytes (70 MB),
// intact and with 1 MiB of garbage in the middle (the reader steps through
// it byte by byte).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "q")
	box := open(b, path, Options{NoSync: true})
	p := bytes.Repeat([]byte("x"), 700)
	for i := 0; i < 100000; i++ {
		if _, err := box.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	box.Close()
	clean, _ := os.ReadFile(path)
	garbage := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	mid := layout(b, clean)[50000].off
	damaged := slices.Concat(clean[:mid], garbage, clean[mid:])
	for _, bc := range []struct {
		name string
		data []byte
	}{{"intact", clean}, {"1MiB garbage", damaged}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				os.WriteFile(path, bc.data, 0o600)
				b.StartTimer()
				q, err := Open(path, Options{NoSync: true})
				if err != nil {
					b.Fatal(err)
				}
				if q.Len() != 100000 {
					b.Fatalf("Len %d", q.Len())
				}
				q.Close()
			}
		})
	}
}
