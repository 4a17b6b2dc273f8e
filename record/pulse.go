package record

// How a granted decision's relay pulse went: Event.Relay is RelayPending
// (the event is written before the relay moves); the PulseResult that
// follows on <prefix>/event/relay holds one of the others.
const (
	RelayPending      = "pending"       // in the event: the outcome follows
	RelayPulsed       = "pulsed"        // energised for the whole pulse, then released
	RelayCut          = "cut"           // energised, released early (shutdown, halt)
	RelayFault        = "fault"         // energised; the line could not be driven inactive
	RelayNotEnergised = "not_energised" // the gate never opened for this grant (see Reason)
	RelayInterrupted  = "interrupted"   // the daemon died during the grant: unknown whether it opened
)

// PulseKind is PulseResult.Kind, which also tells the outbox's delivery
// which topic a queued record goes to.
const PulseKind = "relay"

// PulseResult is the payload of <prefix>/event/relay: how the relay pulse of
// one granted event ended, written after the pulse (QoS 1, never retained,
// durable like the event). Join it to its event by EventID.
type PulseResult struct {
	Kind    string `json:"kind"` // always PulseKind
	EventID string `json:"event_id"`
	TS      string `json:"ts"` // when the pulse ended (or was found interrupted)
	Site    string `json:"site"`
	Gate    string `json:"gate"`
	// Relay is RelayPulsed, RelayCut, RelayFault, RelayNotEnergised or
	// RelayInterrupted.
	Relay string `json:"relay"`
	// Reason says why the relay was not energised: relay_failed,
	// record_failed, stale_approval or shutdown.
	Reason string `json:"reason,omitempty"`
	// EnergisedAt is when the line was energised (absent when it was not).
	EnergisedAt string `json:"energised_at,omitempty"`
	// DurationMS is how long the line was energised (0 when it was not).
	DurationMS int64 `json:"duration_ms"`
}
