package mqtt

import "github.com/facegate/facegate/record"

// The decision record moved to package record (the kiosk, the audit log and
// the demo use it without linking the MQTT client). These aliases keep code
// written against mqtt.Event compiling; nothing in facegate uses them.

// Deprecated: use record.Decision.
type Decision = record.Decision

// Deprecated: use record.DecisionGranted, record.DecisionDenied and record.DecisionError.
const (
	DecisionGranted = record.DecisionGranted
	DecisionDenied  = record.DecisionDenied
	DecisionError   = record.DecisionError
)

// Deprecated: use record.Event.
type Event = record.Event

// Deprecated: use record.Liveness.
type Liveness = record.Liveness

// Deprecated: use record.Auth.
type Auth = record.Auth

// Deprecated: use record.Score.
type Score = record.Score

// Deprecated: use record.Error.
type Error = record.Error

// Deprecated: use record.Latency.
type Latency = record.Latency

// Deprecated: use the record.Relay… constants.
const (
	RelayPending      = record.RelayPending
	RelayPulsed       = record.RelayPulsed
	RelayCut          = record.RelayCut
	RelayFault        = record.RelayFault
	RelayNotEnergised = record.RelayNotEnergised
	RelayInterrupted  = record.RelayInterrupted
)

// Deprecated: use record.PulseKind.
const PulseKind = record.PulseKind

// Deprecated: use record.PulseResult.
type PulseResult = record.PulseResult

// Deprecated: use record.Privacy.
type Privacy = record.Privacy

// Deprecated: use record.PrivacyPlain, record.PrivacyHash and record.PrivacyOmit.
const (
	PrivacyPlain = record.PrivacyPlain
	PrivacyHash  = record.PrivacyHash
	PrivacyOmit  = record.PrivacyOmit
)
