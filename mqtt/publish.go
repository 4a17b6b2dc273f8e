package mqtt

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/facegate/facegate/record"
)

// PublishEvent queues one decision: it returns once the event is written
// and fsynced in the outbox, and it is then published (QoS 1, not
// retained) whenever the broker is reachable, in order, at least once, also
// across restarts. ev.EventID and ev.Seq are the caller's; submission_id is
// rewritten by the privacy setting. Errors: ErrInvalidEvent, ErrOutboxFull,
// ErrClosed, or a wrapped disk error.
func (c *Client) PublishEvent(ev record.Event) error {
	if err := validEvent(ev); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	ev.SubmissionID = c.opts.SubmissionID.Apply(ev.SubmissionID)
	if ev.Site == "" {
		ev.Site = c.opts.Site
	}
	if ev.Gate == "" {
		ev.Gate = c.opts.Gate
	}
	if ev.TS == "" {
		ev.TS = record.Timestamp(c.clock.Now())
	}
	if ev.Reason == nil {
		ev.Reason = []string{}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if err := c.enqueue(b, "event "+ev.EventID); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastDecision = Summarize(ev)
	if c.pending != "" && !c.closed {
		// The kiosk showed the result first: publish it with this decision.
		c.state, c.stateSince = c.pending, c.pendingSince
		c.pending, c.unpaired = "", false
	} else {
		c.unpaired = true
	}
	c.setStateLocked()
	return nil
}

// PublishState records the kiosk session state (idle, identified,
// capturing, authenticating, granted, denied, error, cooldown, stopped)
// for the retained <prefix>/state, which also carries the last decision.
//
// A result state (granted, denied, error) is published only together with
// its own decision, whichever of PublishState and PublishEvent comes
// first: it pairs with the first event recorded since the previous result
// state, and waits for it when there is none yet. A result state whose
// event never comes is replaced by the next state unpublished.
func (c *Client) PublishState(state string) error {
	if state == "" || len(state) > 32 {
		return fmt.Errorf("mqtt: state %q must be 1 to 32 bytes", state)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	now := c.clock.Now()
	if resultState(state) && !c.unpaired {
		if c.pending != state {
			c.pending, c.pendingSince = state, now
		}
		return nil
	}
	if c.pending != "" {
		c.log.Debug("mqtt result state without a decision not published", "state", c.pending)
	}
	c.pending = ""
	switch state {
	case "granted", "denied", "error":
		c.unpaired = false
	case "idle", "identified", "capturing":
		// A new session: a decision whose result state never came must
		// not pair with this session's result.
		c.unpaired = false
	}
	if c.state != state {
		c.state, c.stateSince = state, now
	}
	c.setStateLocked()
	return nil
}

// PublishRelay records the relay output for the retained <prefix>/relay
// ("open" while the relay is energised).
func (c *Client) PublishRelay(open bool) error {
	if c.isClosed() {
		return ErrClosed
	}
	c.retained.set(c.topics.Relay, onOff(open))
	return nil
}

// PublishDoor records the door sensor for the retained <prefix>/door.
func (c *Client) PublishDoor(open bool) error {
	if c.isClosed() {
		return ErrClosed
	}
	c.retained.set(c.topics.Door, onOff(open))
	return nil
}

// PublishCameraHealth records the camera health for the retained <prefix>/camera.
func (c *Client) PublishCameraHealth(h CameraHealth) error {
	if h.TS == "" {
		h.TS = record.Timestamp(c.clock.Now())
	}
	return c.setRetainedJSON(c.topics.Camera, "camera health", h.validate, h)
}

// PublishSelfTest records the daemon's periodic self-test summary for the
// retained <prefix>/health: one overall status and each check's. The
// "broker" check (when present and not "absent") is filled in when the
// payload is published: a payload that reaches the broker is sent over a
// live connection, whatever the self-test saw before it connected.
func (c *Client) PublishSelfTest(h SelfTest) error {
	if err := h.validate(); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if h.TS == "" {
		h.TS = record.Timestamp(c.clock.Now())
	}
	checks := make(map[string]CheckInfo, len(h.Checks))
	for k, v := range h.Checks {
		checks[k] = v
	}
	h.Checks = checks
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.selfTest = &h
	c.retained.set(c.topics.Health, mustJSON(h))
	return nil
}

// healthPayload is the newest self-test with the broker check as it is
// while connected: ok, with the outbox depth. nil before any self-test.
func (c *Client) healthPayload() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.selfTest == nil {
		return nil
	}
	h := *c.selfTest
	if b, ok := h.Checks["broker"]; !ok || b.Status == "absent" {
		return mustJSON(h)
	}
	checks := make(map[string]CheckInfo, len(h.Checks))
	for k, v := range h.Checks {
		checks[k] = v
	}
	n := c.box.Len()
	v := float64(n)
	checks["broker"] = CheckInfo{Status: "ok", Detail: fmt.Sprintf("connected, outbox %d", n), Value: &v, Unit: "events"}
	if len(c.refusedSubs) > 0 {
		checks["broker"] = CheckInfo{Status: "degraded", Detail: fmt.Sprintf("connected, outbox %d; the broker refused the subscription to %s: check its ACL", n, strings.Join(c.refusedSubs, ", ")), Value: &v, Unit: "events"}
	}
	for t, size := range c.refused.heldTopics(c.clock.Now()) {
		checks["broker"] = CheckInfo{Status: "degraded", Detail: fmt.Sprintf("connected, outbox %d; the broker drops the connection at %s (%d bytes): check its packet size limit", n, t, size), Value: &v, Unit: "events"}
	}
	h.Checks = checks
	h.Status = worstStatus(checks)
	return mustJSON(h)
}

// worstStatus is the self-test summary: down if a check is down, degraded
// if one is degraded, else ok ("absent" checks do not count), as the
// kiosk computes it.
func worstStatus(checks map[string]CheckInfo) string {
	sum := "ok"
	for _, ch := range checks {
		switch ch.Status {
		case "down":
			return "down"
		case "degraded":
			sum = "degraded"
		}
	}
	return sum
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: strings, numbers, maps of them
		panic(err)
	}
	return b
}

// PublishAlert records an operator alert (wrong API key, missing FaceAuth
// project, relay failure) for the retained <prefix>/alert: the newest alert
// stays visible on dashboards until a newer one replaces it.
func (c *Client) PublishAlert(a Alert) error {
	if a.TS == "" {
		a.TS = record.Timestamp(c.clock.Now())
	}
	return c.setRetainedJSON(c.topics.Alert, "alert", a.validate, a)
}

// setRetainedJSON validates v and records it as the newest value of a
// retained topic.
func (c *Client) setRetainedJSON(topic, what string, validate func() error, v any) error {
	if err := validate(); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if c.isClosed() {
		return ErrClosed
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("mqtt: %s: %w", what, err)
	}
	c.retained.set(topic, b)
	return nil
}

// setStateLocked records the retained state payload from one snapshot of
// the state and its decision; c.mu is held, so concurrent changes reach
// the retained store in the order they were made.
func (c *Client) setStateLocked() {
	ts := record.Timestamp(c.stateSince)
	c.retained.set(c.topics.State, mustJSON(StatePayload{State: c.state, TS: ts, Since: ts, LastDecision: c.lastDecision}))
}
