package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/facegate/facegate/internal/redact"
	"github.com/facegate/facegate/mqtt/outbox"
)

// stableConnection is how long a connection must last for the reconnect
// backoff to start again from its minimum.
const stableConnection = 30 * time.Second

// sameClientIDHint is how many connections in a row must drop before
// stableConnection for the log to suspect a second client with this id.
const sameClientIDHint = 5

// Run connects and keeps the Client connected until ctx is done or Close
// is called, reconnecting with backoff. Each connection is a fresh paho
// client on the same persistent session (clean session off): the outbox,
// not paho's in-memory store, decides what is resent, so nothing is
// acknowledged by mistake when paho resumes a session.
//
// Run returns nil when stopped, ErrClosed after Close, and an error
// wrapping ErrNotAuthorized when the broker refuses the credentials before
// any connection ever succeeded (a configuration error: it will not fix
// itself). Later refusals are logged and retried.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.running.CompareAndSwap(false, true) {
		c.mu.Unlock()
		return ErrAlreadyRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	c.stopRun = cancel
	c.mu.Unlock()
	defer close(c.runDone)
	defer cancel()

	if err := c.box.CompactError(); err != nil {
		c.log.Warn("mqtt outbox compaction failed", "err", err, "file_bytes", c.box.FileSize())
	}
	backoff := c.opts.ReconnectMin
	everConnected := false
	dropped := 0 // connections in a row that dropped within stableConnection
	for {
		cli, lost := c.newPaho()
		err := c.connect(ctx, cli)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.setErr(err)
			if errors.Is(err, ErrNotAuthorized) && !everConnected {
				c.log.Error("mqtt broker refused the credentials", "urls", redact.URLs(c.opts.URLs), "username", c.opts.Username, "err", err)
				return err
			}
			c.log.Warn("mqtt connect failed", "urls", redact.URLs(c.opts.URLs), "retry_in", backoff, "err", err)
			if !c.waitRetry(ctx, jitter(backoff)) {
				return nil
			}
			backoff = min(2*backoff, c.opts.ReconnectMax)
			continue
		}
		everConnected = true
		c.setErr(nil)
		since := time.Now()
		err = c.serve(ctx, cli, lost)
		c.connected.Store(false)
		if ctx.Err() != nil {
			c.goOffline(cli)
			return nil
		}
		c.setErr(err)
		cli.Disconnect(0)
		// A connection that drops at once (e.g. another gate with the same
		// client id taking the session over) keeps backing off.
		if time.Since(since) > stableConnection {
			backoff, dropped = c.opts.ReconnectMin, 0
		} else if dropped++; dropped == sameClientIDHint {
			// Two clients with one id take the session from each other
			// for ever; only the log can say so (the broker does not).
			c.log.Error("mqtt connection dropped soon after connecting, again and again: does another client use this client id? (mqtt.client_id; the default facegate-<site>-<gate> is the same for site plant-a gate north and site plant gate a-north)",
				"client_id", c.opts.ClientID, "drops", dropped)
		}
		c.log.Warn("mqtt connection lost", "err", err, "outbox", c.box.Len(), "retry_in", backoff)
		if !c.waitRetry(ctx, jitter(backoff)) {
			return nil
		}
		backoff = min(2*backoff, c.opts.ReconnectMax)
	}
}

// newPaho makes a paho client for one connection. lost is closed when paho
// reports the connection lost.
func (c *Client) newPaho() (paho.Client, <-chan struct{}) {
	lost := make(chan struct{})
	var once sync.Once
	o := paho.NewClientOptions()
	for _, u := range c.opts.URLs {
		o.AddBroker(u)
	}
	o.SetClientID(c.opts.ClientID)
	o.SetUsername(c.opts.Username)
	o.SetPassword(c.opts.Password)
	if c.opts.TLS != nil {
		o.SetTLSConfig(c.opts.TLS)
	}
	o.SetKeepAlive(c.opts.KeepAlive)
	o.SetPingTimeout(min(10*time.Second, c.opts.KeepAlive))
	o.SetConnectTimeout(c.opts.ConnectTimeout)
	o.SetWriteTimeout(c.opts.WriteTimeout)
	o.SetCleanSession(false)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	o.SetStore(paho.NewMemoryStore())
	o.SetBinaryWill(c.topics.Status, []byte("offline"), 1, true)
	o.SetDefaultPublishHandler(c.onMessage)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		once.Do(func() { close(lost) })
	})
	return paho.NewClient(o), lost
}

// connect makes one connection attempt (every URL in order).
func (c *Client) connect(ctx context.Context, cli paho.Client) error {
	tok := cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go func() { // paho gives up by itself after ConnectTimeout
			tok.Wait()
			if cli.IsConnected() {
				cli.Disconnect(0)
			}
		}()
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		if errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			return fmt.Errorf("%w (user %q): %w", ErrNotAuthorized, c.opts.Username, err)
		}
		return fmt.Errorf("mqtt: connect: %w", err)
	}
	if ct, ok := tok.(*paho.ConnectToken); ok && !ct.SessionPresent() {
		// A broker without the gate's session (restarted without
		// persistence, lost its disk, another of the urls) has none of
		// its retained values either: the acknowledged alert goes again.
		c.retained.forgetAcked()
		// Nor the site's evacuation state: the newest this gate knows
		// goes again (nothing when it knows none).
		if c.site != nil {
			signal(c.site.evacOut)
		}
	}
	return nil
}

// serve runs one connection: status online, subscriptions, discovery,
// retained values, then the event sender, until the connection is lost,
// a publish fails or ctx is done.
func (c *Client) serve(ctx context.Context, cli paho.Client, lost <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			// At once: a publish caught by the loss may hold serve in
			// paho's Publish for up to WriteTimeout.
			c.connected.Store(false)
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.publishWait(ctx, cli, c.topics.Status, []byte("online")); err != nil {
		return err
	}
	subs := map[string]byte{}
	var unsubs []string // the session may still hold them from an older configuration
	for topic, on := range map[string]bool{
		c.topics.CmdIdentify: c.opts.Identify,
		c.topics.CmdOpen:     c.opts.Open.Enabled,
		c.topics.HAStatus:    c.opts.HomeAssistant.Enabled,
	} {
		if on {
			subs[topic] = 1
		} else {
			unsubs = append(unsubs, topic)
		}
	}
	if s := c.site; s != nil {
		for topic, on := range map[string]bool{
			s.topics.Events: true, s.topics.Relays: true, s.topics.Evacuation: true,
			s.topics.CmdEvacuate: s.opts.Commands, s.topics.CmdCorrect: s.opts.Commands, s.topics.CmdUnlock: s.opts.Commands,
		} {
			if on {
				subs[topic] = 1
			} else {
				unsubs = append(unsubs, topic)
			}
		}
	}
	if len(unsubs) > 0 {
		if err := waitToken(ctx, cli.Unsubscribe(unsubs...), c.opts.ConnectTimeout); err != nil {
			return fmt.Errorf("mqtt: unsubscribe: %w", err)
		}
	}
	if len(subs) > 0 {
		tok := cli.SubscribeMultiple(subs, c.onMessage)
		if err := waitToken(ctx, tok, c.opts.ConnectTimeout); err != nil {
			return fmt.Errorf("mqtt: subscribe: %w", err)
		}
		var refused []string
		for topic, code := range tok.(*paho.SubscribeToken).Result() {
			if code >= 0x80 {
				c.log.Error("mqtt broker refused a subscription", "topic", topic)
				refused = append(refused, topic)
			}
		}
		c.subscriptionsRefused(refused)
	}
	if err := c.publishDiscovery(ctx, cli); err != nil {
		return err
	}
	c.live.Store(&cli)
	defer c.live.Store(nil)
	c.connected.Store(true)
	c.log.Info("mqtt connected", "urls", redact.URLs(c.opts.URLs), "client_id", c.opts.ClientID, "outbox", c.box.Len())

	if c.site != nil {
		go c.siteSync(ctx, cli)
	}
	if c.cmdBox != nil {
		// Beside the event backlog, not behind it: an evacuation decided
		// during the outage is what lets the peers release their doors.
		cmdDone := make(chan struct{})
		go func() {
			defer close(cmdDone)
			c.sendSiteCommands(ctx, cli)
		}()
		defer func() { cancel(); <-cmdDone }()
	}
	errc := make(chan error, 1)
	go func() {
		err := c.sendEvents(ctx, cli)
		if err != nil {
			c.setErr(err) // before Connected turns false: a reader sees why
			cancel()      // and publishRetained returns: reconnect
		}
		errc <- err
	}()
	err := c.publishRetained(ctx, cli)
	if err != nil && !errors.Is(err, context.Canceled) {
		c.setErr(err)
	}
	cancel()
	// Ending (a publish failed, or lost): say so before waiting for
	// sendEvents, which may be held in paho's Publish for up to WriteTimeout.
	c.connected.Store(false)
	if serr := <-errc; err == nil || errors.Is(err, context.Canceled) {
		err = serr
	}
	select {
	case <-lost:
		return errors.New("mqtt: connection lost")
	default:
	}
	return err
}

func (c *Client) publishDiscovery(ctx context.Context, cli paho.Client) error {
	for _, m := range c.disc {
		if err := c.publishWait(ctx, cli, m.Topic, m.Payload); err != nil {
			return fmt.Errorf("mqtt: home assistant discovery: %w", err)
		}
	}
	return nil
}

// subscriptionsRefused records the subscriptions the broker refused at
// this connect. A refused cmd/evacuate is a gate that never learns a
// peer's fire alarm: until 2026-12-08 it was one log line a connect and a
// healthy broker check. Now the MQTT health's broker check is degraded
// while any is refused, and a new set raises subscription_refused.
func (c *Client) subscriptionsRefused(topics []string) {
	slices.Sort(topics)
	c.mu.Lock()
	news := len(topics) > 0 && !slices.Equal(topics, c.refusedSubs)
	changed := !slices.Equal(topics, c.refusedSubs)
	c.refusedSubs = topics
	c.mu.Unlock()
	if changed {
		select {
		case c.healthDirty <- struct{}{}:
		default:
		}
	}
	if news {
		msg := "the broker refused this gate's subscription to " + strings.Join(topics, ", ") +
			": nothing sent there reaches this gate (a peer's evacuation, a remote command, a peer's passages): check the broker's ACL for this gate's user"
		if err := c.PublishAlert(Alert{Code: AlertSubscriptionRefused, Message: clipBytes(msg, 1000)}); err != nil {
			c.log.Warn("alert not queued", "code", AlertSubscriptionRefused, "err", err)
		}
	}
}

// clipBytes is s cut to at most n bytes, on a UTF-8 boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// AlertSubscriptionRefused is raised by the client when the broker refuses
// a subscription of the gate.
const AlertSubscriptionRefused = "subscription_refused"

// slowUplink is the slowest link, in bytes a second, that a retained
// publish is given time for beyond AckTimeout (a 4G router at the edge of
// its cell; the site's snapshots are paced at 32 KiB/s).
const slowUplink = 32 << 10

// publishRetained publishes the newest retained values, then every change
// in order, and the discovery configs again when Home Assistant restarts.
func (c *Client) publishRetained(ctx context.Context, cli paho.Client) error {
	defer c.retained.offline()
	snap := c.retained.snapshot()
	for i, m := range snap {
		if err := c.publishRetainedMsg(ctx, cli, m); err != nil {
			for _, m := range snap[i:] {
				c.retained.failed(m) // the alerts not out yet go again
			}
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.healthDirty:
			if p := c.healthPayload(); p != nil {
				if err := c.publishWait(ctx, cli, c.topics.Health, p); err != nil {
					return err
				}
			}
		case m := <-c.retained.updates:
			if err := c.publishRetainedMsg(ctx, cli, m); err != nil {
				c.retained.failed(m)
				return err
			}
			if err := c.publishCatchUp(ctx, cli); err != nil {
				return err
			}
		case <-c.retained.resync:
			if err := c.publishCatchUp(ctx, cli); err != nil {
				return err
			}
		case <-c.evacOut():
			if p := c.site.evacuationPayload(); p != nil {
				if err := c.publishWait(ctx, cli, c.site.topics.Evacuation, p); err != nil {
					// Not published: the next connection publishes it.
					signal(c.site.evacOut)
					return err
				}
			}
		case <-c.haAnnounce:
			c.log.Info("mqtt home assistant restarted: discovery republished")
			if err := c.publishDiscovery(ctx, cli); err != nil {
				return err
			}
		}
	}
}

// publishCatchUp publishes the newest values of topics whose changes
// overflowed the queue, once the queue has drained.
func (c *Client) publishCatchUp(ctx context.Context, cli paho.Client) error {
	for _, m := range c.retained.catchUp() {
		if err := c.publishRetainedMsg(ctx, cli, m); err != nil {
			return err
		}
	}
	return nil
}

// publishRetainedMsg publishes one retained value; the health is taken
// fresh, with the broker check of the live connection.
func (c *Client) publishRetainedMsg(ctx context.Context, cli paho.Client, m retainedMsg) error {
	if m.topic == c.topics.Health {
		if p := c.healthPayload(); p != nil {
			m.payload = p
		}
	}
	now := c.clock.Now()
	if c.refused.skip(m.topic, len(m.payload), now) {
		return nil
	}
	if err := c.publishWait(ctx, cli, m.topic, m.payload); err != nil {
		if c.refused.fail(m.topic, len(m.payload), now) {
			select { // the next connect's health says so
			case c.healthDirty <- struct{}{}:
			default:
			}
			c.log.Error("mqtt broker drops the connection at this retained message: held back while it is this large (check the broker's packet size limit: mosquitto max_packet_size, message_size_limit)",
				"topic", m.topic, "bytes", len(m.payload), "retry_after", refusedHold)
		}
		return err
	}
	c.refused.ok(m.topic)
	c.retained.delivered(m)
	return nil
}

// publishWait publishes a retained QoS 1 message and waits for its
// PUBACK: AckTimeout, and the time a large value (a site snapshot) takes
// on a slow uplink at slowUplink bytes a second. With AckTimeout alone a
// 600 KB snapshot on a 100 KB/s link timed out, the connection was
// dropped, and every connect tried it again.
func (c *Client) publishWait(ctx context.Context, cli paho.Client, topic string, payload []byte) error {
	wait := c.opts.AckTimeout + time.Duration(len(payload))*time.Second/slowUplink
	if err := waitToken(ctx, cli.Publish(topic, 1, true, payload), wait); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// sendEvents publishes the outbox in order with up to Window events in
// flight, acknowledging each in the outbox on its PUBACK. It restarts from
// the oldest unacknowledged event on every connection.
func (c *Client) sendEvents(ctx context.Context, cli paho.Client) error {
	type flight struct {
		id  uint64
		tok paho.Token
	}
	var inflight []flight
	var last uint64
	// replaying: the outbox held events at connect; once they are
	// delivered the health's outbox figure is republished.
	replaying := c.box.Len() > 0
	timer := time.NewTimer(c.opts.AckTimeout)
	defer timer.Stop()
	for {
		if free := c.opts.Window - len(inflight); free > 0 {
			recs, err := c.box.Next(last, free)
			if err != nil {
				return fmt.Errorf("mqtt: read outbox: %w", err)
			}
			for _, r := range recs {
				tok := cli.Publish(c.recordTopic(r.Payload), 1, false, r.Payload)
				if len(inflight) == 0 {
					timer.Reset(c.opts.AckTimeout)
				}
				inflight = append(inflight, flight{r.ID, tok})
				last = r.ID
			}
		}
		if len(inflight) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-c.box.Notify():
				continue
			}
		}
		var more <-chan struct{}
		if len(inflight) < c.opts.Window {
			more = c.box.Notify()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-more:
		case <-timer.C:
			return fmt.Errorf("mqtt: no PUBACK for event %d within %s", inflight[0].id, c.opts.AckTimeout)
		case <-inflight[0].tok.Done():
			var ids []uint64
			for len(inflight) > 0 && isDone(inflight[0].tok) {
				if err := inflight[0].tok.Error(); err != nil {
					c.ack(ids)
					return fmt.Errorf("mqtt: publish event: %w", err)
				}
				ids = append(ids, inflight[0].id)
				inflight = inflight[1:]
			}
			if err := c.ack(ids); err != nil {
				return err
			}
			if replaying && len(inflight) == 0 && c.box.Len() == 0 {
				replaying = false
				select {
				case c.healthDirty <- struct{}{}:
				default:
				}
			}
			if len(inflight) > 0 {
				timer.Reset(c.opts.AckTimeout)
			}
		}
	}
}

func (c *Client) ack(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := c.box.Ack(ids...); err != nil {
		if errors.Is(err, outbox.ErrAckNotWritten) {
			// Delivered, and marked so in memory: only a restart sends it
			// again. The link stays up (dropping it resent the whole
			// window at every reconnect while the disk was full).
			if n := c.acksNotWritten.Add(1); n == 1 || n%100 == 0 {
				c.log.Error("mqtt outbox ack not written: delivered events go again after a restart", "err", err, "times", n)
			}
			return nil
		}
		c.log.Error("mqtt outbox ack failed", "err", err)
		return fmt.Errorf("mqtt: outbox ack: %w", err)
	}
	// The acks are stored; only the file stays larger until a retry works.
	if err := c.box.CompactError(); err != nil {
		c.log.Warn("mqtt outbox compaction failed", "err", err, "file_bytes", c.box.FileSize())
	}
	return nil
}

// evacOut signals an evacuation state to publish (nil without zones).
func (c *Client) evacOut() <-chan struct{} {
	if c.site == nil {
		return nil
	}
	return c.site.evacOut
}

// onMessage runs on paho's goroutine: copy and hand over, never block.
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	if s := c.site; s != nil && s.owns(m.Topic()) {
		c.onSiteMessage(s, m)
		return
	}
	in := inbound{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained()}
	select {
	case c.inbox <- in:
	default:
		// Logged at the first drop and every 100th, not once per message.
		if n := c.dropped.Add(1); n == 1 || n%100 == 0 {
			c.log.Warn("mqtt inbound queue full: messages dropped", "topic", in.topic, "dropped_total", n)
		}
	}
}

// onSiteMessage queues a site message for siteDispatch, within the
// queue's bounds: 4096 messages (SiteOptions.Queue) and, for the peers'
// snapshots and lists (isBulk), siteQueueBytes.
func (c *Client) onSiteMessage(s *siteLink, m paho.Message) {
	n := int64(len(m.Payload()))
	if limit := s.maxPayload(m.Topic()); n > int64(limit) {
		// Refused when its turn came anyway: not copied nor queued,
		// or a flood of them holds the queue's 4096 copies.
		if d := s.dropped.Add(1); d == 1 || d%1000 == 0 {
			c.log.Warn("mqtt site message over its size limit dropped", "topic", m.Topic(), "bytes", n, "limit", limit, "dropped_total", d)
		}
		return
	}
	if s.isBulk(m.Topic()) {
		if s.queued.Add(n) > siteQueueBytes {
			s.queued.Add(-n)
			// Not copied. A retained message comes back at the next
			// resync; fetching them again now would take the same
			// flood again, so only a live message asks for it.
			if d := s.dropped.Add(1); d == 1 || d%1000 == 0 {
				c.log.Warn("mqtt site queue over its byte bound: messages dropped", "topic", m.Topic(), "bytes", n, "bound", siteQueueBytes, "dropped_total", d)
			}
			if !m.Retained() {
				signal(s.resync)
			}
			return
		}
	} else {
		n = 0 // not counted in queued
	}
	in := inbound{topic: m.Topic(), payload: append([]byte(nil), m.Payload()...), retained: m.Retained()}
	select {
	case s.inbox <- in:
	default:
		s.queued.Add(-n)
		// The peers' snapshots carry what was dropped.
		if d := s.dropped.Add(1); d == 1 || d%1000 == 0 {
			c.log.Warn("mqtt site queue full: messages dropped, peers' snapshots fetched again", "topic", in.topic, "dropped_total", d)
		}
		signal(s.resync)
	}
}

// goOffline publishes the retained "offline" a graceful stop owes (the
// broker does not send the will on a clean DISCONNECT) and disconnects.
// The retained values not yet published (the "stopped" state, a last
// relay change) go first, so the broker keeps the gate's final values.
func (c *Client) goOffline(cli paho.Client) {
	deadline := time.Now().Add(2 * time.Second)
	final := c.retained.unpublished()
	if !slices.ContainsFunc(final, func(m retainedMsg) bool { return m.topic == c.topics.State }) {
		// Again: a state change taken off the queue just before the stop
		// may not have been acknowledged.
		final = append(final, retainedMsg{c.topics.State, c.retained.get(c.topics.State)})
	}
	for _, m := range final {
		if m.topic == c.topics.Health {
			if p := c.healthPayload(); p != nil {
				m.payload = p
			}
		}
		tok := cli.Publish(m.topic, 1, true, m.payload)
		if !tok.WaitTimeout(time.Until(deadline)) || tok.Error() != nil {
			c.log.Warn("mqtt final retained value not acknowledged", "topic", m.topic, "err", tok.Error())
			break
		}
	}
	tok := cli.Publish(c.topics.Status, 1, true, []byte("offline"))
	if !tok.WaitTimeout(max(time.Until(deadline), 500*time.Millisecond)) || tok.Error() != nil {
		c.log.Warn("mqtt offline status not acknowledged", "err", tok.Error())
	}
	cli.Disconnect(250)
	c.log.Info("mqtt disconnected", "outbox", c.box.Len())
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func waitToken(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no acknowledgement within %s", timeout)
	}
}

func isDone(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// probeInterval is how often a reconnect wait checks whether the broker's
// port accepts TCP connections again.
const probeInterval = 500 * time.Millisecond

// waitRetry waits d before the next connection attempt, but returns early
// (after a short random spread) once a broker port that was seen closed
// during the wait accepts a TCP connection again: a broker that returns
// is used within about a second, while one that stays away still gets
// only the backed-off attempts. A port that accepts connections
// throughout (a broker refusing the session, or dropping it at once)
// changes nothing. False when ctx ends.
func (c *Client) waitRetry(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	down := false
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
			up := c.brokerReachable(ctx)
			if up && down {
				c.log.Info("mqtt broker reachable again: reconnecting")
				return sleep(ctx, rand.N(probeInterval/2))
			}
			down = down || !up
		}
	}
}

// brokerReachable reports whether any broker URL's host accepts a TCP
// connection (closed at once; nothing is sent).
func (c *Client) brokerReachable(ctx context.Context) bool {
	d := net.Dialer{Timeout: min(probeInterval, c.opts.ConnectTimeout)}
	for _, addr := range c.probeAddrs {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return true
		}
	}
	return false
}

// probeAddrs returns host:port of each broker URL, with the scheme's
// default port when the URL has none.
func probeAddrs(urls []string) []string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			switch u.Scheme {
			case "ssl", "tls", "mqtts":
				port = "8883"
			case "ws":
				port = "80"
			case "wss":
				port = "443"
			default:
				port = "1883"
			}
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	return out
}

// jitter spreads reconnects of many gates: a delay in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
