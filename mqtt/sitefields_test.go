package mqtt

import (
	"errors"
	"strings"
	"testing"

	"github.com/facegate/facegate/record"
)

func TestValidEventSiteFields(t *testing.T) {
	base := record.Event{EventID: "e1", Decision: record.DecisionGranted}
	for _, tc := range []struct {
		name string
		set  func(*record.Event)
		ok   bool
	}{
		{"none", func(*record.Event) {}, true},
		{"entry", func(e *record.Event) {
			e.ZoneFrom, e.ZoneTo, e.Direction, e.SiteView = "site", "zone-b", "entry", "site"
		}, true},
		{"local soft", func(e *record.Event) {
			e.ZoneTo, e.Direction, e.SiteView, e.Passback = "Zone B (Lager)", "both", "local", "passback_same_zone"
		}, true},
		{"muster", func(e *record.Event) { e.Mode, e.EvacuationID = "muster", "evac-2026-11-22T07:40" }, true},
		{"gate mode", func(e *record.Event) { e.Mode = "gate" }, true},
		{"zone 64 bytes", func(e *record.Event) { e.ZoneTo = strings.Repeat("z", 64) }, true},
		{"zone 65 bytes", func(e *record.Event) { e.ZoneTo = strings.Repeat("z", 65) }, false},
		{"zone newline", func(e *record.Event) { e.ZoneTo = "a\nb" }, false},
		{"zone space", func(e *record.Event) { e.ZoneTo = " site" }, false},
		{"zone not utf8", func(e *record.Event) { e.ZoneTo = "\xff" }, false},
		{"from without to", func(e *record.Event) { e.ZoneFrom = "site" }, false},
		{"direction", func(e *record.Event) { e.Direction = "in" }, false},
		{"site view", func(e *record.Event) { e.SiteView = "global" }, false},
		{"mode", func(e *record.Event) { e.Mode = "kiosk" }, false},
		{"passback upper", func(e *record.Event) { e.Passback = "Passback" }, false},
		{"passback long", func(e *record.Event) { e.Passback = strings.Repeat("p", 65) }, false},
		{"evacuation id long", func(e *record.Event) { e.EvacuationID = strings.Repeat("e", 129) }, false},
		{"evacuation id control", func(e *record.Event) { e.EvacuationID = "e\x00" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := base
			tc.set(&ev)
			err := validEvent(ev)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}
