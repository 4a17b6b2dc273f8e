package redact

import (
	"strings"
	"testing"
)

// TestMalformedURLLosesItsPassword: the URLs that fail to parse are the
// ones that end up quoted in an error message (config check, a refused
// reload's alert and STATUS=), so the text fallback is where masking
// matters most. "scheme://…@" is masked only when nothing before the '@'
// is a space or a quote, and a scheme missing a '/' (or "//" alone) is
// not masked at all.
func TestMalformedURLLosesItsPassword(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{"tcp://gate:Hunter 2 broker@broker:1883", "Hunter 2"},
		{`tcp://gate:Hunter"2broker@broker:1883`, "2broker"},
		{"tcp://gate:Hunter2\tbroker@broker:1883", "Hunter2"},
		{"rtsp://admin:cam pw 42@10.0.0.5/stream", "cam pw"},
		{`rtspsrc location="rtsp://admin:cam pw 42@10.0.0.5/s" ! decodebin`, "cam pw"},
		{"tcp:/gate:Hunter2@broker:1883", "Hunter2"},
		{"//gate:Hunter2@broker:1883", "Hunter2"},
	} {
		if got := URL(tc.in); strings.Contains(got, tc.secret) {
			t.Errorf("URL(%q) = %q: the password is shown", tc.in, got)
		}
	}
}
