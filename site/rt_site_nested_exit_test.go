package site

import (
	"testing"
	"time"
)

// Red team (rt-site). A two-way door (direction both) sends "a person
// recorded in to" back to from; Destination compares the zone for
// equality only. A worker recorded in a zone nested in the door's To
// (zone-b-lab inside zone-b, entered through the lab's own door, whose
// way out is free or is not a gate) who reaches zone-b's two-way door to
// leave is taken as ENTERING zone-b: hard anti-passback denies the exit
// (passback_same_zone, "You are already recorded inside zone-b"), and
// during an evacuation the session is refused at once (exitFor is false:
// "Evacuation — leave by the nearest exit") at the very door out of the
// hazardous zone. docs/site.md: "Exits are never denied (safety)"; and
// "Inside zone Z ... means the person's zone is Z or a zone nested in Z".
func TestRTTwoWayDoorLetsOutAWorkerFromANestedZone(t *testing.T) {
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
