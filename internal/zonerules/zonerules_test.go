package zonerules

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckZones(t *testing.T) {
	z := func(name, inside string) Zone { return Zone{Name: name, Inside: inside} }
	tests := []struct {
		name  string
		zones []Zone
		want  string // "" for valid
	}{
		{"none", nil, ""},
		{"a tree", []Zone{z("site", ""), z("zone-b", "site"), z("lab", "zone-b"), z("yard", Outside)}, ""},
		{"a child before its parent", []Zone{z("lab", "site"), z("site", "")}, ""},
		{"unnamed", []Zone{z("site", ""), z("", "")}, `zones.list[1].name: a zone needs a name`},
		{"a space", []Zone{z("site", ""), z("zone b", "site")}, `zones.list[1].name: "zone b" must be 1-64 characters of letters, digits, '-' or '_'`},
		{"a slash (a topic level)", []Zone{z("a/b", "")}, `zones.list[0].name: "a/b" must be 1-64 characters of letters, digits, '-' or '_'`},
		{"too long", []Zone{z(strings.Repeat("a", 65), "")}, `zones.list[0].name: "` + strings.Repeat("a", 65) + `" must be 1-64 characters of letters, digits, '-' or '_'`},
		{"outside declared", []Zone{z(Outside, "")}, `zones.list[0].name: "outside" is implicit: do not declare it`},
		{"twice", []Zone{z("site", ""), z("b", ""), z("site", "")}, `zones.list[2].name: "site" is declared twice (also zones.list[0])`},
		{"unknown parent", []Zone{z("site", ""), z("b", "yard")}, `zones.list[1].inside: "yard" is not a declared zone (declared: site, b)`},
		// The missing zone is named, not a cycle met on the way to it.
		{"unknown grandparent", []Zone{z("a", "b"), z("b", "yard")}, `zones.list[1].inside: "yard" is not a declared zone (declared: a, b)`},
		{"self", []Zone{z("a", "a")}, `zones.list[0].inside: zone "a" lies inside itself (a cycle of inside:)`},
		{"cycle", []Zone{z("site", ""), z("a", "b"), z("b", "a")}, `zones.list[1].inside: zone "a" lies inside itself (a cycle of inside:)`},
		{"into a cycle", []Zone{z("c", "a"), z("a", "b"), z("b", "a")}, `zones.list[0].inside: zone "c" lies inside itself (a cycle of inside:)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckZones("zones.list", tt.zones)
			check(t, err, tt.want)
		})
	}
}

func TestCheckDoor(t *testing.T) {
	zones := []Zone{{Name: "site"}, {Name: "zone-b", Inside: "site"}}
	tests := []struct {
		from, to string
		want     string
	}{
		{Outside, "site", ""},
		{"zone-b", Outside, ""},
		{"site", "zone-b", ""},
		{"", "site", `door.from: "" is not a declared zone or outside (declared: site, zone-b)`},
		{"site", "yard", `door.to: "yard" is not a declared zone or outside (declared: site, zone-b)`},
		{"site", "site", `door.to: "site" is the door's from zone too: a door leads from one zone into another`},
	}
	for _, tt := range tests {
		check(t, CheckDoor("door", zones, tt.from, tt.to), tt.want)
	}
	check(t, CheckDoor("zones.door", nil, Outside, "site"), `zones.door.to: "site" is not a declared zone or outside (declared: none)`)
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("%v, want nil", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || err.Error() != want || !strings.HasPrefix(want, e.Key+": ") {
		t.Fatalf("got  %v (%T)\nwant %s", err, err, want)
	}
}

func TestValidName(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"site", true}, {"zone-b_2", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"zone b", false}, {"a/b", false}, {"a+", false}, {"zoné", false},
	} {
		if got := ValidName(tt.s); got != tt.ok {
			t.Errorf("ValidName(%q) = %v", tt.s, got)
		}
	}
}

func TestParseClock(t *testing.T) {
	for _, tt := range []struct {
		s    string
		h, m int
		ok   bool
	}{
		{"00:00", 0, 0, true}, {"04:00", 4, 0, true}, {"23:59", 23, 59, true},
		{"4:00", 0, 0, false}, {"24:00", 0, 0, false}, {"04:60", 0, 0, false},
		{"+4:00", 0, 0, false}, {"04:00 ", 0, 0, false}, {"0400", 0, 0, false}, {"", 0, 0, false},
	} {
		h, m, err := ParseClock(tt.s)
		if (err == nil) != tt.ok || h != tt.h || m != tt.m {
			t.Errorf("ParseClock(%q) = %d, %d, %v", tt.s, h, m, err)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+tt.s+`"`) {
			t.Errorf("ParseClock(%q): %v does not name the value", tt.s, err)
		}
	}
}

// ParseClock accepts exactly what the configuration used to: five
// characters that time.Parse reads as 15:04.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"04:00", "4:00", "24:00", "23:59", "+4:00", "04:0x", "٠٤:٠٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, m, err := ParseClock(s)
		ref, refErr := time.Parse("15:04", s)
		refOK := refErr == nil && len(s) == 5
		if (err == nil) != refOK {
			t.Fatalf("ParseClock(%q) = %d, %d, %v; time.Parse: %v", s, h, m, err, refErr)
		}
		if refOK && (h != ref.Hour() || m != ref.Minute()) {
			t.Fatalf("ParseClock(%q) = %d:%d, time.Parse %d:%d", s, h, m, ref.Hour(), ref.Minute())
		}
	})
}

// Whatever the list, CheckZones ends, and an accepted list is a tree: every
// zone's chain of inside reaches Outside through declared zones.
func FuzzCheckZones(f *testing.F) {
	f.Add("site,;b,site;c,b")
	f.Add("a,b;b,a")
	f.Add("outside,;x,y")
	f.Fuzz(func(t *testing.T, spec string) {
		var zones []Zone
		for _, item := range strings.Split(spec, ";") {
			name, inside, _ := strings.Cut(item, ",")
			zones = append(zones, Zone{Name: name, Inside: inside})
		}
		if CheckZones("zones", zones) != nil {
			return
		}
		byName := map[string]Zone{}
		for _, z := range zones {
			byName[z.Name] = z
		}
		for _, z := range zones {
			at := z
			for steps := 0; parent(at) != Outside; steps++ {
				p, ok := byName[parent(at)]
				if !ok || steps > len(zones) {
					t.Fatalf("accepted %q: %q does not reach outside", spec, z.Name)
				}
				at = p
			}
		}
	})
}
