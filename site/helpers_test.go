package site

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// t0 is the test day's morning; the tests' clocks start here.
var t0 = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// siteZones is the site of the spec: the site, a hazardous zone inside it
// with a limit of 2, and an office inside the site.
func siteZones() []Zone {
	return []Zone{
		{Name: "site", MaxOccupancy: 0},
		{Name: "zone-b", Inside: "site", Hazardous: true, MaxOccupancy: 2, OccupancyHard: true},
		{Name: "office", Inside: "site"},
	}
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newP builds a presence of the test site; o's zero fields take defaults.
func newP(t testing.TB, o Options) (*Presence, *clock) {
	t.Helper()
	c := &clock{t: t0}
	if o.Zones == nil {
		o.Zones = siteZones()
	}
	if o.Site == "" {
		o.Site = "plant"
	}
	if o.Gate == "" {
		o.Gate = "A"
	}
	if o.Now == nil {
		o.Now = c.now
	}
	if o.Log == nil {
		o.Log = quiet()
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, c
}

// ev is a granted passage event of gate at t0+offset moving user to zone.
func ev(gate string, seq uint64, offset time.Duration, user, zone string) record.Event {
	return record.Event{
		EventID: fmt.Sprintf("%s-%d", gate, seq), Seq: seq, TS: record.Timestamp(t0.Add(offset)),
		Site: "plant", Gate: gate, Decision: record.DecisionGranted, Reason: []string{"approved"},
		UserID: user, ZoneTo: zone, Relay: record.RelayPending,
	}
}

func mustApply(t testing.TB, p *Presence, es ...record.Event) {
	t.Helper()
	for _, e := range es {
		if _, err := p.ApplyEvent(e); err != nil {
			t.Fatalf("ApplyEvent(%s): %v", e.EventID, err)
		}
	}
}

// zoneOf is the person's zone.
func zoneOf(p *Presence, id string) string { return p.Person(id).Zone }
