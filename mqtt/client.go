package mqtt

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/mqtt/outbox"
	"github.com/facegate/facegate/record"

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
	// ReconnectMin (1s) doubles up to ReconnectMax, with jitter; a wait
	// ends early once a broker port seen closed accepts TCP again.
	ReconnectMin time.Duration
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
	SubmissionID record.Privacy

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
	// ReplayPath is the file that remembers accepted commands across
	// restarts (default: mqtt-open-replay.json beside the outbox;
	// OptionsFromConfig puts it in state_dir).
	ReplayPath string
}

// HomeAssistantOptions configure MQTT discovery.
type HomeAssistantOptions struct {
	Enabled bool
	// DiscoveryPrefix is Home Assistant's (homeassistant).
	DiscoveryPrefix string
	// Door announces the door binary sensor: set it only when a door
	// input is wired, or the entity stays "unknown" for ever.
	Door bool
	// ConfigurationURL is the device's link in Home Assistant (the kiosk
	// page, e.g. http://gate-north.lan:8080/); omitted when empty.
	ConfigurationURL string
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
	// probeAddrs are the brokers' host:port, probed while reconnecting.
	probeAddrs []string
	disc       []discoveryMessage

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

	healthDirty chan struct{} // the retained health's broker check changed

	mu           sync.Mutex // guards the fields below
	closed       bool
	stopRun      context.CancelFunc
	state        string // the state published on <prefix>/state
	stateSince   time.Time
	lastDecision *DecisionSummary
	// unpaired: a decision arrived after the last result state was
	// published, so the next result state is its own.
	unpaired bool
	// pending is a result state that waits for its decision (the kiosk
	// reported the state before PublishEvent); empty when none.
	pending      string
	pendingSince time.Time
	selfTest     *SelfTest // newest PublishSelfTest, nil before
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
		opts:        opts,
		log:         opts.Logger,
		clock:       opts.Clock,
		topics:      newTopics(opts.Prefix, opts.HomeAssistant.DiscoveryPrefix),
		box:         box,
		retained:    newRetainedStore(),
		inbox:       make(chan inbound, 64),
		commands:    make(chan Command, 16),
		haAnnounce:  make(chan struct{}, 1),
		healthDirty: make(chan struct{}, 1),
		done:        make(chan struct{}),
		runDone:     make(chan struct{}),
		state:       "idle",
		stateSince:  opts.Clock.Now(),
		probeAddrs:  probeAddrs(opts.URLs),
	}
	if opts.Open.Enabled {
		c.verifier = NewOpenVerifier(opts.Open.Secret, c.topics.CmdOpen, opts.Open.MaxSkew, opts.Clock, opts.Open.ReplayPath)
		if err := c.verifier.Problem(); err != nil {
			c.replayMemoryAlert(err)
		}
	}
	if opts.HomeAssistant.Enabled {
		name := "facegate " + opts.Prefix
		if opts.Site != "" && opts.Gate != "" {
			name = "facegate " + opts.Site + "/" + opts.Gate
		}
		c.disc = discoveryMessages(discoveryConfig{
			prefix: opts.HomeAssistant.DiscoveryPrefix, topics: c.topics, nodeID: opts.ClientID, name: name,
			version: opts.Version, door: opts.HomeAssistant.Door, configurationURL: opts.HomeAssistant.ConfigurationURL,
		})
	}
	c.mu.Lock()
	c.setStateLocked()
	c.mu.Unlock()
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
		o.SubmissionID = record.PrivacyHash
	}
	if !o.SubmissionID.Valid() {
		return bad("submission id privacy %q is not plain, hash or omit", o.SubmissionID)
	}
	if o.Open.Enabled && len(o.Open.Secret) < 16 {
		return bad("cmd/open is enabled but its secret is %d bytes (at least 16 needed)", len(o.Open.Secret))
	}
	if o.Open.ReplayPath == "" {
		o.Open.ReplayPath = filepath.Join(filepath.Dir(o.OutboxPath), replayFileName)
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

// PublishHealth records the camera health for the retained <prefix>/camera.
func (c *Client) PublishHealth(h CameraHealth) error {
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

// Commands delivers validated Identify and Open commands. It is never
// closed while the Client lives; stop reading once Close has been called.
func (c *Client) Commands() <-chan Command { return c.commands }

// Connected reports whether a broker connection is up right now, with
// "online" published and the command subscriptions made.
func (c *Client) Connected() bool { return c.connected.Load() }

// OutboxDepth is the number of events not yet acknowledged by the broker.
func (c *Client) OutboxDepth() int { return c.box.Len() }

// OutboxRecovery is what opening the outbox found: damaged records skipped
// (and saved aside), a torn tail cut.
func (c *Client) OutboxRecovery() outbox.Recovery { return c.box.Recovery() }

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
	// A clean stop leaves "stopped" retained, never the result of a
	// decision that landed at the stop.
	c.pending = ""
	if c.state != "stopped" {
		c.state, c.stateSince = "stopped", c.clock.Now()
	}
	c.setStateLocked()
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

// setStateLocked records the retained state payload from one snapshot of
// the state and its decision; c.mu is held, so concurrent changes reach
// the retained store in the order they were made.
func (c *Client) setStateLocked() {
	ts := record.Timestamp(c.stateSince)
	c.retained.set(c.topics.State, mustJSON(StatePayload{State: c.state, TS: ts, Since: ts, LastDecision: c.lastDecision}))
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
		if errors.Is(err, ErrReplayMemory) {
			c.replayMemoryAlert(err)
		}
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

// replayMemoryAlert tells the operator that remote opens are refused
// because the replay memory cannot be read or written.
func (c *Client) replayMemoryAlert(err error) {
	c.log.Error("mqtt remote open refused until the replay memory is repaired", "err", err)
	msg := "remote open (cmd/open) refused: " + err.Error()
	if len(msg) > 1024 {
		msg = clipUTF8(msg, 1020) + "…"
	}
	if aerr := c.PublishAlert(Alert{Code: "open_replay_memory", Message: msg}); aerr != nil && !errors.Is(aerr, ErrClosed) {
		c.log.Warn("mqtt alert not published", "err", aerr)
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

// unpublished drops the queued changes and returns the newest value of
// each topic they (or the overflow) touched, in the order of their first
// change: what a stop still owes the broker.
func (r *retainedStore) unpublished() []retainedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []retainedMsg
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, retainedMsg{t, r.latest[t]})
		}
	}
	for len(r.updates) > 0 {
		add((<-r.updates).topic)
	}
	for _, t := range r.overflow {
		add(t)
		delete(r.marked, t)
	}
	r.overflow = r.overflow[:0]
	return out
}

// get returns the newest value of topic (nil when none).
func (r *retainedStore) get(topic string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest[topic]
}
