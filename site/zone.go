package site

import (
	"fmt"
	"slices"
)

// Zone is one declared zone of the site.
type Zone struct {
	Name string
	// Inside is the parent zone; "" means Outside. A hazardous zone lies
	// inside the site: {Name: "zone-b", Inside: "site", Hazardous: true}.
	Inside string
	// Hazardous zones are the ones PassbackOptions.RequirePath
	// "hazardous" guards.
	Hazardous bool
	// MaxOccupancy is the most persons inside the zone (nested zones
	// included); 0 means no limit.
	MaxOccupancy int
	// OccupancyHard denies an entry at the limit; otherwise the entry is
	// allowed and flagged (soft).
	OccupancyHard bool
}

// Door is what this gate is: a grant moves the person from From to To.
// An exit gate is declared the same way, with From the zone left and To
// the zone entered (from: site, to: outside). A zero Door (Direction "")
// is no door: a muster kiosk or an observer; Check allows everything.
type Door struct {
	From, To  string
	Direction string // Entry, Exit or Both
}

// topology is the validated zone tree.
type topology struct {
	zones  map[string]Zone
	parent map[string]string // zone -> parent; Outside has none
	order  []string          // declared names, sorted
}

func newTopology(zones []Zone) (*topology, error) {
	t := &topology{zones: map[string]Zone{}, parent: map[string]string{}}
	for i, z := range zones {
		switch {
		case z.Name == "":
			return nil, fmt.Errorf("%w: zone %d has no name", ErrOptions, i+1)
		case z.Name == Outside:
			return nil, fmt.Errorf("%w: zone %q is implicit and cannot be declared", ErrOptions, Outside)
		case z.MaxOccupancy < 0:
			return nil, fmt.Errorf("%w: zone %q: max_occupancy %d is negative", ErrOptions, z.Name, z.MaxOccupancy)
		}
		if _, dup := t.zones[z.Name]; dup {
			return nil, fmt.Errorf("%w: zone %q declared twice", ErrOptions, z.Name)
		}
		if z.Inside == "" {
			z.Inside = Outside
		}
		t.zones[z.Name] = z
		t.parent[z.Name] = z.Inside
		t.order = append(t.order, z.Name)
	}
	slices.Sort(t.order)
	for _, name := range t.order {
		seen := map[string]bool{name: true}
		for p := t.parent[name]; p != Outside; p = t.parent[p] {
			if _, ok := t.zones[p]; !ok {
				return nil, fmt.Errorf("%w: zone %q lies inside %q, which is not declared", ErrOptions, name, p)
			}
			if seen[p] {
				return nil, fmt.Errorf("%w: zone %q lies inside itself (a cycle through %q)", ErrOptions, name, p)
			}
			seen[p] = true
		}
	}
	return t, nil
}

// known reports whether name is Outside or a declared zone.
func (t *topology) known(name string) bool {
	if name == Outside {
		return true
	}
	_, ok := t.zones[name]
	return ok
}

// within reports whether zone z is zone outer or nested in it. Every zone
// is within Outside. An undeclared z is within only itself and Outside.
func (t *topology) within(z, outer string) bool {
	if outer == Outside || z == outer {
		return true
	}
	for p, ok := t.parent[z]; ok && p != Outside; p, ok = t.parent[p] {
		if p == outer {
			return true
		}
	}
	return false
}

// chain is zone z and its ancestors, innermost first, Outside excluded.
func (t *topology) chain(z string) []string {
	var c []string
	for ; z != Outside && z != ""; z = t.parent[z] {
		c = append(c, z)
		if _, ok := t.parent[z]; !ok {
			break // undeclared zone: no known parent
		}
	}
	return c
}

func (t *topology) validDoor(d Door) error {
	if d == (Door{}) {
		return nil
	}
	switch d.Direction {
	case Entry, Exit, Both:
	default:
		return fmt.Errorf("%w: door direction %q (want entry, exit or both)", ErrOptions, d.Direction)
	}
	for _, z := range []string{d.From, d.To} {
		if z == "" {
			return fmt.Errorf("%w: door needs both from and to", ErrOptions)
		}
		if !t.known(z) {
			return fmt.Errorf("%w: door zone %q is not declared", ErrOptions, z)
		}
	}
	if d.From == d.To {
		return fmt.Errorf("%w: door leads from %q to itself", ErrOptions, d.From)
	}
	return nil
}
