package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/internal/lograte"
	"github.com/facegate/facegate/mqtt/outbox"
)

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
// Publish methods never wait for the network (but PublishCorrect):
// PublishEvent and PublishEvacuate wait for one write and fsync of their
// outbox file, the others only record the new value.
// Run owns the connection and is called once, on its own goroutine. Commands
// are validated on the Client's own goroutine (never paho's) and delivered
// on the Commands channel, which one goroutine should read; if nobody reads
// it, further commands are dropped (and logged) rather than blocking the
// broker connection. Close is called once, after which every method returns
// ErrClosed.
type Client struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	topics topics
	box    *outbox.Outbox
	// cmdBox queues this gate's cmd/evacuate (nil without site commands).
	cmdBox   *outbox.Outbox
	verifier *OpenVerifier // nil when neither cmd/open nor the site commands are enabled
	site     *siteLink     // nil when zones are off
	// probeAddrs are the brokers' host:port, probed while reconnecting.
	probeAddrs []string
	disc       []discoveryMessage

	retained   *retainedStore
	refused    refusedTopics // retained values the broker drops the connection at
	inbox      chan inbound
	commands   chan Command
	haAnnounce chan struct{}
	done       chan struct{} // closed when Close has stopped Run
	wg         sync.WaitGroup

	connected atomic.Bool
	// live is the connection serve runs on while connected (nil otherwise),
	// for the commands this gate sends (PublishCorrect).
	live    atomic.Pointer[paho.Client]
	running atomic.Bool
	dropped atomic.Uint64 // inbound messages dropped because nobody read Commands
	// acksNotWritten counts outbox acks a full disk refused (logged at the
	// first and every 100th).
	acksNotWritten atomic.Uint64
	runDone        chan struct{}
	// refusals logs the refused inbound messages (commands, peers'
	// messages): a flood of them is a line a minute per kind, not a line
	// each (found by a red-team pass on months of faults).
	refusals *lograte.Limiter
	// replayAlerted: open_replay_memory was raised and the replay memory
	// has not worked since (raised once per fault, not per command).
	replayAlerted atomic.Bool

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
	// refusedSubs are the subscriptions the broker refused at the last
	// connect (SUBACK 0x80), sorted.
	refusedSubs []string
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
		refusals:    lograte.New(time.Minute, opts.Clock.Now),
	}
	if opts.Zones.Enabled {
		c.site = newSiteLink(opts.Zones, opts.Prefix)
		if opts.Zones.Commands {
			c.cmdBox, err = outbox.Open(opts.Zones.CommandOutboxPath, outbox.Options{MaxRecords: 1024})
			if err != nil {
				box.Close()
				return nil, fmt.Errorf("mqtt: site commands: %w", err)
			}
			// Damage here costs evacuation commands the peers hold their
			// relays for: the caller alerts (CommandOutboxRecovery).
			c.reportOpen(c.cmdBox, "site commands", opts.Zones.CommandOutboxPath)
		}
	}
	if opts.Open.Enabled || (c.site != nil && opts.Zones.Commands) {
		// One verifier, so one replay memory, for every signed command.
		c.verifier = NewOpenVerifier(opts.Open.Secret, c.topics.CmdOpen, opts.Open.MaxSkew, opts.Clock, opts.Open.ReplayPath)
		if c.site != nil && opts.Zones.Commands {
			c.verifier.AddSiteTopic(c.site.topics.CmdEvacuate, opts.Zones.Secret)
			c.verifier.AddSiteTopic(c.site.topics.CmdCorrect, opts.Zones.Secret)
			c.verifier.AddSiteTopic(c.site.topics.CmdUnlock, opts.Zones.Secret)
		}
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
			zones: c.occupancySensors(), occupancyTopic: opts.Prefix + "/site/occupancy",
		})
	}
	c.retained.keepEvery(c.topics.Alert) // each alert is news
	c.mu.Lock()
	c.setStateLocked()
	c.mu.Unlock()
	c.reportOpen(box, "events", opts.OutboxPath)
	c.wg.Add(1)
	go c.dispatch()
	if c.site != nil {
		c.wg.Add(2)
		go c.siteDispatch()
		go c.siteLoop()
		c.SiteChanged() // the state loaded at start
	}
	return c, nil
}

// Commands delivers validated Identify and Open commands. It is never
// closed while the Client lives; stop reading once Close has been called.
func (c *Client) Commands() <-chan Command { return c.commands }

// Connected reports whether a broker connection is up right now, with
// "online" published and the command subscriptions made.
func (c *Client) Connected() bool { return c.connected.Load() }

// OutboxDepth is the number of events not yet acknowledged by the broker.
func (c *Client) OutboxDepth() int { return c.box.Len() }

// OutboxCapacity is the most events the outbox holds: Options.OutboxMaxEvents,
// or fewer when Options.OutboxMaxBytes binds first (estimated from the
// records queued now).
func (c *Client) OutboxCapacity() int {
	capacity := c.opts.OutboxMaxEvents
	if n, size := c.box.Len(), c.box.LiveBytes(); n > 0 && size > 0 {
		if byBytes := int64(n) * c.opts.OutboxMaxBytes / size; byBytes < int64(capacity) {
			capacity = int(byBytes)
		}
	}
	return capacity
}

// OutboxRecovery is what opening the outbox found: damaged records skipped
// (and saved aside), a torn tail cut.
func (c *Client) OutboxRecovery() outbox.Recovery { return c.box.Recovery() }

// reportOpen logs what opening an outbox found, once, for either outbox
// (name: "events" or "site commands"): records lost at Error, a repair
// without loss or records skipped at Warn, a backlog at Info. The caller
// raises the operator alert for a loss (OutboxRecovery,
// CommandOutboxRecovery); it does not log it again.
func (c *Client) reportOpen(box *outbox.Outbox, name, path string) {
	if r := box.Recovery(); r.Damaged() {
		c.log.Error("mqtt outbox damaged at open: records lost", "outbox", name, "recovery", r.String(), "path", path)
	} else if r.DamagedBytes > 0 || r.Torn {
		c.log.Warn("mqtt outbox repaired at open", "outbox", name, "recovery", r.String(), "path", path)
	}
	if n := box.Skipped(); n > 0 {
		c.log.Warn("mqtt outbox records skipped at open: ids out of order", "outbox", name, "count", n, "path", path)
	}
	if n := box.Len(); n > 0 {
		c.log.Info("mqtt outbox has records not yet sent", "outbox", name, "records", n, "path", path)
	}
}

// CommandOutboxRecovery is what opening the site command outbox
// (SiteOptions.CommandOutboxPath) found, as OutboxRecovery; the zero
// Recovery without site commands.
func (c *Client) CommandOutboxRecovery() outbox.Recovery {
	if c.cmdBox == nil {
		return outbox.Recovery{}
	}
	return c.cmdBox.Recovery()
}

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
		for c.Connected() && (c.box.Len() > 0 || c.cmdBox != nil && c.cmdBox.Len() > 0) {
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
	if c.cmdBox != nil {
		if n := c.cmdBox.Len(); n > 0 {
			c.log.Warn("mqtt site commands kept unsent for the next start", "commands", n)
		}
		if err := c.cmdBox.Close(); err != nil {
			c.box.Close()
			return fmt.Errorf("mqtt: close site commands: %w", err)
		}
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
