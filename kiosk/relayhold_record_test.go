package kiosk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The audit record of the relay held open for an
// evacuation (and of its release) is the only durable record of that
// opening, joined to the evacuation by evacuation_id. RelayHeld clips the
// id to 40 bytes, and the ids the gates make are "evac-<UTC ms>-<6
// random>-<gate>" (33 bytes plus the gate's name, up to 64): for any gate
// name longer than 7 characters the record names an evacuation that does
// not exist ("evac-20261207T090000.000Z-Ab3dE9-north-t…"), so the hold
// cannot be matched with its evacuation's events (their evacuation_id is
// whole), its muster list or its alert.
func TestRelayHoldRecordKeepsTheEvacuationID(t *testing.T) {
	r := newRig(t, nil)
	id := "evac-20261207T090000.000Z-Ab3dE9-north-turnstile" // as siteWire.Evacuate makes it
	r.k.RelayHeld(true, id)
	r.k.RelayHeld(false, id)
	b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2: %s", len(lines), b)
	}
	for _, l := range lines {
		var rec relayHoldRecord
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.EvacuationID != id {
			t.Errorf("relay_hold (held %v) records evacuation_id %q, not the evacuation's %q", rec.Held, rec.EvacuationID, id)
		}
	}
}
