// Package zonerules holds the rules of a site's zones that both the
// configuration file and package site enforce, so that each is written
// once: config checks them with file and line, site when a Presence is
// built from Options made in code. Standard library only.
package zonerules

import (
	"fmt"
	"strconv"
	"strings"
)

// Outside is the implicit zone everyone is in until a gate lets them in:
// never declared, the parent of every top-level zone.
const Outside = "outside"

// Zone is a declared zone as the rules see it.
type Zone struct {
	Name string
	// Inside is the zone it lies in; "" or Outside for none.
	Inside string
}

// Error is a broken rule: the key at fault, spelt as the caller named its
// list or door ("zones.list[1].inside", "zones.door.to"), and what is wrong.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return e.Key + ": " + e.Msg }

// CheckZones checks that zones form a tree under Outside: every zone named
// by the name rule (ValidName), none called Outside, no name twice, every
// inside a declared zone (or Outside), no cycle of inside. list is how the
// caller names the list in keys ("zones.list" gives "zones.list[0].name").
// The error is a *Error.
func CheckZones(list string, zones []Zone) error {
	index := make(map[string]int, len(zones))
	for i, z := range zones {
		key := fmt.Sprintf("%s[%d].name", list, i)
		if z.Name == "" {
			return &Error{key, "a zone needs a name"}
		}
		if !ValidName(z.Name) {
			return &Error{key, fmt.Sprintf("%q %s", z.Name, NameRule)}
		}
		if z.Name == Outside {
			return &Error{key, fmt.Sprintf("%q is implicit: do not declare it", Outside)}
		}
		if j, dup := index[z.Name]; dup {
			return &Error{key, fmt.Sprintf("%q is declared twice (also %s[%d])", z.Name, list, j)}
		}
		index[z.Name] = i
	}
	// Every parent first, so that a walk up below only meets declared zones.
	for i, z := range zones {
		if p := parent(z); p != Outside {
			if _, ok := index[p]; !ok {
				return &Error{fmt.Sprintf("%s[%d].inside", list, i), fmt.Sprintf("%q is not a declared zone (declared: %s)", p, declared(zones))}
			}
		}
	}
	// A walk to outside that comes back to a zone of its own path is a
	// cycle. It stops at a zone already known to reach outside: linear,
	// where walking from every zone was quadratic (a chain of 20000 zones
	// took seconds; found by a red-team pass).
	const (
		onPath  = 1
		reaches = 2
	)
	state := make([]uint8, len(zones))
	var path []int
	for i, z := range zones {
		path = path[:0]
		for j := i; state[j] != reaches; {
			if state[j] == onPath {
				return &Error{fmt.Sprintf("%s[%d].inside", list, i), fmt.Sprintf("zone %q lies inside itself (a cycle of inside:)", z.Name)}
			}
			state[j] = onPath
			path = append(path, j)
			p := parent(zones[j])
			if p == Outside {
				break
			}
			j = index[p]
		}
		for _, j := range path {
			state[j] = reaches
		}
	}
	return nil
}

// CheckDoor checks a door between two zones of zones (which passed
// CheckZones): both declared or Outside, and not the same. door is how the
// caller names the door in keys ("zones.door" gives "zones.door.from").
// The error is a *Error.
func CheckDoor(door string, zones []Zone, from, to string) error {
	for _, e := range []struct{ key, zone string }{{"from", from}, {"to", to}} {
		if !known(zones, e.zone) {
			return &Error{door + "." + e.key, fmt.Sprintf("%q is not a declared zone or outside (declared: %s)", e.zone, declared(zones))}
		}
	}
	if from == to {
		return &Error{door + ".to", fmt.Sprintf("%q is the door's from zone too: a door leads from one zone into another", to)}
	}
	return nil
}

// NameRule is what ValidName asks, as error messages say it after the name.
const NameRule = "must be 1-64 characters of letters, digits, '-' or '_'"

// ValidName reports whether s is a valid site, gate or zone name: 1-64
// ASCII letters, digits, '-' or '_' (it names files and MQTT topic levels).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseClock parses a time of day written "HH:MM", 00:00 to 23:59 (the
// daily reset, reset_at).
func ParseClock(s string) (hour, minute int, err error) {
	hs, ms, ok := strings.Cut(s, ":")
	if ok && twoDigits(hs) && twoDigits(ms) {
		h, _ := strconv.Atoi(hs)
		m, _ := strconv.Atoi(ms)
		if h < 24 && m < 60 {
			return h, m, nil
		}
	}
	return 0, 0, fmt.Errorf("%q is not a time of day as HH:MM (00:00 to 23:59)", s)
}

func twoDigits(s string) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}

// parent is the zone z lies in, Outside for none.
func parent(z Zone) string {
	if z.Inside == "" {
		return Outside
	}
	return z.Inside
}

func known(zones []Zone, name string) bool {
	if name == Outside {
		return true
	}
	for _, z := range zones {
		if z.Name == name {
			return true
		}
	}
	return false
}

// declared lists the declared zone names for messages.
func declared(zones []Zone) string {
	if len(zones) == 0 {
		return "none"
	}
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.Name
	}
	return strings.Join(names, ", ")
}
