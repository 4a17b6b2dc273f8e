package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/mqtt/outbox"

	"github.com/facegate/facegate/internal/redact"
)

// Options configure a Client. Zero durations and sizes take the defaults
// written next to them.
type Options struct {
	// URLs of the broker, tried in order: tcp://, ssl://, ws://, wss://.
	URLs []string
	// ClientID keys the persistent session on the broker; required.
	ClientID string
	Username string
	Password string
	// TLS is used for ssl:// and wss:// URLs (nil: system roots).
	TLS *tls.Config

	KeepAlive      time.Duration // 30s
	ConnectTimeout time.Duration // 10s
	// WriteTimeout bounds each write to the broker (10s). A publish caught
	// by a connection loss can block in paho this long before Run
	// reconnects (Connected reports false before).
	WriteTimeout time.Duration
	ReconnectMin time.Duration // 1s; doubles up to ReconnectMax, with jitter
	ReconnectMax time.Duration // 60s
	// AckTimeout: a connection whose oldest event waits longer than this for
	// its PUBACK is dropped and made again (30s).
	AckTimeout time.Duration

	// Prefix of every topic, e.g. facegate/<site>/<gate>; required.
	Prefix string
	// Site and Gate fill events that lack them and name the Home Assistant device.
	Site, Gate string
	// Version is shown as the Home Assistant device's software version.
	Version string

	// OutboxPath is the durable queue file; required.
	OutboxPath      string
	OutboxMaxEvents int   // 100,000
	OutboxMaxBytes  int64 // 256 MiB
	// Window is how many events may wait for their PUBACK at once (256).
	Window int

	// SubmissionID is applied to every event's submission_id (default hash).
	SubmissionID Privacy

	// Identify subscribes to <prefix>/cmd/identify.
	Identify bool
	// Open enables <prefix>/cmd/open when Open.Enabled. Open.MaxSkew also
	// bounds the age of an identify that carries a timestamp.
	Open OpenOptions
	// HomeAssistant enables MQTT discovery when HomeAssistant.Enabled.
	HomeAssistant HomeAssistantOptions

	// Clock is the time source for command windows and timestamps.
	Clock  Clock
	Logger *slog.Logger
}

// OpenOptions configure the remote unlock command.
type OpenOptions struct {
	Enabled bool
	// Secret is the shared HMAC-SHA256 key, at least 16 bytes.
	Secret []byte
	// MaxSkew is the allowed distance between the command's timestamp and
	// the gate's clock (30s).
	MaxSkew time.Duration
}

// HomeAssistantOptions configure MQTT discovery.
type HomeAssistantOptions struct {
	Enabled bool
	// DiscoveryPrefix is Home Assistant's (homeassistant).
	DiscoveryPrefix string
}

// topics are the full topic names of one gate.
type topics struct {
	Status, Event, State, Relay, Door, Camera, Health, Alert, CmdIdentify, CmdOpen string
	HAStatus                                                                       string
}

func newTopics(prefix, haPrefix string) topics {
	return topics{
		Status: prefix + "/status", Event: prefix + "/event", State: prefix + "/state",
		Relay: prefix + "/relay", Door: prefix + "/door", Camera: prefix + "/camera",
		Health: prefix + "/health", Alert: prefix + "/alert",
		CmdIdentify: prefix + "/cmd/identify", CmdOpen: prefix + "/cmd/open",
		HAStatus: haPrefix + "/status",
	}
}

// Client publishes a gate's events and state and receives its commands.
//
// Concurrency contract: every method is safe for concurrent use. The
// Publish methods never wait for the network: PublishEvent waits for one
// write and fsync of the outbox file, the others only record the new value.
// Run owns the connection and is called once, on its own goroutine. Commands
// are validated on the Client's own goroutine (never paho's) and delivered
// on the Commands channel, which one goroutine should read; if nobody reads
// it, further commands are dropped (and logged) rather than blocking the
// broker connection. Close is called once, after which every method returns
// ErrClosed.
type Client struct {
	opts     Options
	log      *slog.Logger
	clock    Clock
	topics   topics
	box      *outbox.Outbox
	verifier *OpenVerifier // nil when cmd/open is disabled
	disc     []discoveryMessage

	retained   *retainedStore
	inbox      chan inbound
	commands   chan Command
	haAnnounce chan struct{}
	done       chan struct{} // closed when Close has stopped Run
	wg         sync.WaitGroup

	connected atomic.Bool
	running   atomic.Bool
	dropped   atomic.Uint64 // inbound messages dropped because nobody read Commands
	runDone   chan struct{}

	mu           sync.Mutex // guards the fields below
	closed       bool
	stopRun      context.CancelFunc
	state        string
	stateSince   time.Time
	lastDecision *DecisionSummary
	lastErr      error
}

// inbound is a message copied off paho's callback goroutine.
type inbound struct {
	topic    string
	payload  []byte
	retained bool
}

// New validates opts and opens the outbox. It does not connect: call Run.
func New(opts Options) (*Client, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	box, err := outbox.Open(opts.OutboxPath, outbox.Options{MaxRecords: opts.OutboxMaxEvents, MaxBytes: opts.OutboxMaxBytes})
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	c := &Client{
		opts:       opts,
		log:        opts.Logger,
		clock:      opts.Clock,
		topics:     newTopics(opts.Prefix, opts.HomeAssistant.DiscoveryPrefix),
		box:        box,
		retained:   newRetainedStore(),
		inbox:      make(chan inbound, 64),
		commands:   make(chan Command, 16),
		haAnnounce: make(chan struct{}, 1),
		done:       make(chan struct{}),
		runDone:    make(chan struct{}),
		state:      "idle",
		stateSince: opts.Clock.Now(),
	}
	if opts.Open.Enabled {
		c.verifier = NewOpenVerifier(opts.Open.Secret, c.topics.CmdOpen, opts.Open.MaxSkew, opts.Clock, opts.Clock.Now())
	}
	if opts.HomeAssistant.Enabled {
		name := "facegate " + opts.Prefix
		if opts.Site != "" && opts.Gate != "" {
			name = "facegate " + opts.Site + "/" + opts.Gate
		}
		c.disc = discoveryMessages(opts.HomeAssistant.DiscoveryPrefix, c.topics, opts.ClientID, name, opts.Version)
	}
	c.retained.set(c.topics.State, c.statePayload())
	if n := box.Len(); n > 0 {
		c.log.Info("mqtt outbox has undelivered events", "events", n, "path", opts.OutboxPath)
	}
	c.wg.Add(1)
	go c.dispatch()
	return c, nil
}

func (o *Options) setDefaults() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, a...))
	}
	if len(o.URLs) == 0 {
		return bad("no broker URL")
	}
	for _, s := range o.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return bad("%q is not a broker URL", redact.URL(s))
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return bad("%q: scheme must be tcp, ssl, ws or wss", redact.URL(s))
		}
	}
	if o.ClientID == "" {
		return bad("no client id")
	}
	if o.Prefix == "" || strings.ContainsAny(o.Prefix, "+#") || strings.HasSuffix(o.Prefix, "/") {
		return bad("prefix %q must be a topic without wildcards or trailing '/'", o.Prefix)
	}
	if o.OutboxPath == "" {
		return bad("no outbox path")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAlive, 30*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.ReconnectMin, time.Second)
	def(&o.ReconnectMax, time.Minute)
	def(&o.AckTimeout, 30*time.Second)
	def(&o.Open.MaxSkew, 30*time.Second)
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.OutboxMaxEvents <= 0 {
		o.OutboxMaxEvents = 100000
	}
	if o.OutboxMaxBytes <= 0 {
		o.OutboxMaxBytes = 256 << 20
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.Window > 10000 {
		return bad("window %d is more than 10000", o.Window)
	}
	if o.SubmissionID == "" {
		o.SubmissionID = PrivacyHash
	}
	if !o.SubmissionID.valid() {
		return bad("submission id privacy %q is not plain, hash or omit", o.SubmissionID)
	}
	if o.Open.Enabled && len(o.Open.Secret) < 16 {
		return bad("cmd/open is enabled but its secret is %d bytes (at least 16 needed)", len(o.Open.Secret))
	}
	if o.HomeAssistant.DiscoveryPrefix == "" {
		o.HomeAssistant.DiscoveryPrefix = "homeassistant"
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// PublishEvent queues one decision: it returns once the event is written
// and fsynced in the outbox, and it is then published (QoS 1, not
// retained) whenever the broker is reachable, in order, at least once, also
// across restarts. ev.EventID and ev.Seq are the caller's; submission_id is
// rewritten by the privacy setting. Errors: ErrInvalidEvent, ErrOutboxFull,
// ErrClosed, or a wrapped disk error.
func (c *Client) PublishEvent(ev Event) error {
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
		ev.TS = timestamp(c.clock.Now())
	}
	if ev.Reason == nil {
		ev.Reason = []string{}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if _, err := c.box.Append(b); err != nil {
		switch {
		case errors.Is(err, outbox.ErrFull):
			return fmt.Errorf("%w: %w", ErrOutboxFull, err)
		case errors.Is(err, outbox.ErrTooLarge):
			return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
		case errors.Is(err, outbox.ErrClosed):
			return ErrClosed
		}
		return fmt.Errorf("mqtt: queue event %s: %w", ev.EventID, err)
	}
	c.mu.Lock()
	c.lastDecision = Summarize(ev)
	c.mu.Unlock()
	c.retained.set(c.topics.State, c.statePayload())
	return nil
}

// PublishState records the kiosk session state (idle, identified,
// capturing, authenticating, granted, denied, error, cooldown) for the
// retained <prefix>/state, which also carries the last decision.
func (c *Client) PublishState(state string) error {
	if state == "" || len(state) > 32 {
		return fmt.Errorf("mqtt: state %q must be 1 to 32 bytes", state)
	}
	if c.isClosed() {
		return ErrClosed
	}
	c.mu.Lock()
	if c.state != state {
		c.state, c.stateSince = state, c.clock.Now()
	}
	c.mu.Unlock()
	c.retained.set(c.topics.State, c.statePayload())
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

// PublishHealth records the camera health for the retained <prefix>/camera.
func (c *Client) PublishHealth(h CameraHealth) error {
	if h.TS == "" {
		h.TS = timestamp(c.clock.Now())
	}
	return c.setRetainedJSON(c.topics.Camera, "camera health", h.validate, h)
}

// PublishSelfTest records the daemon's periodic self-test summary for the
// retained <prefix>/health: one overall status and each check's.
func (c *Client) PublishSelfTest(h SelfTest) error {
	if h.TS == "" {
		h.TS = timestamp(c.clock.Now())
	}
	return c.setRetainedJSON(c.topics.Health, "self-test", h.validate, h)
}

// PublishAlert records an operator alert (wrong API key, missing FaceAuth
// project, relay failure) for the retained <prefix>/alert: the newest alert
// stays visible on dashboards until a newer one replaces it.
func (c *Client) PublishAlert(a Alert) error {
	if a.TS == "" {
		a.TS = timestamp(c.clock.Now())
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

// Commands delivers validated Identify and Open commands. It is never
// closed while the Client lives; stop reading once Close has been called.
func (c *Client) Commands() <-chan Command { return c.commands }

// Connected reports whether a broker connection is up right now, with
// "online" published and the command subscriptions made.
func (c *Client) Connected() bool { return c.connected.Load() }

// OutboxDepth is the number of events not yet acknowledged by the broker.
func (c *Client) OutboxDepth() int { return c.box.Len() }

// LastError is the last connection error (nil once connected).
func (c *Client) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// Topic returns the full topic for a suffix of the prefix, e.g. "event".
func (c *Client) Topic(suffix string) string { return c.opts.Prefix + "/" + suffix }

// Close stops the Client: it refuses new events, waits (until ctx is done)
// for the outbox to drain while connected, publishes "offline", disconnects
// and closes the outbox. Undelivered events stay on disk for the next start.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	stop := c.stopRun
	c.mu.Unlock()

	if c.running.Load() {
		tick := time.NewTicker(20 * time.Millisecond)
	flush:
		for c.Connected() && c.box.Len() > 0 {
			select {
			case <-ctx.Done():
				break flush
			case <-c.runDone:
				break flush
			case <-tick.C:
			}
		}
		tick.Stop()
		if stop != nil {
			stop()
		}
		<-c.runDone
	}
	close(c.done)
	c.wg.Wait()
	if n := c.box.Len(); n > 0 {
		c.log.Info("mqtt outbox keeps undelivered events for the next start", "events", n)
	}
	if err := c.box.Close(); err != nil {
		return fmt.Errorf("mqtt: close: %w", err)
	}
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) statePayload() []byte {
	c.mu.Lock()
	p := StatePayload{State: c.state, Since: timestamp(c.stateSince), LastDecision: c.lastDecision}
	c.mu.Unlock()
	b, _ := json.Marshal(p) // strings and numbers only
	return b
}

// dispatch validates inbound messages off paho's goroutine and hands
// commands to the daemon.
func (c *Client) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.inbox:
			c.handle(m)
		}
	}
}

func (c *Client) handle(m inbound) {
	var cmd Command
	var err error
	switch {
	case m.topic == c.topics.HAStatus && c.opts.HomeAssistant.Enabled:
		if strings.TrimSpace(string(m.payload)) == "online" {
			select {
			case c.haAnnounce <- struct{}{}:
			default:
			}
		}
		return
	case m.topic == c.topics.CmdIdentify && c.opts.Identify:
		var id Identify
		id, err = ParseIdentify(m.payload)
		id.Received = c.clock.Now()
		switch {
		case err != nil:
		case m.retained:
			err = ErrRetained
		case !id.Issued.IsZero() && (id.Received.Sub(id.Issued) > c.opts.Open.MaxSkew || id.Issued.Sub(id.Received) > c.opts.Open.MaxSkew):
			err = fmt.Errorf("%w: identify issued %s, more than %s from the gate's clock", ErrStale, id.Issued.UTC().Format(time.RFC3339), c.opts.Open.MaxSkew)
		}
		cmd = id
	case m.topic == c.topics.CmdOpen && c.verifier != nil:
		if m.retained {
			err = ErrRetained
			break
		}
		cmd, err = c.verifier.Verify(m.payload)
	default:
		c.log.Debug("mqtt message on an unexpected topic ignored", "topic", m.topic)
		return
	}
	if err != nil {
		c.log.Warn("mqtt command refused", "topic", m.topic, "reason", refusalReason(err), "err", err)
		return
	}
	switch v := cmd.(type) {
	case Identify:
		c.log.Info("mqtt identify command accepted", "user_id", v.UserID)
	case Open:
		c.log.Info("mqtt open command accepted", "by", v.By, "reason", v.Reason, "nonce", v.Nonce)
	}
	// Never wait for the reader: a verified open handed over late would
	// open the gate outside its signed time window.
	select {
	case c.commands <- cmd:
	case <-c.done:
	default:
		c.log.Warn("mqtt command dropped: the gate is not reading commands", "topic", m.topic)
	}
}

// retainedStore holds the newest value of each retained topic and a queue
// of changes, so that every change is published in order while connected
// and the newest values are republished on each connect. A change that
// does not fit in the queue (a slow broker while connected) marks its topic
// for a catch-up: once the queue is empty, the topic's newest value is
// published, so the broker never keeps an older value than the gate's.
type retainedStore struct {
	mu       sync.Mutex
	latest   map[string][]byte
	order    []string
	updates  chan retainedMsg
	overflow []string        // topics with a change the queue could not take, in order
	resync   chan struct{}   // a topic was added to overflow
	marked   map[string]bool // the topics in overflow
}

type retainedMsg struct {
	topic   string
	payload []byte
}

// retainedQueue is how many retained changes wait for the publisher.
const retainedQueue = 256

func newRetainedStore() *retainedStore {
	return &retainedStore{latest: map[string][]byte{}, updates: make(chan retainedMsg, retainedQueue),
		resync: make(chan struct{}, 1), marked: map[string]bool{}}
}

func (r *retainedStore) set(topic string, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.latest[topic]; !ok {
		r.order = append(r.order, topic)
	}
	r.latest[topic] = payload
	select {
	case r.updates <- retainedMsg{topic, payload}:
	default:
		if !r.marked[topic] {
			r.marked[topic] = true
			r.overflow = append(r.overflow, topic)
		}
		select {
		case r.resync <- struct{}{}:
		default:
		}
	}
}

// catchUp returns the newest values of the topics whose changes did not fit
// in the queue, once the queue is empty (nil before: what is still queued
// is older and would overwrite them).
func (r *retainedStore) catchUp() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) > 0 || len(r.overflow) == 0 {
		return nil
	}
	out := make([]retainedMsg, 0, len(r.overflow))
	for _, t := range r.overflow {
		out = append(out, retainedMsg{t, r.latest[t]})
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	return out
}

// snapshot drops queued changes and returns the newest values; queued
// changes made after it are newer and are published after it.
func (r *retainedStore) snapshot() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.updates) > 0 {
		<-r.updates
	}
	for _, t := range r.overflow {
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	out := make([]retainedMsg, 0, len(r.order))
	for _, t := range r.order {
		out = append(out, retainedMsg{t, r.latest[t]})
	}
	return out
}
