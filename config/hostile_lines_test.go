package config

import (
	"errors"
	"strings"
	"testing"
)

// TestHostileFilesNameTheLine: every refused file names the file and the
// line (docs/operations.md: "every problem names the file, line and key").
// yaml.v3's errors for an unknown alias and a control character carry no
// line: it is found in the file.
func TestHostileFilesNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct {
		data string
		line int
	}{
		"unknown alias":     {"site: a\npolicy:\n  cooldown: *nope\n", 3},
		"control character": {"site: a\npolicy:\n  cooldown: 1s\x00\n", 3},
		"too deep":          {"site: a\npolicy: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", 2},
	} {
		_, err := Parse("f.yaml", []byte(tc.data), nil)
		var fe *Error
		if !errors.As(err, &fe) || fe.Line != tc.line {
			t.Errorf("%s: %v, want line %d", name, err, tc.line)
		}
	}
}
