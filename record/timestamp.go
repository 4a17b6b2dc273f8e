package record

import "time"

// timestampLayout is RFC 3339 with milliseconds; in UTC the zone is "Z".
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Timestamp is the one time format of every record, payload and report
// facegate writes: RFC 3339 in UTC with exactly three fractional digits,
// e.g. "2026-03-01T06:12:09.120Z". Fixed width, so the strings sort as
// the times do.
func Timestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }
