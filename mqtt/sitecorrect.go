package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
)

// maxOwnCommands bounds the memory of this gate's own site commands
// waiting to come back (one that never comes back is forgotten).
const maxOwnCommands = 64

// SiteCommands reports whether this gate sends and accepts the signed site
// commands (zones on and a command secret set).
func (c *Client) SiteCommands() bool {
	return c.site != nil && c.site.opts.Commands && c.verifier != nil
}

// PublishCorrect sends a correction to every gate of the site at once: the
// signed <site_topic>/cmd/correct of an operator (docs/mqtt.md), signed
// with the site command secret, a fresh nonce and ts = cr.Issued (the
// clock when zero), in whole seconds. Peers apply it as they apply an
// operator's command, stamped with the signed ts; so must the caller, with
// the returned Correct's Issued. Its nonce enters this gate's replay
// memory before it is published, and the copy the broker sends back is
// dropped: the command is neither refused nor applied twice here.
//
// It needs a live connection (ErrNotConnected): a correction sent later
// could be older than max_skew on arrival, and the snapshot carries it
// anyway. ErrSiteCommandsOff when the site commands are off.
func (c *Client) PublishCorrect(ctx context.Context, cr Correct) (Correct, error) {
	if !c.SiteCommands() {
		return Correct{}, ErrSiteCommandsOff
	}
	if c.isClosed() {
		return Correct{}, ErrClosed
	}
	s := c.site
	if cr.Issued.IsZero() {
		cr.Issued = c.clock.Now()
	}
	body := SiteCommandBody{TS: cr.Issued.Unix(), Nonce: rand.Text(), Topic: s.topics.CmdCorrect,
		UserID: cr.UserID, Zone: cr.Zone, By: cr.By, Reason: cr.Reason}
	raw, err := json.Marshal(body)
	if err != nil {
		return Correct{}, fmt.Errorf("mqtt: correct: %w", err)
	}
	// Refused here rather than by every peer.
	if _, err := parseSiteBody(siteCmdCorrect, raw); err != nil {
		return Correct{}, fmt.Errorf("mqtt: correct: %w", err)
	}
	payload, err := SignSiteCommand(s.opts.Secret, body)
	if err != nil {
		return Correct{}, fmt.Errorf("mqtt: %w", err)
	}
	cli := c.live.Load()
	if cli == nil || !c.Connected() {
		return Correct{}, ErrNotConnected
	}
	now, issued, err := c.verifier.admit(body.TS, body.Nonce)
	if err != nil {
		return Correct{}, fmt.Errorf("mqtt: correct: %w", err)
	}
	s.addSent(payload)
	if err := waitToken(ctx, (*cli).Publish(s.topics.CmdCorrect, 1, false, payload), c.opts.AckTimeout); err != nil {
		s.takeSent(payload)
		return Correct{}, fmt.Errorf("mqtt: publish %s: %w", s.topics.CmdCorrect, err)
	}
	c.log.Info("mqtt site correct command sent", "user_id", cr.UserID, "zone", cr.Zone, "by", cr.By, "nonce", body.Nonce)
	return Correct{UserID: cr.UserID, Zone: cr.Zone, By: cr.By, Reason: cr.Reason, Nonce: body.Nonce, Issued: issued, Received: now}, nil
}

// addSent remembers a command payload this gate published.
func (s *siteLink) addSent(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) >= maxOwnCommands {
		s.sent = s.sent[1:]
	}
	s.sent = append(s.sent, p)
}

// takeSent reports whether p is a command this gate published and not
// seen back yet, and forgets it.
func (s *siteLink) takeSent(p []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.sent {
		if bytes.Equal(p, q) {
			s.sent = append(s.sent[:i], s.sent[i+1:]...)
			return true
		}
	}
	return false
}
