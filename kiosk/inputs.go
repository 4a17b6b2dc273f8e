package kiosk

import (
	"fmt"
	"slices"
	"time"

	"github.com/facegate/facegate/record"
)

// inputKind is the "kind" of an audit record of a gate input.
const inputKind = "input"

// The gate inputs that need a person: each is an operator alert (log,
// operator_alerts_total, <prefix>/alert) and an audit record.
const (
	InputDoorForced   = "door-forced"
	InputDoorHeldOpen = "door-held-open"
	InputTamperAlarm  = "tamper-alarm"
	InputFault        = "input-fault"
	// InputExitPulseFailed: the relay could not be pulsed for an exit
	// press (nobody was let out with a fail-secure strike).
	InputExitPulseFailed = "exit-pulse-failed"
	// InputExitPulseStuck: the exit button's pulse energised the relay and
	// its line could not be driven inactive again (the door may stay
	// unlocked).
	InputExitPulseStuck = "exit-pulse-stuck"
)

var inputAlerts = map[string]struct{ code, msg string }{
	InputDoorForced:      {"door_forced", "the door was opened without a grant"},
	InputDoorHeldOpen:    {"door_held_open", "the door has been held open too long"},
	InputTamperAlarm:     {"tamper_alarm", "the tamper switch is active (enclosure opened?)"},
	InputFault:           {"input_fault", "a gate input could not be read"},
	InputExitPulseFailed: {ReasonRelayFailed, "the relay could not be pulsed for the exit button: nobody was let out"},
	InputExitPulseStuck:  {AlertRelayFault, "the relay line is stuck energised after the exit button's pulse (it could not be driven inactive): the door may stay unlocked"},
}

// inputAlertCodes are the alert codes of the gate inputs, sorted (their
// counters exist from the start, so that the first door forced open is an
// increase a Prometheus rule sees).
func inputAlertCodes() []string {
	var codes []string
	for _, a := range inputAlerts {
		codes = append(codes, a.code)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// inputRecord is an audit line of a gate input.
type inputRecord struct {
	Kind   string `json:"kind"` // inputKind
	Input  string `json:"input"`
	Detail string `json:"detail,omitempty"`
	// Repeated counts the same input's repeats from Since to TS (one
	// line for a window of inputQuiet, inputdamp.go); 0 for one input.
	Repeated int    `json:"repeated,omitempty"`
	Since    string `json:"since,omitempty"`
	TS       string `json:"ts"`
	Site     string `json:"site"`
	Gate     string `json:"gate"`
}

// GateInput records a gate input that needs a person (one of the Input
// constants; others are ignored) at when, with an optional detail: an
// audit line and an operator alert. Safe from any goroutine; it may block
// for one audit write.
func (k *Kiosk) GateInput(input, detail string, when time.Time) {
	a, ok := inputAlerts[input]
	if !ok {
		return
	}
	if !k.inputs.admit(input, detail, when, k.inputRepeats) {
		// Counted: written, and alerted, with the window's count.
		k.metrics.alerts.WithLabelValues(a.code).Inc()
		return
	}
	rec := inputRecord{Kind: inputKind, Input: input, Detail: clip(detail), TS: record.Timestamp(when), Site: k.site, Gate: k.gate}
	k.writeAudit(rec, "input "+input)
	msg := a.msg
	if rec.Detail != "" {
		msg += ": " + rec.Detail
	}
	k.alert(a.code, msg, "")
}

// InputExitPressed is the audit record of an exit button press: the gate
// pulsed the relay itself (egress never waits for a disk), and the kiosk
// records that opening as it happens. No alert: it is an ordinary exit.
const InputExitPressed = "exit-pressed"

// ExitPressed records an opening by the exit button at when: an audit
// line. Safe from any goroutine; it may block for one audit write.
func (k *Kiosk) ExitPressed(when time.Time) {
	k.metrics.otherOpenings.WithLabelValues(openingExitButton).Inc()
	k.writeAudit(inputRecord{Kind: inputKind, Input: InputExitPressed, TS: record.Timestamp(when), Site: k.site, Gate: k.gate},
		"an exit button opening")
}

// The causes of facegate_other_openings_total.
const (
	openingExitButton     = "exit_button"
	openingEvacuationHold = "evacuation_hold"
)

// relayHoldKind is the "kind" of the audit record of the relay held open
// for an evacuation, or released after it.
const relayHoldKind = "relay_hold"

// maxRecordedEvacuationID bounds the evacuation id of a relay_hold record:
// the site's own bound (mqtt's maxEvacuationID), so that a real id is kept
// whole and the record joins its evacuation.
const maxRecordedEvacuationID = 128

// relayHoldRecord is that audit line.
type relayHoldRecord struct {
	Kind         string `json:"kind"` // relayHoldKind
	Held         bool   `json:"held"`
	EvacuationID string `json:"evacuation_id"`
	// Reason says why a hold ended before its evacuation did
	// ("shutdown": the daemon stopping drove the line inactive).
	Reason string `json:"reason,omitempty"`
	TS     string `json:"ts"`
	Site   string `json:"site"`
	Gate   string `json:"gate"`
}

// RelayHeld records that the relay was just held open (held) for
// evacuation id, or released after it: an audit line. The hold itself does not
// wait for the disk. Safe from any goroutine; it may block for one audit
// write.
func (k *Kiosk) RelayHeld(held bool, evacuationID string) {
	if held {
		k.metrics.otherOpenings.WithLabelValues(openingEvacuationHold).Inc()
	}
	k.writeAudit(relayHoldRecord{Kind: relayHoldKind, Held: held, EvacuationID: clipTo(evacuationID, maxRecordedEvacuationID), TS: record.Timestamp(k.now()), Site: k.site, Gate: k.gate},
		"the relay held or released for an evacuation")
}

// HoldEndedByShutdown records that the daemon stopping released the relay
// held for evacuation id, which is still on: the audit log must not end
// on a hold the door no longer keeps.
func (k *Kiosk) HoldEndedByShutdown(evacuationID string) {
	k.writeAudit(relayHoldRecord{Kind: relayHoldKind, Held: false, EvacuationID: clipTo(evacuationID, maxRecordedEvacuationID), Reason: ReasonShutdown, TS: record.Timestamp(k.now()), Site: k.site, Gate: k.gate},
		"the relay released at shutdown during an evacuation")
}

// recordsLostKind is the "kind" of the audit record that counts records
// of openings outside sessions (exit presses, holds, gate inputs) dropped
// while the audit log hung: the count survives what the queue could not.
const recordsLostKind = "records_lost"

// recordsLostRecord is that audit line.
type recordsLostRecord struct {
	Kind  string         `json:"kind"` // recordsLostKind
	Lost  map[string]int `json:"lost"` // what → how many
	Since string         `json:"since"`
	TS    string         `json:"ts"`
	Site  string         `json:"site"`
	Gate  string         `json:"gate"`
}

// RecordsLost records that the records counted in lost (by what they
// were: "exit-pressed", "relay_hold", a gate input) could not be queued
// for the audit log since since: an audit line and an audit_log alert.
func (k *Kiosk) RecordsLost(lost map[string]int, since time.Time) {
	n := 0
	for _, c := range lost {
		n += c
	}
	k.writeAudit(recordsLostRecord{Kind: recordsLostKind, Lost: lost, Since: record.Timestamp(since), TS: record.Timestamp(k.now()), Site: k.site, Gate: k.gate},
		"the count of records lost")
	k.alert(AlertAuditLog, fmt.Sprintf("%d audit records of exit presses, holds or gate inputs were lost while the audit log did not keep up (since %s)", n, record.Timestamp(since)), "")
}

// writeAudit writes a record that is not a decision (nothing waits on it)
// to the audit log; a failure is counted and logged with what was lost.
func (k *Kiosk) writeAudit(rec any, what string) {
	if err := k.audit.write(rec); err != nil {
		k.metrics.auditFailures.Inc()
		k.log.Error("audit log write failed", "record", what, "err", err)
		// Nothing else holds it (no event is published for these): an
		// operator must hear of it even when the next write works.
		k.alert(AlertRecordFailed, "the audit record of "+what+" could not be written: "+clip(err.Error()), "")
	}
}
