package kiosk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The kiosk's own state files are read back after power cuts, disk faults
// and hands: each reader is fuzzed. A file it accepts must behave; one it
// refuses must say which file.

func FuzzOpenSequencer(f *testing.F) {
	for _, s := range []string{"41\n", "0", " 7 ", "", "x", "-1", "18446744073709551615", "9007199254740991\n", "9007199254740992"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "seq")
		if err := os.WriteFile(path, content, 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := openSequencer(dir)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte(path)) {
				t.Fatalf("refusal %q does not name %s", err, path)
			}
			return
		}
		before := s.seq
		n, _, err := s.next(time.Unix(1_700_000_000, 0))
		if err != nil {
			t.Fatal(err)
		}
		if n <= before || n > maxSeq {
			t.Fatalf("after %d the next number is %d (consumers read it as a JSON number)", before, n)
		}
		again, err := openSequencer(dir)
		if err != nil || again.seq != n {
			t.Fatalf("reopened at %d (%v), want %d", again.seq, err, n)
		}
	})
}

func FuzzOpenPassback(f *testing.F) {
	key := passbackKey("S-1")
	for _, s := range []string{
		`{"granted":{"` + key + `":"2026-12-07T10:00:00Z"}}`,
		`{"granted":{"` + key + `":"0000-01-01T00:00:00+01:00"}}`,
		`{"granted":{"` + key + `":"9999-12-31T23:59:59-01:00"}}`,
		`{"granted":null}`, `{}`, `[]`, ``, `{"granted":{"ab":"2026-12-07T10:00:00Z"}}`,
		`{"granted":{"` + key + `":"2026-12-07T10:00:00Z"},"GRANTED":{}}`, `{"granted":{}}]`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "passback.json")
		if err := os.WriteFile(path, content, 0o640); err != nil {
			t.Fatal(err)
		}
		p, err := openPassback(path)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte(path)) {
				t.Fatalf("refusal %q does not name %s", err, path)
			}
			return
		}
		for k := range p.last {
			if !validPassbackKey(k) {
				t.Fatalf("accepted key %q", k)
			}
		}
		p.check("S-2", now, time.Hour)
		if err := p.grant("S-2", now, time.Hour); err != nil {
			t.Fatalf("a grant after reading an accepted file is not saved: %v", err)
		}
		again, err := openPassback(path)
		if err != nil {
			t.Fatalf("the file it wrote is refused: %v", err)
		}
		if !again.check("S-2", now, time.Hour) {
			t.Fatal("the grant it saved is not read back")
		}
	})
}

// FuzzLastAuditLine compares the audit tail reader, with windows small
// enough to grow several times, with reading the file whole: the newest
// complete line that is valid JSON and kept.
func FuzzLastAuditLine(f *testing.F) {
	for _, s := range []string{
		"{\"kind\":\"\",\"n\":1}\n{\"kind\":\"input\"}\n",
		"{\"n\":1}\n{\"n\":2}\n{\"n\":3", // a torn tail
		"{\"n\":1}\n\n  {\"n\":2}  \n",
		"garbage\n{\"n\":1}\ngarbage\n",
		"",
	} {
		f.Add([]byte(s), uint8(4))
	}
	keep := func(l []byte) bool {
		var r struct {
			Kind string `json:"kind"`
		}
		return json.Unmarshal(l, &r) == nil && r.Kind != "input"
	}
	f.Fuzz(func(t *testing.T, content []byte, window uint8) {
		path := filepath.Join(t.TempDir(), auditName)
		if err := os.WriteFile(path, content, 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := lastAuditLineFrom(path, keep, int64(window)+1)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		if end := bytes.LastIndexByte(content, '\n'); end >= 0 {
			lines := bytes.Split(content[:end], []byte("\n"))
			for i := len(lines) - 1; i >= 0; i-- {
				if l := bytes.TrimSpace(lines[i]); json.Valid(l) && keep(l) {
					want = l
					break
				}
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("window %d: got %q, want %q", int(window)+1, got, want)
		}
	})
}
