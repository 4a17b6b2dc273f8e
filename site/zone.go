package site

import (
	"fmt"
	"slices"

	"github.com/facegate/facegate/internal/zonerules"
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

// newTopology checks zones by the rules the configuration checks too
// (internal/zonerules), then indexes them.
func newTopology(zones []Zone) (*topology, error) {
	rules := make([]zonerules.Zone, len(zones))
	for i, z := range zones {
		rules[i] = zonerules.Zone{Name: z.Name, Inside: z.Inside}
	}
	if err := zonerules.CheckZones("zones", rules); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	t := &topology{zones: map[string]Zone{}, parent: map[string]string{}}
	for _, z := range zones {
		if z.MaxOccupancy < 0 {
			return nil, fmt.Errorf("%w: zone %q: max_occupancy %d is negative", ErrOptions, z.Name, z.MaxOccupancy)
		}
		if z.Inside == "" {
			z.Inside = Outside
		}
		t.zones[z.Name] = z
		t.parent[z.Name] = z.Inside
		t.order = append(t.order, z.Name)
	}
	slices.Sort(t.order)
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
	// The zones as the shared rules see them, sorted (the error lists them).
	rules := make([]zonerules.Zone, len(t.order))
	for i, name := range t.order {
		rules[i] = zonerules.Zone{Name: name, Inside: t.parent[name]}
	}
	if err := zonerules.CheckDoor("door", rules, d.From, d.To); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return nil
}
