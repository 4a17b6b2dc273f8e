package site

import (
	"testing"
	"time"
)

// A two-way door (direction both) lets out a person recorded in its To
// zone or in a zone nested in it. Until 2026-12-08 it compared the zone
// for equality only: a worker recorded in zone-b-lab (inside zone-b) at
// zone-b's two-way door was taken as entering zone-b, and hard
// anti-passback refused the way out (passback_same_zone), as did every
// evacuation (exits are never denied: docs/site.md).
func TestTwoWayDoorLetsOutAWorkerFromANestedZone(t *testing.T) {
	zones := append(siteZones(), Zone{Name: "zone-b-lab", Inside: "zone-b", Hazardous: true})
	p, _ := newP(t, Options{Zones: zones, Gate: "zone-b-door",
		Door:     Door{From: "site", To: "zone-b", Direction: Both},
		Passback: PassbackOptions{Mode: PassbackHard}})
	mustApply(t, p,
		ev("entrance", 1, 0, "w-1", "site"),
		ev("zone-b-door", 2, time.Minute, "w-1", "zone-b"),
		ev("lab-door", 3, 2*time.Minute, "w-1", "zone-b-lab"))
	v := p.Check("w-1", t0.Add(10*time.Minute), ViewSite)
	if !v.Exit || !v.Allowed || v.From != "zone-b" || v.To != "site" {
		t.Errorf("a worker in zone-b-lab (inside zone-b) at zone-b's two-way door is not let out: %+v", v)
	}
}

// Which way a two-way door takes a person, from where the person is
// recorded: the deeper of the door's two zones that holds the person is
// the side the person stands on.
func TestTwoWayDoorSideOfANestedZone(t *testing.T) {
	zones := append(siteZones(),
		Zone{Name: "lab", Inside: "zone-b"},
		Zone{Name: "cabinet", Inside: "lab"})
	for _, c := range []struct {
		from, to, zone string
		wantFrom       string // where the passage starts
	}{
		{"site", "zone-b", "zone-b", "zone-b"},     // out of zone-b
		{"site", "zone-b", "lab", "zone-b"},        // out of zone-b from a zone inside it
		{"site", "zone-b", "office", "site"},       // into zone-b from elsewhere on site
		{"zone-b", "lab", "lab", "lab"},            // out of the lab
		{"zone-b", "lab", "cabinet", "lab"},        // out of the lab from inside it
		{"zone-b", "lab", "zone-b", "zone-b"},      // into the lab
		{"lab", "zone-b", "lab", "lab"},            // a door from the lab out into zone-b: the lab holds the person
		{"lab", "zone-b", "cabinet", "lab"},        // the same, from deeper in the lab
		{"lab", "zone-b", "zone-b", "zone-b"},      // into the lab from zone-b
		{Outside, "site", "zone-b", "site"},        // the site's two-way entrance: out from anywhere inside
		{Outside, "site", Outside, Outside},        // in
		{"site", Outside, "zone-b", "site"},        // an exit drawn the other way round: out
		{"site", Outside, Outside, Outside},        // back in
		{"site", "zone-b", "unknown-zone", "site"}, // undeclared: not inside zone-b
	} {
		p, _ := newP(t, Options{Zones: zones, Gate: "door", Door: Door{From: c.from, To: c.to, Direction: Both}})
		if from, _ := p.destination(c.zone); from != c.wantFrom {
			t.Errorf("door %s<->%s, person in %s: passage from %s, want from %s", c.from, c.to, c.zone, from, c.wantFrom)
		}
	}
}
