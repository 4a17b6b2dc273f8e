package main

import (
	"slices"
	"testing"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/site"
)

// TestEveryRaisedAlertCodeIsAHomeAssistantEventType: Home
// Assistant's "Operator alert" event entity knows the codes of
// mqtt.AlertCodes (its event_types) and shows any other as "other";
// docs/mqtt.md says "mqtt.AlertCodes lists every code" and documents each.
// An automation on event_type (the HA UI offers only the declared types)
// never fires for a code missing from the list.
func TestEveryRaisedAlertCodeIsAHomeAssistantEventType(t *testing.T) {
	raised := []string{
		// kiosk
		kiosk.ReasonAPIPrefix + "config", kiosk.ReasonAPIPrefix + "client", kiosk.AlertAPIInvalidResponse,
		kiosk.ReasonRelayFailed, kiosk.AlertRelayFault, kiosk.AlertRelayInterrupted, kiosk.AlertRecordFailed,
		"state_dir", kiosk.AlertDiskLow, kiosk.AlertAuditLog, kiosk.AlertOutboxFilling, kiosk.AlertOutboxCorrupt,
		kiosk.AlertLivenessLockout, kiosk.AlertConfigReload,
		"door_forced", "door_held_open", "tamper_alarm", "input_fault",
		// site
		kiosk.AlertPassbackSoft, kiosk.AlertOccupancyReached, kiosk.AlertOccupancyBelow, kiosk.AlertEvacuation,
		kiosk.AlertSiteUnreachable, site.AlertSiteState,
		// mqtt
		"open_replay_memory",
	}
	for _, code := range raised {
		if !slices.Contains(mqtt.AlertCodes, code) {
			t.Errorf("alert code %q is raised (and documented in docs/mqtt.md) but is not in mqtt.AlertCodes: Home Assistant's Operator alert shows it as \"other\"", code)
		}
	}
}
