package mqttrules

import (
	"net/url"
	"strings"
	"testing"
)

func TestBrokerURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		tls     bool
		wantErr string
	}{
		{"tcp://b:1883", false, ""},
		{"mqtt://b:1883", false, ""},
		{"ws://b/mqtt", false, ""},
		{"ssl://b:8883", true, ""},
		{"tls://b:8883", true, ""},
		{"mqtts://b:8883", true, ""},
		{"wss://b/mqtt", true, ""},
		{"http://b:1", false, `"http://b:1": scheme must be tcp, ssl, ws or wss`},
		{"ftp://user:pw@b:21", false, `"ftp://xxxxx@b:21": scheme must be tcp, ssl, ws or wss`},
		{"b:1883", false, "is not a broker URL"},
		{"tcp://", false, "is not a broker URL"},
		{"://x", false, "is not a broker URL"},
	} {
		u, tls, err := BrokerURL(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "pw") {
				t.Errorf("BrokerURL(%q) = %v, want an error with %q and no password", tc.in, err, tc.wantErr)
			}
		case err != nil || u == nil || tls != tc.tls:
			t.Errorf("BrokerURL(%q) = %v, %v, %v; want tls %v", tc.in, u, tls, err, tc.tls)
		}
	}
}

// A URL from the file never panics the check, an accepted one has a host,
// and refusing a scheme://user:password@ URL never repeats the password
// (redact.URL masks what has a scheme; a bare //u:p@h is shown as text).
func FuzzBrokerURL(f *testing.F) {
	for _, s := range []string{"tcp://b:1883", "wss://u:secretpw@b/mqtt", "http://u:secretpw@b", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, _, err := BrokerURL(s)
		if err == nil && (u == nil || u.Host == "") {
			t.Fatalf("BrokerURL(%q) accepted a URL without a host", s)
		}
		if p, err2 := url.Parse(s); err != nil && err2 == nil && p.Scheme != "" {
			if pw, ok := p.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
				t.Fatalf("BrokerURL(%q) error shows the password: %v", s, err)
			}
		}
	})
}
