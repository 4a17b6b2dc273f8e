package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/mqtt/outbox"
)

// SiteCommandsFileName is the durable queue of this gate's cmd/evacuate
// (SiteOptions.CommandOutboxPath), beside the event outbox by default.
const SiteCommandsFileName = "mqtt-site-commands.log"

// queuedEvacuate is a cmd/evacuate waiting in the command outbox. It is
// signed when it is sent, with the clock and a fresh nonce then: a command
// signed when it was decided would be refused as stale by every peer once
// the broker had been away for longer than max_skew.
type queuedEvacuate struct {
	Action string `json:"action"`
	ID     string `json:"id"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Issued is when this gate decided it (Unix ms), for the logs.
	Issued int64 `json:"issued"`
}

// PublishEvacuate queues the start or the end of an evacuation this gate
// decided (its fire-alarm input, the admin API) for every gate of the
// site: the signed <site_topic>/cmd/evacuate, which peers verify and so
// may trust with their relay, which the unsigned retained evacuation state
// never is. ev.ID is required: the peers must name the evacuation as this
// gate does.
//
// Like PublishEvent it returns once the command is written and fsynced in
// its own outbox (SiteOptions.CommandOutboxPath), connected or not: it is
// sent when the broker is reachable, in order, at least once, also after a
// restart, ahead of any event backlog. It is signed when it is sent (ts
// the clock then, a fresh nonce, entered in this gate's replay memory, its
// echo dropped), so a command held back by an outage arrives as fresh as
// any and the peers verify it by the usual rules. A start is not sent when
// its evacuation is over at sending time: SiteSource.EvacuationEnded says
// so, or its end is queued behind it (the presence may not know the id:
// its state lost at boot, a save failed before a crash). The peers must
// not hold their relays for it even briefly. A command that cannot be read
// or can no longer be signed (ErrMalformed: a record older than a rule on
// ids) is dropped with an error and SiteOptions.CommandDropped; other send
// errors are retried. The
// returned Evacuate has Issued set and no Nonce (chosen at sending).
// Errors: ErrSiteCommandsOff, ErrClosed, ErrOutboxFull, a bad id or
// action, a disk error.
func (c *Client) PublishEvacuate(ev Evacuate) (Evacuate, error) {
	if !c.SiteCommands() || c.cmdBox == nil {
		return Evacuate{}, ErrSiteCommandsOff
	}
	if c.isClosed() {
		return Evacuate{}, ErrClosed
	}
	if ev.ID == "" || (ev.Action != EvacuateStart && ev.Action != EvacuateEnd) {
		return Evacuate{}, fmt.Errorf("mqtt: evacuate: needs an id and action %q or %q", EvacuateStart, EvacuateEnd)
	}
	if ev.Issued.IsZero() {
		ev.Issued = c.clock.Now()
	}
	// Refused now rather than when it is sent.
	check, err := json.Marshal(SiteCommandBody{TS: ev.Issued.Unix(), Nonce: rand.Text(), Topic: c.site.topics.CmdEvacuate,
		Action: ev.Action, ID: ev.ID, By: ev.By, Reason: ev.Reason})
	if err == nil {
		_, err = parseSiteBody(siteCmdEvacuate, check)
	}
	if err != nil {
		return Evacuate{}, fmt.Errorf("mqtt: evacuate: %w", err)
	}
	q := mustJSON(queuedEvacuate{Action: ev.Action, ID: ev.ID, By: ev.By, Reason: ev.Reason, Issued: ev.Issued.UnixMilli()})
	if _, err := c.cmdBox.Append(q); err != nil {
		if errors.Is(err, outbox.ErrFull) {
			return Evacuate{}, fmt.Errorf("%w: %w", ErrOutboxFull, err)
		}
		return Evacuate{}, fmt.Errorf("mqtt: queue evacuate %s %s: %w", ev.Action, ev.ID, err)
	}
	c.log.Info("mqtt site evacuate command queued", "action", ev.Action, "id", ev.ID, "by", ev.By, "connected", c.Connected())
	return Evacuate{Action: ev.Action, ID: ev.ID, By: ev.By, Reason: ev.Reason, Issued: ev.Issued}, nil
}

// sendSiteCommands sends the command outbox over one connection, oldest
// first, one at a time (they are rare), acknowledging each on its PUBACK.
// A command that cannot be sent now is tried again after AckTimeout; one
// that cannot be read is dropped with an error (it never could be).
func (c *Client) sendSiteCommands(ctx context.Context, cli paho.Client) {
	box := c.cmdBox
	for ctx.Err() == nil {
		recs, err := box.Next(0, 1)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("mqtt site command outbox not read", "err", err)
				sleep(ctx, c.opts.AckTimeout)
			}
			continue
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
			case <-box.Notify():
			}
			continue
		}
		if err := c.sendQueued(ctx, cli, recs[0]); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("mqtt site command not sent: retrying", "retry_in", c.opts.AckTimeout, "err", err)
				sleep(ctx, c.opts.AckTimeout)
			}
			continue
		}
		if err := box.Ack(recs[0].ID); err != nil {
			// Sent again later: the peers take an evacuation's start or
			// end twice alike (by its id).
			c.log.Error("mqtt site command outbox ack failed", "err", err)
			sleep(ctx, c.opts.AckTimeout)
			continue
		}
		// The ack is stored; only the file stays larger until a retry works.
		if err := box.CompactError(); err != nil {
			c.log.Warn("mqtt site command outbox compaction failed", "err", err, "file_bytes", box.FileSize())
		}
	}
}

// sendQueued signs and sends one queued command; nil also when it is
// dropped: unreadable, malformed (it never could be sent, and would block
// the queue forever), or a start whose evacuation is known to be over.
func (c *Client) sendQueued(ctx context.Context, cli paho.Client, r outbox.Record) error {
	var q queuedEvacuate
	if err := decodeStrict(r.Payload, &q); err != nil {
		c.log.Error("mqtt queued site command unreadable: dropped", "err", err)
		c.commandDropped("", "", err)
		return nil
	}
	decided := time.UnixMilli(q.Issued)
	if q.Action == EvacuateStart {
		// Both: the shared state, asked at sending (an end from another
		// gate or an operator meanwhile, queued here or not), and this
		// queue (an id the presence does not know, e.g. its state file was
		// lost at boot).
		if c.site.opts.Source != nil && c.site.opts.Source.EvacuationEnded(q.ID) {
			c.log.Info("mqtt site evacuate start not sent: the evacuation is over", "id", q.ID, "decided", decided.UTC())
			return nil
		}
		ended, err := c.endQueuedAfter(r.ID, q.ID)
		if err != nil {
			return fmt.Errorf("evacuate start %s: look for its end in the queue: %w", q.ID, err)
		}
		if ended {
			c.log.Info("mqtt site evacuate start not sent: its end is queued behind it", "id", q.ID, "decided", decided.UTC())
			return nil
		}
	}
	body := SiteCommandBody{TS: c.clock.Now().Unix(), Nonce: rand.Text(), Topic: c.site.topics.CmdEvacuate,
		Action: q.Action, ID: q.ID, By: q.By, Reason: q.Reason}
	payload, err := signChecked(siteCmdEvacuate, body, c.site.opts.Secret)
	var now time.Time
	if err == nil {
		now, _, err = c.sendPayload(ctx, cli, body, payload)
	}
	if errors.Is(err, ErrMalformed) {
		c.log.Error("mqtt queued site command malformed: dropped", "id", q.ID, "action", q.Action, "decided", decided.UTC(), "err", err)
		c.commandDropped(q.Action, q.ID, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("evacuate %s %s: %w", q.Action, q.ID, err)
	}
	c.log.Info("mqtt site evacuate command sent", "action", q.Action, "id", q.ID, "by", q.By, "nonce", body.Nonce,
		"late", now.Sub(decided).Round(time.Second))
	go c.watchEcho(ctx, payload, q.Action, q.ID)
	return nil
}

// ErrNotDelivered: the broker acknowledged a command of this gate but
// never delivered it back (watchEcho); the daemon alerts broker_dropped.
var ErrNotDelivered = errors.New("mqtt: not delivered by the broker")

// watchEcho says so when this gate's own cmd/evacuate has not come back
// from the broker within AckTimeout of its PUBACK. With MQTT 3.1.1 a
// broker acknowledges a publish its ACL denies, then drops it: a site
// whose ACL let only its console write cmd/# lost every gate's fire alarm
// command, taken as sent (found by a red-team pass). The command is not
// sent again (a gate that may not read the topic gets no echo either, and
// its queue must not stall before an end): its loss is logged as an error
// and told to SiteOptions.CommandDropped (the daemon's operator alert). A
// connection lost meanwhile says nothing: the echo may be lost with it.
func (c *Client) watchEcho(ctx context.Context, payload []byte, action, id string) {
	t := time.NewTimer(c.opts.AckTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if ctx.Err() != nil || !c.site.takeSent(payload) {
		return // back, or the connection went
	}
	err := fmt.Errorf("%w: the broker acknowledged it but did not deliver it back within %s: its ACL may deny this gate publishing (or reading) %s; MQTT 3.1.1 cannot say which", ErrNotDelivered, c.opts.AckTimeout, c.site.topics.CmdEvacuate)
	c.log.Error("mqtt site evacuate command not delivered by the broker", "action", action, "id", id, "err", err)
	c.commandDropped(action, id, err)
}

// endQueuedAfter reports whether the command outbox holds, after record
// after, the end of evacuation id.
func (c *Client) endQueuedAfter(after uint64, id string) (bool, error) {
	for {
		recs, err := c.cmdBox.Next(after, 64)
		if err != nil || len(recs) == 0 {
			return false, err
		}
		for _, r := range recs {
			var q queuedEvacuate
			if decodeStrict(r.Payload, &q) == nil && q.Action == EvacuateEnd && q.ID == id {
				return true, nil
			}
			after = r.ID
		}
	}
}

// commandDropped tells SiteOptions.CommandDropped (if set) that a queued
// command was dropped unsent: a lost end leaves the peers holding their
// relays open, a lost start leaves them closed.
func (c *Client) commandDropped(action, id string, err error) {
	if f := c.site.opts.CommandDropped; f != nil {
		f(action, id, err)
	}
}
