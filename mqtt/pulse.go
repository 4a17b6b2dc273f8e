package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/facegate/facegate/mqtt/outbox"
)

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
	// record_failed or shutdown.
	Reason string `json:"reason,omitempty"`
	// EnergisedAt is when the line was energised (absent when it was not).
	EnergisedAt string `json:"energised_at,omitempty"`
	// DurationMS is how long the line was energised (0 when it was not).
	DurationMS int64 `json:"duration_ms"`
}

func validPulse(p PulseResult) error {
	if p.EventID == "" || len(p.EventID) > 128 {
		return fmt.Errorf("%w: relay result event_id %q is empty or longer than 128 bytes", ErrInvalidEvent, p.EventID)
	}
	switch p.Relay {
	case RelayPulsed, RelayCut, RelayFault, RelayNotEnergised, RelayInterrupted:
	default:
		return fmt.Errorf("%w: relay result %q is not pulsed, cut, fault, not_energised or interrupted", ErrInvalidEvent, p.Relay)
	}
	return nil
}

// PublishPulse queues a relay result durably, like PublishEvent (one write
// and fsync of the outbox); it is delivered on <prefix>/event/relay after
// its event.
func (c *Client) PublishPulse(p PulseResult) error {
	p.Kind = PulseKind
	if err := validPulse(p); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	if p.Site == "" {
		p.Site = c.opts.Site
	}
	if p.Gate == "" {
		p.Gate = c.opts.Gate
	}
	if p.TS == "" {
		p.TS = timestamp(c.clock.Now())
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return c.enqueue(b, "relay result of "+p.EventID)
}

// enqueue appends one record to the outbox, mapping its errors.
func (c *Client) enqueue(b []byte, what string) error {
	if _, err := c.box.Append(b); err != nil {
		switch {
		case errors.Is(err, outbox.ErrFull):
			return fmt.Errorf("%w: %w", ErrOutboxFull, err)
		case errors.Is(err, outbox.ErrTooLarge):
			return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		case errors.Is(err, outbox.ErrClosed):
			return ErrClosed
		}
		return fmt.Errorf("mqtt: queue %s: %w", what, err)
	}
	return nil
}

// recordTopic is the topic of a queued record: relay results go to
// <prefix>/event/relay, everything else (events) to <prefix>/event.
func (c *Client) recordTopic(payload []byte) string {
	var k struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(payload, &k) == nil && k.Kind == PulseKind {
		return c.topics.Event + "/relay"
	}
	return c.topics.Event
}
