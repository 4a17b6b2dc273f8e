package config

import (
	"errors"
	"testing"
)

// namedKey (da93918) names the first key written on the error's line. In
// a flow mapping (`policy: {max_faces: two}`, as docs/gate.md writes its
// io lines) that is the section, so the operator reads that the section
// "policy" is "not a whole number", or that `mdoe` is not a known key of
// the top level; and through an alias it names the anchor's place, a
// section where the key is known ("policy.anti_passback: field mode is not
// a known key" for a mistake in kiosk). A wrong key is worse than none:
// the operator edits the wrong line. Each case must name the right key or
// none.
func TestNamedKeyIsTheKeyInError(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		ok         []string // acceptable Field values
	}{
		{"flow mapping, wrong type", "site: a\npolicy: {max_faces: two}\n", []string{"policy.max_faces", ""}},
		{"flow mapping, second key", "site: a\npolicy: {cooldown: 3s, max_faces: two}\n", []string{"policy.max_faces", ""}},
		{"flow mapping, unknown key", "site: a\npolicy: {mdoe: two}\n", []string{"policy"}},
		{"secret in a flow mapping", "site: a\napi: {key: [a]}\n", []string{"api.key", ""}},
		{"alias of a known section", "site: a\npolicy:\n  anti_passback: &d\n    mode: hard\nkiosk: *d\n", []string{"kiosk", ""}},
	} {
		_, err := Parse("f.yaml", []byte(tc.yaml), nil)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a *config.Error", tc.name, err)
			continue
		}
		good := false
		for _, f := range tc.ok {
			good = good || fe.Field == f
		}
		if !good {
			t.Errorf("%s: %q names key %q, want one of %q", tc.name, err, fe.Field, tc.ok)
		}
	}
}
