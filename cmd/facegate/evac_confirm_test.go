package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

// savedFirstRelay is fakeRelay that notes, at each Hold, whether the trust
// file already names the evacuation (it was saved before the hold).
type savedFirstRelay struct {
	fakeRelay
	path       string
	savedFirst []bool
}

func (s *savedFirstRelay) Hold() error {
	b, _ := os.ReadFile(s.path)
	s.savedFirst = append(s.savedFirst, strings.Contains(string(b), "evac-retained"))
	return s.fakeRelay.Hold()
}

// The fire alarm calls Evacuate on the site loop, and a new start now
// holds the relay before anything is saved ("a hung card must not keep the
// doors locked in a fire"). When the site already knows an evacuation
// learnt unsigned (a peer's retained state, which arrives before its
// signed command), the fire alarm's Evacuate takes the other path: it
// saves the trust file (fsync) and queues the signed command (fsync)
// first, and leaves the hold to the loop's next handle. A hung card stops
// the loop in that save: this gate's door stays locked in the fire.
func TestFireAlarmConfirmingAKnownEvacuationHoldsBeforeSaving(t *testing.T) {
	w, _, _ := relayWire(t, siteTestConfig(t, releaseYAML), nil)
	r := &savedFirstRelay{path: w.trustPath}
	w.relay = r
	ts := record.Timestamp(time.Now())
	w.SiteEvacuation(mqtt.Evacuation{Active: true, ID: "evac-retained", Since: ts, TS: ts, By: "fire-alarm@south", Gate: "south"})
	w.handle()
	if r.isHeld() {
		t.Fatal("held for the unsigned retained evacuation")
	}

	w.fireAlarm(gate.Event{Kind: gate.FireAlarm, Time: time.Now()}) // on the site loop
	if !r.isHeld() {
		t.Errorf("the fire alarm's Evacuate returned to the loop with the relay not held (a new start holds it before it saves)")
	}
	w.handle() // the loop's next turn, if it ever comes
	if !r.isHeld() {
		t.Fatal("relay never held")
	}
	if len(r.savedFirst) > 0 && r.savedFirst[0] {
		t.Errorf("the trust file was saved (fsync) before the relay was held: a hung card keeps the door locked")
	}
}
