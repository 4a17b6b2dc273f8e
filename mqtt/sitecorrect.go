package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
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
	var err error
	if cr.Issued, err = c.siteCommandTime(cr.Issued); err != nil {
		return Correct{}, err
	}
	body := SiteCommandBody{TS: cr.Issued.Unix(), Nonce: rand.Text(), Topic: c.site.topics.CmdCorrect,
		UserID: cr.UserID, Zone: cr.Zone, By: cr.By, Reason: cr.Reason}
	now, issued, err := c.publishSiteCommand(ctx, siteCmdCorrect, body)
	if err != nil {
		return Correct{}, fmt.Errorf("mqtt: correct: %w", err)
	}
	c.log.Info("mqtt site correct command sent", "user_id", cr.UserID, "zone", cr.Zone, "by", cr.By, "nonce", body.Nonce)
	return Correct{UserID: cr.UserID, Zone: cr.Zone, By: cr.By, Reason: cr.Reason, Nonce: body.Nonce, Issued: issued, Received: now}, nil
}

// PublishUnlock sends an unlock to every gate of the site at once: the
// signed <site_topic>/cmd/unlock of an operator, with submission_id
// "sha256:<u.Key>", a fresh nonce and ts = u.Issued (the clock when zero),
// in whole seconds. Like PublishCorrect it needs a live connection
// (ErrNotConnected; an unlock is not queued: sent later it could be older
// than max_skew on arrival) and drops its own copy coming back.
//
// The command is signed before it is sent, and the returned Unlock has
// its Nonce and Signed payload also when sending failed (not connected,
// the PUBACK not received in time): the gate lists that same command in
// its retained unlock list (SiteSource.Unlocks), which reaches the gates
// that missed it, and a command whose PUBACK was lost but which was
// delivered all the same is applied once, by its nonce. The returned
// error says why it was not sent; Signed is nil when it was not signed.
func (c *Client) PublishUnlock(ctx context.Context, u Unlock) (Unlock, error) {
	var err error
	if u.Issued, err = c.siteCommandTime(u.Issued); err != nil {
		return Unlock{}, err
	}
	body := SiteCommandBody{TS: u.Issued.Unix(), Nonce: rand.Text(), Topic: c.site.topics.CmdUnlock,
		SubmissionID: "sha256:" + u.Key, By: u.By, Reason: u.Reason}
	payload, err := signChecked(siteCmdUnlock, body, c.site.opts.Secret)
	if err != nil {
		return Unlock{}, fmt.Errorf("mqtt: unlock: %w", err)
	}
	out := Unlock{Key: u.Key, By: u.By, Reason: u.Reason, Nonce: body.Nonce, Issued: time.Unix(body.TS, 0), Signed: payload}
	cli := c.live.Load()
	if cli == nil || !c.Connected() {
		return out, fmt.Errorf("mqtt: unlock: %w", ErrNotConnected)
	}
	now, issued, err := c.sendPayload(ctx, *cli, body, payload)
	if err != nil {
		return out, fmt.Errorf("mqtt: unlock: %w", err)
	}
	c.log.Info("mqtt site unlock command sent", "key", u.Key[:min(12, len(u.Key))], "by", u.By, "nonce", body.Nonce)
	out.Issued, out.Received = issued, now
	return out, nil
}

// siteCommandTime is the time a command of this gate is issued at
// (issued, or the clock when zero), or why no site command can be sent.
func (c *Client) siteCommandTime(issued time.Time) (time.Time, error) {
	if !c.SiteCommands() {
		return time.Time{}, ErrSiteCommandsOff
	}
	if c.isClosed() {
		return time.Time{}, ErrClosed
	}
	if issued.IsZero() {
		issued = c.clock.Now()
	}
	return issued, nil
}

// publishSiteCommand checks, signs and publishes one site command of this
// gate over the live connection (ErrNotConnected without one).
func (c *Client) publishSiteCommand(ctx context.Context, kind string, body SiteCommandBody) (now, issued time.Time, err error) {
	cli := c.live.Load()
	if cli == nil || !c.Connected() {
		return now, issued, ErrNotConnected
	}
	return c.sendSigned(ctx, *cli, kind, body)
}

// sendSigned checks, signs and publishes one site command of this gate on
// cli and waits for its PUBACK; its nonce enters the replay memory first
// and its echo is dropped.
func (c *Client) sendSigned(ctx context.Context, cli paho.Client, kind string, body SiteCommandBody) (now, issued time.Time, err error) {
	payload, err := signChecked(kind, body, c.site.opts.Secret)
	if err != nil {
		return now, issued, err
	}
	return c.sendPayload(ctx, cli, body, payload)
}

// sendPayload publishes payload, body signed, on cli and waits for its
// PUBACK; the nonce enters the replay memory first and the echo is
// dropped.
func (c *Client) sendPayload(ctx context.Context, cli paho.Client, body SiteCommandBody, payload []byte) (now, issued time.Time, err error) {
	s := c.site
	now, issued, err = c.verifier.admit(body.TS, body.Nonce)
	if err != nil {
		return now, issued, err
	}
	s.addSent(payload)
	if err := waitToken(ctx, cli.Publish(body.Topic, 1, false, payload), c.opts.AckTimeout); err != nil {
		s.takeSent(payload)
		return now, issued, fmt.Errorf("publish %s: %w", body.Topic, err)
	}
	return now, issued, nil
}

// signChecked checks body as every peer will (refused here rather than
// by them) and signs it.
func signChecked(kind string, body SiteCommandBody, secret []byte) ([]byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	if _, err := parseSiteBody(kind, raw); err != nil {
		return nil, err
	}
	return SignSiteCommand(secret, body)
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
