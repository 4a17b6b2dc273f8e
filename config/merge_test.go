package config

import "testing"

// TestFractionThroughAMergeKeyIsRefused: yaml.v3 applies merge keys
// ("<<") when decoding, but bareNumberMistake walks only the keys the
// struct knows, so a fraction merged into a count is truncated as before
// the whole-number check: "max_faces: 0.5" merged in reads as 0, the
// tailgating guard off, with no word (the alias row of the same check is
// refused since a41ce03).
func TestFractionThroughAMergeKeyIsRefused(t *testing.T) {
	for _, yml := range []string{
		"site: a\npolicy:\n  <<: {max_faces: 0.5}\n",
		"site: a\ncapture:\n  min_brightness: &b 60.5\npolicy:\n  <<: {max_faces: *b}\n",
	} {
		c, err := Parse("f.yaml", []byte(yml), nil)
		if err == nil {
			t.Errorf("%q: accepted, max_faces %d (the guard off at 0); want refused as not a whole number", yml, c.Policy.MaxFaces)
		}
	}
}
