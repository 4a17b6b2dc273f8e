package record

import (
	"strings"
	"testing"
)

func TestPrivacy(t *testing.T) {
	for _, tc := range []struct {
		p        Privacy
		in, want string
	}{
		{PrivacyPlain, "sub-1", "sub-1"},
		{PrivacyOmit, "sub-1", ""},
		{PrivacyHash, "sub-1", "sha256:54c5a0d1ed1b0b2d3c5e33a3d4cd36e3ab2c0e7d6a4e8b0e2e4b43ab15bbcb3b"},
		{PrivacyHash, "sha256:abc", "sha256:abc"},
		{PrivacyHash, "", ""},
	} {
		got := tc.p.Apply(tc.in)
		if tc.p == PrivacyHash && tc.in == "sub-1" {
			if !strings.HasPrefix(got, "sha256:") || len(got) != 7+64 || strings.Contains(got, "sub-1") {
				t.Errorf("hash(%q) = %q", tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.p, tc.in, got, tc.want)
		}
	}
}

func TestPrivacyValid(t *testing.T) {
	for _, tc := range []struct {
		p    Privacy
		want bool
	}{
		{PrivacyPlain, true},
		{PrivacyHash, true},
		{PrivacyOmit, true},
		{"", false},
		{"Hash", false},
		{"sha256", false},
	} {
		if got := tc.p.Valid(); got != tc.want {
			t.Errorf("Privacy(%q).Valid() = %v, want %v", tc.p, got, tc.want)
		}
	}
}
