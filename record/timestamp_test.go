package record

import (
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 1, 6, 12, 9, 120_000_000, time.UTC), "2026-03-01T06:12:09.120Z"},
		// Another zone is written in UTC, with "Z".
		{time.Date(2026, 3, 1, 7, 12, 9, 120_000_000, berlin), "2026-03-01T06:12:09.120Z"},
		// Always three digits: whole seconds keep ".000", sub-milliseconds are cut, not rounded.
		{time.Date(2026, 11, 22, 7, 31, 5, 0, time.UTC), "2026-11-22T07:31:05.000Z"},
		{time.Date(2026, 11, 22, 7, 31, 5, 999_999_999, time.UTC), "2026-11-22T07:31:05.999Z"},
	} {
		got := Timestamp(tc.in)
		if got != tc.want {
			t.Errorf("Timestamp(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := time.Parse(time.RFC3339Nano, got)
		if err != nil || !back.Equal(tc.in.Truncate(time.Millisecond)) {
			t.Errorf("Timestamp(%v) = %q parses back as %v, %v", tc.in, got, back, err)
		}
	}
}
