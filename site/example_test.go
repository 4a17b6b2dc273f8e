package site_test

import (
	"fmt"
	"time"

	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

// An entrance gate of a site with a hazardous zone: the same worker
// entering twice is denied, the hazardous-zone door wants a path, and an
// evacuation lists who is missing.
func Example() {
	zones := []site.Zone{{Name: "site"}, {Name: "zone-b", Inside: "site", Hazardous: true, MaxOccupancy: 10, OccupancyHard: true}}
	now := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	entrance, err := site.New(site.Options{Site: "plant", Gate: "entrance", Zones: zones,
		Door:     site.Door{From: site.Outside, To: "site", Direction: site.Entry},
		Passback: site.PassbackOptions{Mode: site.PassbackHard}, Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}

	v := entrance.Check("w1", now, site.ViewSite)
	fmt.Println("first entry:", v.Allowed, v.From, "→", v.To)
	// The gate's own granted event comes back through the site topic.
	entrance.ApplyEvent(record.Event{EventID: "e-1", Seq: 1, TS: record.Timestamp(now), Gate: "entrance",
		Decision: record.DecisionGranted, UserID: "w1", ZoneFrom: v.From, ZoneTo: v.To})
	entrance.ApplyEvent(record.Event{EventID: "e-2", Seq: 2, TS: record.Timestamp(now), Gate: "entrance",
		Decision: record.DecisionGranted, UserID: "w2", ZoneFrom: v.From, ZoneTo: v.To})

	v = entrance.Check("w1", now.Add(time.Minute), site.ViewSite)
	fmt.Println("second entry:", v.Allowed, v.Code)

	entrance.StartEvacuation(site.Evacuation{ID: "evac-1", Since: now.Add(time.Hour), By: "fire_alarm"})
	entrance.Muster("w1", "", now.Add(time.Hour+5*time.Minute))
	l := entrance.MusterList()
	fmt.Println("present:", len(l.Present), "mustered:", l.Mustered[0].Person, "missing:", l.Missing[0].ID)
	fmt.Println("occupancy:", entrance.Occupancy())
	// Output:
	// first entry: true outside → site
	// second entry: false passback_same_zone
	// present: 2 mustered: w1 missing: w2
	// occupancy: map[site:2 zone-b:0]
}
