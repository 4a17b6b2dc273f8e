package config

import (
	"errors"
	"strings"
	"testing"
)

// TestFractionalNumberForACountIsRefused: a count written with a fraction
// ("max_faces: 0.5", "attempts.max: 2.9") is truncated by yaml.v3 into
// the int field without a word: 0.5 faces turns the tailgating guard off
// (0 means off), a liveness lockout of 0.5 failures turns the lockout off.
// The file is accepted with a meaning the operator never wrote; it must
// be refused with file, line and key, as a duration without a unit is.
func TestFractionalNumberForACountIsRefused(t *testing.T) {
	for _, tc := range []struct {
		yaml, field string
		line        int
	}{
		{"site: a\npolicy:\n  max_faces: 0.5\n", "policy.max_faces", 3},
		{"site: a\npolicy:\n  attempts:\n    max: 2.9\n", "policy.attempts.max", 4},
		{"site: a\npolicy:\n  liveness_lockout:\n    max: 0.5\n", "policy.liveness_lockout.max", 4},
		{"site: a\nkiosk:\n  min_free_mb: 0.9\n", "kiosk.min_free_mb", 3},
		// Through an alias, the anchored value's line.
		{"site: a\ncapture:\n  min_brightness: &b 60.5\npolicy:\n  max_faces: *b\n", "policy.max_faces", 3},
	} {
		c, err := Parse("f.yaml", []byte(tc.yaml), nil)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%s: accepted (max_faces %d, attempts.max %d, liveness_lockout.max %d, min_free_mb %d); want an error naming %s",
				strings.ReplaceAll(tc.yaml, "\n", `\n`), c.Policy.MaxFaces, c.Policy.Attempts.Max, c.Policy.LivenessLockout.Max, c.Kiosk.MinFreeMB, tc.field)
			continue
		}
		if fe.File != "f.yaml" || fe.Line != tc.line || fe.Field != tc.field {
			t.Errorf("%q: %v; want f.yaml:%d: %s: …", tc.yaml, err, tc.line, tc.field)
		}
	}
}

// TestTypeMistakesNameTheKey: docs/operations.md promises that "every
// problem names the file, line and key". A value of the wrong type (a
// word for a number, a quoted duration without a unit, one string for a
// list) and a misspelt key deep in a section name the line only, or a Go
// type ("config.AntiPassback") the operator never wrote.
func TestTypeMistakesNameTheKey(t *testing.T) {
	for _, tc := range []struct{ name, yaml, key string }{
		{"word for a number", "site: a\npolicy:\n  max_faces: two\n", "policy.max_faces"},
		{"quoted duration without unit", "site: a\npolicy:\n  cooldown: \"30\"\n", "policy.cooldown"},
		{"string for a list", "site: a\nkiosk:\n  allowed_hosts: pi.local\n", "kiosk.allowed_hosts"},
		{"string for a bool", "site: a\nidentity:\n  qr:\n    enabled: \"false\"\n", "identity.qr.enabled"},
		{"misspelt key at depth", "site: a\npolicy:\n  anti_passback:\n    mdoe: hard\n", "policy.anti_passback"},
		{"secret given as a list", "site: a\napi:\n  key: [a, b]\n", "api.key"},
	} {
		_, err := Parse("f.yaml", []byte(tc.yaml), nil)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %q does not name %s", tc.name, err, tc.key)
		}
	}
}

// A whole number written as a float reads as it says ("max_faces: 1.0" is
// 1): refusing it would stop a gate whose file worked before.
func TestWholeNumberWrittenAsAFloatIsACount(t *testing.T) {
	for yml, want := range map[string]int{
		"site: a\npolicy:\n  max_faces: 1.0\n": 1,
		"site: a\npolicy:\n  max_faces: 2e0\n": 2,
	} {
		c, err := Parse("f.yaml", []byte(yml), nil)
		if err != nil || c.Policy.MaxFaces != want {
			t.Errorf("%q: max_faces %v, %v; want %d", yml, c, err, want)
		}
	}
}
