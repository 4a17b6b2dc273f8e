package site

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

func TestCheck(t *testing.T) {
	entrance := Door{From: Outside, To: "site", Direction: Entry}
	exit := Door{From: "site", To: Outside, Direction: Exit}
	hazard := Door{From: "site", To: "zone-b", Direction: Entry}
	twoWay := Door{From: "site", To: "zone-b", Direction: Both}
	hard := PassbackOptions{Mode: PassbackHard}
	soft := PassbackOptions{Mode: PassbackSoft}

	tests := []struct {
		name    string
		door    Door
		pb      PassbackOptions
		zones   []Zone
		history []record.Event // applied before the check
		person  string
		at      time.Duration // check time after t0
		want    Verdict       // View is always ViewSite
	}{
		{"never seen enters the site", entrance, hard, nil, nil, "w1", time.Hour,
			Verdict{Allowed: true, From: Outside, To: "site"}},
		{"enters again: hard denies", entrance, hard, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Code: CodePassbackSameZone, From: Outside, To: "site"}},
		{"enters again: soft allows and flags", entrance, soft, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, Soft: true, Code: CodePassbackSameZone, From: Outside, To: "site"}},
		{"enters again: off allows", entrance, PassbackOptions{}, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, From: Outside, To: "site"}},
		{"in a zone nested in the site, enters the site", entrance, hard, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b")}, "w1", time.Hour,
			Verdict{Code: CodePassbackSameZone, From: Outside, To: "site"}},
		{"exited, enters again", entrance, hard, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("C", 1, time.Minute, "w1", Outside)}, "w1", time.Hour,
			Verdict{Allowed: true, From: Outside, To: "site"}},
		{"timed: record inside the window counts", entrance, PassbackOptions{Mode: PassbackHard, Window: 30 * time.Minute}, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site")}, "w1", 29 * time.Minute,
			Verdict{Code: CodePassbackSameZone, From: Outside, To: "site"}},
		{"timed: record older than the window does not", entrance, PassbackOptions{Mode: PassbackHard, Window: 30 * time.Minute}, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site")}, "w1", 31 * time.Minute,
			Verdict{Allowed: true, From: Outside, To: "site"}},
		{"hazardous zone without passing the entrance", hazard, hard, nil, nil, "w1", time.Hour,
			Verdict{Code: CodePassbackNoPath, From: "site", To: "zone-b"}},
		{"hazardous zone after the entrance", hazard, hard, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"hazardous zone from the office (not the door's from)", hazard, hard, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("O", 1, time.Minute, "w1", "office")}, "w1", time.Hour,
			Verdict{Code: CodePassbackNoPath, From: "site", To: "zone-b"}},
		{"require_path none: no path rule", hazard, PassbackOptions{Mode: PassbackHard, RequirePath: RequirePathNone}, nil,
			nil, "w1", time.Hour, Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"require_path hazardous: the office needs none", Door{From: "site", To: "office", Direction: Entry}, hard, nil,
			nil, "w1", time.Hour, Verdict{Allowed: true, From: "site", To: "office"}},
		{"require_path all: the office needs one", Door{From: "site", To: "office", Direction: Entry},
			PassbackOptions{Mode: PassbackHard, RequirePath: RequirePathAll}, nil,
			nil, "w1", time.Hour, Verdict{Code: CodePassbackNoPath, From: "site", To: "office"}},
		{"timed: an expired record is unknown, no path rule", hazard, PassbackOptions{Mode: PassbackHard, Window: time.Minute}, nil,
			[]record.Event{ev("O", 1, 0, "w1", "office")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"exit while outside: flagged, never denied", exit, hard, nil, nil, "w1", time.Hour,
			Verdict{Allowed: true, Soft: true, Code: CodePassbackSameZone, From: "site", To: Outside, Exit: true}},
		{"exit from zone-b through the site exit: allowed, no flag (hazardous only)", exit, hard, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: Outside, Exit: true}},
		{"exit from zone-b, require all: flagged no path", exit, PassbackOptions{Mode: PassbackHard, RequirePath: RequirePathAll}, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b")}, "w1", time.Hour,
			Verdict{Allowed: true, Soft: true, Code: CodePassbackNoPath, From: "site", To: Outside, Exit: true}},
		{"two-way door, in the site: goes in", twoWay, hard, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"two-way door, in zone-b: goes out (an exit)", twoWay, hard, nil,
			[]record.Event{ev("A", 1, 0, "w1", "site"), ev("B", 1, time.Minute, "w1", "zone-b")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "zone-b", To: "site", Exit: true}},
		{"zone-b full (hard): denied", hazard, PassbackOptions{}, nil,
			[]record.Event{ev("B", 1, 0, "x1", "zone-b"), ev("B", 2, 0, "x2", "zone-b"), ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Code: CodeOccupancyFull, From: "site", To: "zone-b"}},
		{"zone-b one below the limit: allowed", hazard, PassbackOptions{}, nil,
			[]record.Event{ev("B", 1, 0, "x1", "zone-b"), ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"site full (soft) counts nested zones: flagged", entrance, PassbackOptions{},
			[]Zone{{Name: "site", MaxOccupancy: 2}, {Name: "zone-b", Inside: "site"}},
			[]record.Event{ev("B", 1, 0, "x1", "zone-b"), ev("B", 2, 0, "x2", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, Soft: true, Code: CodeOccupancyFull, From: Outside, To: "site"}},
		{"full parent, moving within it: not counted again", hazard, PassbackOptions{},
			[]Zone{{Name: "site", MaxOccupancy: 2, OccupancyHard: true}, {Name: "zone-b", Inside: "site"}},
			[]record.Event{ev("B", 1, 0, "x1", "site"), ev("B", 2, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true, From: "site", To: "zone-b"}},
		{"soft passback and hard occupancy: the hard one decides", hazard, soft,
			nil, []record.Event{ev("B", 1, 0, "x1", "zone-b"), ev("B", 2, 0, "x2", "zone-b")}, "w1", time.Hour,
			Verdict{Code: CodeOccupancyFull, From: "site", To: "zone-b"}},
		{"no door (muster kiosk): always allowed", Door{}, hard, nil, []record.Event{ev("A", 1, 0, "w1", "site")}, "w1", time.Hour,
			Verdict{Allowed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newP(t, Options{Zones: tc.zones, Door: tc.door, Passback: tc.pb})
			mustApply(t, p, tc.history...)
			got := p.Check(tc.person, t0.Add(tc.at), ViewSite)
			if (got.Code == "") != (got.Message == "") {
				t.Errorf("code %q with message %q", got.Code, got.Message)
			}
			got.Message = ""
			tc.want.View = ViewSite
			if got != tc.want {
				t.Errorf("Check = %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

func TestCheckEchoesViewAndNamesTheZone(t *testing.T) {
	p, _ := newP(t, Options{Door: Door{From: Outside, To: "site", Direction: Entry}, Passback: PassbackOptions{Mode: PassbackHard}})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"))
	v := p.Check("w1", t0.Add(time.Minute), ViewLocal)
	if v.View != ViewLocal || v.Allowed || !strings.Contains(v.Message, "site") {
		t.Fatalf("Check = %+v, want a local denial naming the site", v)
	}
}

func TestDestination(t *testing.T) {
	p, _ := newP(t, Options{Door: Door{From: "site", To: "zone-b", Direction: Both}})
	if from, to := p.Destination("w1"); from != "site" || to != "zone-b" {
		t.Fatalf("outside: Destination = %s→%s, want site→zone-b", from, to)
	}
	mustApply(t, p, ev("B", 1, 0, "w1", "zone-b"))
	if from, to := p.Destination("w1"); from != "zone-b" || to != "site" {
		t.Fatalf("in zone-b: Destination = %s→%s, want zone-b→site", from, to)
	}
	q, _ := newP(t, Options{})
	if from, to := q.Destination("w1"); from != "" || to != "" {
		t.Fatalf("no door: Destination = %q→%q, want empty", from, to)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"outside declared", Options{Zones: []Zone{{Name: Outside}}}, `zones[0].name: "outside" is implicit`},
		{"unnamed", Options{Zones: []Zone{{}}}, "zones[0].name: a zone needs a name"},
		{"twice", Options{Zones: []Zone{{Name: "a"}, {Name: "a"}}}, `zones[1].name: "a" is declared twice (also zones[0])`},
		{"unknown parent", Options{Zones: []Zone{{Name: "a", Inside: "b"}}}, `zones[0].inside: "b" is not a declared zone`},
		{"cycle", Options{Zones: []Zone{{Name: "a", Inside: "b"}, {Name: "b", Inside: "a"}}}, `zones[0].inside: zone "a" lies inside itself`},
		{"negative max", Options{Zones: []Zone{{Name: "a", MaxOccupancy: -1}}}, "negative"},
		{"door direction", Options{Zones: siteZones(), Door: Door{From: Outside, To: "site", Direction: "in"}}, `direction "in"`},
		{"door zone", Options{Zones: siteZones(), Door: Door{From: Outside, To: "yard", Direction: Entry}}, `door.to: "yard" is not a declared zone or outside`},
		{"door loop", Options{Zones: siteZones(), Door: Door{From: "site", To: "site", Direction: Entry}}, `door.to: "site" is the door's from zone too`},
		{"door half", Options{Zones: siteZones(), Door: Door{To: "site", Direction: Entry}}, `door.from: "" is not a declared zone or outside`},
		{"mode", Options{Zones: siteZones(), Passback: PassbackOptions{Mode: "strict"}}, `mode "strict"`},
		{"require_path", Options{Zones: siteZones(), Passback: PassbackOptions{RequirePath: "some"}}, `require_path "some"`},
		{"window", Options{Zones: siteZones(), Passback: PassbackOptions{Window: -time.Second}}, "window"},
		{"reset_at", Options{Zones: siteZones(), ResetAt: "4:00"}, `reset_at: "4:00" is not a time of day`},
		{"reset_at range", Options{Zones: siteZones(), ResetAt: "24:00"}, `reset_at: "24:00" is not a time of day`},
		{"reset_at sign", Options{Zones: siteZones(), ResetAt: "+4:00"}, `reset_at: "+4:00" is not a time of day`},
		{"reset_at minutes", Options{Zones: siteZones(), ResetAt: "04:60"}, `reset_at: "04:60" is not a time of day`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
