package faceauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseDate: --since/--until of `facegate history` (a command line,
// outside input). Never panics; a date it takes is the day written
// (UTC midnight, the same text back), anything else is ErrInvalidRequest
// naming the value.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-05-01", " 2026-05-01\n", "2026-5-1", "yesterday", "", "2026-02-30", "0000-01-01", "9999-12-31", "2026-05-01T00:00:00Z", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("%q: %v is not ErrInvalidRequest", s, err)
			}
			return
		}
		if d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0 || d.Nanosecond() != 0 {
			t.Fatalf("%q: %v is not a UTC day", s, d)
		}
		if got := d.Format(DateLayout); got != strings.TrimSpace(s) {
			t.Fatalf("%q read as %s", s, got)
		}
	})
}
