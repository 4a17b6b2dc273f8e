package site

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Zone names follow the configuration's name rule (zonerules.ValidName):
// they are MQTT topic levels and file names, so a Presence built from
// Options in code checks them too.
func TestNewChecksZoneNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"zone-b_2", true}, {strings.Repeat("a", 64), true},
		{"zone b", false}, {"a/b", false}, {"a+", false}, {"#", false}, {"zoné", false}, {strings.Repeat("a", 65), false},
	} {
		_, err := New(Options{Zones: []Zone{{Name: "site"}, {Name: tt.name, Inside: "site"}}})
		if tt.ok {
			if err != nil {
				t.Errorf("zone %q: %v", tt.name, err)
			}
			continue
		}
		want := fmt.Sprintf(`zones[1].name: %q must be 1-64 characters of letters, digits, '-' or '_'`, tt.name)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), want) {
			t.Errorf("zone %q: %v, want an error containing %s", tt.name, err, want)
		}
	}
}
