package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/facegate/facegate/mqtt/outbox"
	"github.com/facegate/facegate/record"
)

func validPulse(p record.PulseResult) error {
	if p.EventID == "" || len(p.EventID) > 128 {
		return fmt.Errorf("%w: relay result event_id %q is empty or longer than 128 bytes", ErrInvalidEvent, p.EventID)
	}
	switch p.Relay {
	case record.RelayPulsed, record.RelayCut, record.RelayFault, record.RelayNotEnergised, record.RelayInterrupted:
	default:
		return fmt.Errorf("%w: relay result %q is not pulsed, cut, fault, not_energised or interrupted", ErrInvalidEvent, p.Relay)
	}
	return nil
}

// PublishPulse queues a relay result durably, like PublishEvent (one write
// and fsync of the outbox); it is delivered on <prefix>/event/relay after
// its event.
func (c *Client) PublishPulse(p record.PulseResult) error {
	p.Kind = record.PulseKind
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
		p.TS = record.Timestamp(c.clock.Now())
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
	if json.Unmarshal(payload, &k) == nil && k.Kind == record.PulseKind {
		return c.topics.Event + "/relay"
	}
	return c.topics.Event
}
