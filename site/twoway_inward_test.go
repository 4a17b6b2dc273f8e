package site

import (
	"testing"
	"time"
)

// A two-way door whose From is the inner zone (an exit door made two-way,
// "from: site, to: outside", or a lab's door drawn "from: lab, to:
// zone-b"): the passage To→From goes IN. Check marks every To→From
// passage Exit (v.To == d.From), and exits are never denied: hard
// occupancy, hard anti-passback and, in the kiosk, an evacuation
// (p.Exit lets a session through) all let the person in.
func TestTwoWayDoorWayInIsNotAnExit(t *testing.T) {
	zones := []Zone{
		{Name: "site", MaxOccupancy: 1, OccupancyHard: true},
		{Name: "zone-b", Inside: "site", Hazardous: true},
		{Name: "lab", Inside: "zone-b", MaxOccupancy: 1, OccupancyHard: true},
		{Name: "lab-2", Inside: "zone-b"},
	}
	for _, c := range []struct {
		name     string
		door     Door
		fill     string // u1 is here: the zone is at its maximum
		u2       string // where u2 is recorded ("" never seen: outside)
		wantInto string
	}{
		{"an exit made two-way (from: site, to: outside), the way back in", Door{From: "site", To: Outside, Direction: Both}, "site", "", "site"},
		{"a lab's door drawn from the lab (from: lab, to: zone-b), into the lab from zone-b", Door{From: "lab", To: "zone-b", Direction: Both}, "lab", "zone-b", "lab"},
		{"the same door, into the lab from another lab in zone-b (new since 2026-12-08)", Door{From: "lab", To: "zone-b", Direction: Both}, "lab", "lab-2", "lab"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := newP(t, Options{Zones: zones, Gate: "door", Door: c.door, Passback: PassbackOptions{Mode: PassbackHard}})
			mustApply(t, p, ev("other", 1, 0, "u1", c.fill))
			if c.u2 != "" {
				mustApply(t, p, ev("other", 2, time.Minute, "u2", c.u2))
			}
			v := p.Check("u2", t0.Add(10*time.Minute), ViewSite)
			if v.To != c.wantInto {
				t.Fatalf("passage %s -> %s, want into %s", v.From, v.To, c.wantInto)
			}
			if v.Exit || v.Allowed {
				t.Errorf("u2 going INTO %s (at its hard maximum) is taken for an exit and let through: %+v", v.To, v)
			}
		})
	}
}
