package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/internal/jsonobj"
	"github.com/facegate/facegate/record"
)

// SiteOptions turn on the site transport (docs/mqtt.md "Site", docs/site.md):
// the gate follows the decision events, relay results and snapshots of
// every gate of its site and publishes its own snapshot and views.
type SiteOptions struct {
	Enabled bool
	// Topic is <site_topic>, e.g. facegate/plant-a. The gate's Prefix must
	// be Topic + "/" + one level (the gate's name).
	Topic string
	// Handler receives the site's traffic; required when Enabled.
	Handler SiteHandler
	// Source is read for the gate's snapshot and views after SiteChanged;
	// nil publishes neither.
	Source SiteSource
	// Commands subscribes to the signed <Topic>/cmd/evacuate and
	// <Topic>/cmd/correct (the cmd/open envelope, window and replay memory).
	Commands bool
	// Secret signs the site commands, at least 16 bytes; empty: Open.Secret.
	Secret []byte
	// CommandOutboxPath is the durable queue of the cmd/evacuate this gate
	// sends (PublishEvacuate), with Commands (default: SiteCommandsFileName
	// beside the outbox).
	CommandOutboxPath string
	// CommandDropped, if set, is told of a queued cmd/evacuate dropped
	// unsent because it cannot be read (action and id "") or signed
	// (ErrMalformed): the peers never get it, so the operator must be
	// told (the daemon raises outbox_corrupt). Called from the Client's
	// sending goroutine; must not block for long and must not call Close.
	CommandDropped func(action, id string, err error)
	// SnapshotInterval is the least time between two publications of the
	// snapshot and views (2s).
	SnapshotInterval time.Duration
	// SnapshotRate bounds the bytes per second of snapshot and views each
	// gate publishes (32 KiB/s): a large site's are published less often
	// than SnapshotInterval (2,000 persons, about 400 KB: every 12 s).
	SnapshotRate int
	// SnapshotWindow is how long the gate listens to its peers' snapshots
	// after each connect and each resync (2×SnapshotInterval + 1s): the
	// retained ones, and the fresher ones peers publish meanwhile, which
	// hold the events published just before this gate subscribed.
	SnapshotWindow time.Duration
	// Resync fetches the peers' snapshots again this often while connected
	// (10m; negative: only on connect and after an inbound overflow).
	Resync time.Duration
	// Refresh reads the published state again this often without a
	// SiteChanged (1m; negative: never) and publishes what changed: the
	// failure and unlock lists drop their stamps as they age out, with
	// nothing happening at the gate.
	Refresh time.Duration
	// Queue is how many inbound site messages wait for the Handler (4096);
	// when full, messages are dropped and the peers' snapshots fetched again.
	Queue int
	// OccupancySensors are the zones announced as Home Assistant sensors
	// of their occupancy (with HomeAssistant.Enabled; nil: none).
	OccupancySensors []string
}

// SiteHandler receives the site's traffic, decoded and validated.
//
// Concurrency contract: every method is called from one goroutine of the
// Client, in arrival order; it must not block for long (the queue behind it
// holds SiteOptions.Queue messages) and must not call Close. Delivery is
// at least once and in no particular order across gates: apply facts
// idempotently (the presence CRDT does).
type SiteHandler interface {
	// SiteEvent is a decision event of any gate of the site, this one's
	// included (<site_topic>/+/event).
	SiteEvent(ev record.Event)
	// SiteRelay is a relay result of any gate (<site_topic>/+/event/relay).
	SiteRelay(r record.PulseResult)
	// SiteSnapshot is a gate's retained snapshot (<site_topic>/<gate>/site/snapshot),
	// undecoded: the site package decodes and merges it. This gate's own
	// snapshot comes back too.
	SiteSnapshot(gate string, snapshot []byte)
	// SiteLockout is a gate's retained liveness failure list
	// (<site_topic>/<gate>/site/lockout), undecoded: the kiosk decodes and
	// counts it. This gate's own list comes back too.
	SiteLockout(gate string, list []byte)
	// SiteEvacuation is the retained evacuation state as the broker holds it.
	SiteEvacuation(e Evacuation)
	// SiteCommand is a verified Evacuate, Correct or Unlock.
	SiteCommand(cmd Command)
}

// SiteSource gives what the gate publishes about the site. Its methods are
// called from a Client goroutine, concurrently with the SiteHandler's.
type SiteSource interface {
	// Snapshot encodes the gate's presence for <prefix>/site/snapshot.
	Snapshot() []byte
	// Lockout encodes the liveness failures the gate counted for
	// <prefix>/site/lockout (nil: none; an empty retained payload then
	// deletes the one published before). Not published with
	// submission_id omit: the list carries hashed ids.
	Lockout() []byte
	// Unlocks are the signed cmd/unlock payloads this gate issued that
	// may still clear a failure (Unlock.Signed), oldest first, for
	// <prefix>/site/unlocks (none: an empty retained payload deletes the
	// list published before). Not published with submission_id omit nor
	// without the site commands.
	Unlocks() [][]byte
	// Views are the per-gate retained views.
	Views() SiteViews
	// EvacuationEnded reports whether evacuation id is known to be over
	// (false when unknown): a queued cmd/evacuate start of an ended
	// evacuation is not sent.
	EvacuationEnded(id string) bool
}

// SiteViews are the retained per-gate views of the site.
type SiteViews struct {
	Occupancy OccupancyView
	Presence  PresenceView
	// Muster is nil when no evacuation has run since the start: then
	// <prefix>/site/muster is not published.
	Muster *MusterView
}

// OccupancyView is the payload of <prefix>/site/occupancy.
type OccupancyView struct {
	Zones map[string]ZoneCount `json:"zones"`
	TS    string               `json:"ts"`
}

// ZoneCount is one zone's occupancy: persons in it or any zone inside it.
type ZoneCount struct {
	Count int `json:"count"`
	// Max is the zone's max_occupancy (0: no limit).
	Max int `json:"max,omitempty"`
}

// PresenceView is the payload of <prefix>/site/presence: who is in which
// zone (the zone itself, not nested ones), by user id.
type PresenceView struct {
	Zones map[string][]PersonView `json:"zones"`
	TS    string                  `json:"ts"`
}

// PersonView is one person on a list: the roster's name, never anything
// biometric.
type PersonView struct {
	UserID string `json:"user_id"`
	Name   string `json:"name,omitempty"`
	Zone   string `json:"zone,omitempty"`
	Since  string `json:"since,omitempty"`
}

// MusterView is the payload of <prefix>/site/muster.
type MusterView struct {
	Active bool   `json:"active"`
	ID     string `json:"id"`
	Since  string `json:"since"`
	// Present counts the persons recorded inside the site at the start.
	Present  int          `json:"present"`
	Mustered []PersonView `json:"mustered"`
	Missing  []PersonView `json:"missing"`
	TS       string       `json:"ts"`
}

// Evacuation is the retained payload of <site_topic>/evacuation.
type Evacuation struct {
	Active bool   `json:"active"`
	ID     string `json:"id"`
	// Since is when the evacuation started.
	Since  string `json:"since"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	// TS is when this state was set (its start or its end): the newer
	// state wins (Newer).
	TS string `json:"ts"`
	// Gate published it.
	Gate string `json:"gate,omitempty"`
}

// MaxEvacuationPayload bounds <site_topic>/evacuation.
const MaxEvacuationPayload = 2048

// MaxEvacuationAhead is how far ahead of this gate's clock a retained
// evacuation state may be stamped and still be adopted (site.DefaultMaxFuture,
// the bound on a peer's facts).
const MaxEvacuationAhead = 5 * time.Minute

// Newer reports whether e replaces o: the later ts, then an end over a
// start, then the larger id, then the larger gate name; so every gate
// picks the same one of two states.
func (e Evacuation) Newer(o Evacuation) bool {
	et, _ := time.Parse(time.RFC3339Nano, e.TS)
	ot, _ := time.Parse(time.RFC3339Nano, o.TS)
	switch {
	case !et.Equal(ot):
		return et.After(ot)
	case e.Active != o.Active:
		return !e.Active
	case e.ID != o.ID:
		return e.ID > o.ID
	}
	return e.Gate > o.Gate
}

func (e Evacuation) validate() error {
	if err := validName(e.ID, maxEvacuationID); err != nil || e.ID == "" {
		return fmt.Errorf("evacuation id %q must be 1 to %d bytes of printable text", e.ID, maxEvacuationID)
	}
	for k, v := range map[string]string{"ts": e.TS, "since": e.Since} {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("evacuation %s %q is not an RFC 3339 time", k, v)
		}
	}
	if err := validName(e.By, 256); err != nil {
		return fmt.Errorf("evacuation by: %v", err)
	}
	if err := validName(e.Reason, 256); err != nil {
		return fmt.Errorf("evacuation reason: %v", err)
	}
	if err := validName(e.Gate, 128); err != nil {
		return fmt.Errorf("evacuation gate: %v", err)
	}
	return nil
}

// ParseEvacuation decodes and validates a <site_topic>/evacuation payload.
// Unknown fields are ignored (a newer gate may add some).
func ParseEvacuation(payload []byte) (Evacuation, error) {
	var e Evacuation
	if len(payload) > MaxEvacuationPayload {
		return e, fmt.Errorf("%w: evacuation payload is %d bytes (max %d)", ErrMalformed, len(payload), MaxEvacuationPayload)
	}
	if err := jsonobj.Decode(payload, &e); err != nil {
		return e, fmt.Errorf("%w: evacuation: %v", ErrMalformed, err)
	}
	if err := e.validate(); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

// MaxSiteEventPayload bounds an inbound event or relay result.
const MaxSiteEventPayload = 64 << 10

// ParseSiteEvent decodes and validates a peer's decision event from
// <site_topic>/<gate>/event: the checks PublishEvent makes, plus site,
// gate and a parseable ts. Unknown fields are ignored (a newer gate may
// add some).
func ParseSiteEvent(payload []byte) (record.Event, error) {
	var ev record.Event
	if len(payload) > MaxSiteEventPayload {
		return ev, fmt.Errorf("%w: event payload is %d bytes (max %d)", ErrMalformed, len(payload), MaxSiteEventPayload)
	}
	if err := jsonobj.Decode(payload, &ev); err != nil {
		return ev, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	if err := validEvent(ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := validPeer(ev.Site, ev.Gate, ev.TS); err != nil {
		return ev, fmt.Errorf("%w: event %s: %v", ErrMalformed, ev.EventID, err)
	}
	if err := checkText("user_id", ev.UserID, 0, maxIDLen); err != nil {
		return ev, err
	}
	return ev, nil
}

// ParseSitePulse decodes and validates a peer's relay result from
// <site_topic>/<gate>/event/relay.
func ParseSitePulse(payload []byte) (record.PulseResult, error) {
	var p record.PulseResult
	if len(payload) > MaxSiteEventPayload {
		return p, fmt.Errorf("%w: relay result payload is %d bytes (max %d)", ErrMalformed, len(payload), MaxSiteEventPayload)
	}
	if err := jsonobj.Decode(payload, &p); err != nil {
		return p, fmt.Errorf("%w: relay result: %v", ErrMalformed, err)
	}
	if p.Kind != record.PulseKind {
		return p, fmt.Errorf("%w: relay result kind %q is not %q", ErrMalformed, p.Kind, record.PulseKind)
	}
	if err := validPulse(p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := validPeer(p.Site, p.Gate, p.TS); err != nil {
		return p, fmt.Errorf("%w: relay result of %s: %v", ErrMalformed, p.EventID, err)
	}
	return p, nil
}

// validPeer checks the site, gate and ts of a peer's record.
func validPeer(site, gate, ts string) error {
	if err := validName(site, 128); err != nil || site == "" {
		return fmt.Errorf("site %q must be 1 to 128 bytes of printable text", site)
	}
	if err := validName(gate, 128); err != nil || gate == "" {
		return fmt.Errorf("gate %q must be 1 to 128 bytes of printable text", gate)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("ts %q is not an RFC 3339 time", ts)
	}
	return nil
}

// siteTopics are the full site topic names of one gate.
type siteTopics struct {
	// Events and Relays are the subscriptions to every gate's records.
	Events, Relays string
	// Snapshots, Lockouts and UnlockLists are the (transient)
	// subscriptions to the peers' snapshots, failure lists and unlock
	// lists.
	Snapshots, Lockouts, UnlockLists string
	// Evacuation is the site's retained evacuation state.
	Evacuation string
	// CmdEvacuate, CmdCorrect and CmdUnlock are the signed site commands.
	CmdEvacuate, CmdCorrect, CmdUnlock string
	// Snapshot, Lockout, UnlockList, Occupancy, Presence and Muster are
	// this gate's retained topics.
	Snapshot, Lockout, UnlockList, Occupancy, Presence, Muster string
}

func newSiteTopics(site, prefix string) siteTopics {
	return siteTopics{
		Events: site + "/+/event", Relays: site + "/+/event/relay", Snapshots: site + "/+/site/snapshot",
		Lockouts: site + "/+/site/lockout", UnlockLists: site + "/+/site/unlocks",
		Evacuation: site + "/evacuation", CmdEvacuate: site + "/" + siteCmdEvacuate, CmdCorrect: site + "/" + siteCmdCorrect,
		CmdUnlock: site + "/" + siteCmdUnlock,
		Snapshot:  prefix + "/site/snapshot", Lockout: prefix + "/site/lockout", UnlockList: prefix + "/site/unlocks",
		Occupancy: prefix + "/site/occupancy",
		Presence:  prefix + "/site/presence", Muster: prefix + "/site/muster",
	}
}

// siteGateOf returns the gate level of a topic <site>/<gate>/<suffix>, or
// "" when topic is not of that shape.
func siteGateOf(site, topic, suffix string) string {
	rest, ok := strings.CutPrefix(topic, site+"/")
	if !ok {
		return ""
	}
	gate, ok := strings.CutSuffix(rest, "/"+suffix)
	if !ok || gate == "" || strings.Contains(gate, "/") {
		return ""
	}
	return gate
}

// siteQueueBytes bounds the payload bytes waiting in the site queue: its
// 4096 messages may each be a snapshot of up to 8 MiB (record.
// MaxSnapshotBytes), and a client with the broker's password can leave
// retained snapshots on made-up gate names that every gate receives at
// each connect and resync (32 GiB copied: the OOM killer). A real site's
// snapshots together hold about its state file's size (each carries its
// own gate's facts).
const siteQueueBytes = 64 << 20

// siteLink is the Client's site transport state (nil when zones are off).
type siteLink struct {
	opts   SiteOptions
	topics siteTopics
	// gate is this gate's level under the site topic.
	gate  string
	inbox chan inbound
	// dirty: SiteChanged was called; resync: fetch the peers' snapshots
	// again; evacOut: publish evac.
	dirty, resync, evacOut chan struct{}
	dropped                atomic.Uint64
	// queued is the bytes of the payloads in inbox (siteQueueBytes bounds
	// them).
	queued   atomic.Int64
	oversize atomic.Bool // this gate's snapshot is over record.MaxSnapshotBytes (logged once)

	mu   sync.Mutex // guards the fields below
	evac Evacuation // the newest evacuation state known
	// refusedFuture is the last state refused as from the future.
	refusedFuture Evacuation
	hasEvac       bool
	last          map[string][]byte // the last payload set per retained topic, ts cleared
	// sent are the site commands this gate published (exact payloads,
	// oldest first, at most maxOwnCommands) until they come back.
	sent [][]byte
}

func newSiteLink(o SiteOptions, prefix string) *siteLink {
	return &siteLink{
		opts: o, topics: newSiteTopics(o.Topic, prefix), gate: strings.TrimPrefix(prefix, o.Topic+"/"), inbox: make(chan inbound, o.Queue),
		dirty: make(chan struct{}, 1), resync: make(chan struct{}, 1), evacOut: make(chan struct{}, 1),
		last: map[string][]byte{},
	}
}

// isBulk reports whether topic is a peer's snapshot, failure list or
// unlock list: the large retained messages held to siteQueueBytes. The
// evacuation, the commands and the live events are small and never wait
// for room behind a flood of them (the 4096 messages bound them).
func (s *siteLink) isBulk(topic string) bool {
	site := s.opts.Topic
	return siteGateOf(site, topic, "site/snapshot") != "" || siteGateOf(site, topic, "site/lockout") != "" ||
		siteGateOf(site, topic, "site/unlocks") != ""
}

// owns reports whether an inbound topic is site traffic.
func (s *siteLink) owns(topic string) bool {
	switch topic {
	case s.topics.Evacuation, s.topics.CmdEvacuate, s.topics.CmdCorrect, s.topics.CmdUnlock:
		return true
	}
	site := s.opts.Topic
	return siteGateOf(site, topic, "event") != "" || siteGateOf(site, topic, "event/relay") != "" || s.isBulk(topic)
}

// maxPayload is the largest payload a site topic's decoder accepts.
func (s *siteLink) maxPayload(topic string) int {
	site := s.opts.Topic
	switch {
	case topic == s.topics.Evacuation:
		return MaxEvacuationPayload
	case topic == s.topics.CmdEvacuate || topic == s.topics.CmdCorrect || topic == s.topics.CmdUnlock:
		return MaxOpenPayload
	case siteGateOf(site, topic, "event") != "" || siteGateOf(site, topic, "event/relay") != "":
		return MaxSiteEventPayload
	case siteGateOf(site, topic, "site/unlocks") != "":
		return maxUnlockListBytes
	case siteGateOf(site, topic, "site/lockout") != "":
		return record.MaxFailureListBytes
	}
	return record.MaxSnapshotBytes
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// SiteChanged tells the Client that the site's presence or views changed:
// the snapshot and views are read from SiteOptions.Source and published
// (retained) within SnapshotInterval, at most once per interval, and again
// on every connect. It never blocks; without zones it does nothing.
func (c *Client) SiteChanged() {
	if c.site != nil {
		signal(c.site.dirty)
	}
}

// SiteDropped is the number of inbound site messages dropped because the
// Handler was behind (each drop makes the gate fetch the peers' snapshots
// again).
func (c *Client) SiteDropped() uint64 {
	if c.site == nil {
		return 0
	}
	return c.site.dropped.Load()
}

// PublishEvacuation sets the site's retained <site_topic>/evacuation: it
// is published once, at once when connected, else on the next connect.
// Gate and TS are filled when empty. A state older than the newest one
// this gate knows (Evacuation.Newer) is refused: the site has moved on.
// Gates that receive an older state than theirs publish theirs again, so
// the broker ends up holding the newest.
func (c *Client) PublishEvacuation(e Evacuation) error {
	if c.site == nil {
		return fmt.Errorf("%w: zones are off", ErrInvalidOptions)
	}
	if e.Gate == "" {
		e.Gate = c.opts.Gate
	}
	if e.TS == "" {
		e.TS = record.Timestamp(c.clock.Now())
	}
	if e.Since == "" {
		e.Since = e.TS
	}
	if err := e.validate(); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if c.isClosed() {
		return ErrClosed
	}
	s := c.site
	s.mu.Lock()
	if s.hasEvac && s.evac.Newer(e) {
		known := s.evac
		s.mu.Unlock()
		return fmt.Errorf("mqtt: evacuation %s at %s is older than the site's %s at %s", e.ID, e.TS, known.ID, known.TS)
	}
	s.evac, s.hasEvac = e, true
	s.mu.Unlock()
	signal(s.evacOut)
	return nil
}

// evacuationPayload is the newest known evacuation state (nil when none).
func (s *siteLink) evacuationPayload() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasEvac {
		return nil
	}
	return mustJSON(s.evac)
}

// siteLoop publishes the snapshot and views after SiteChanged, at most
// once per SnapshotInterval, and what changed on its own every Refresh.
func (c *Client) siteLoop() {
	defer c.wg.Done()
	s := c.site
	var last time.Time
	gap := s.opts.SnapshotInterval
	var refresh <-chan time.Time
	if s.opts.Refresh > 0 {
		t := time.NewTicker(s.opts.Refresh)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-c.done:
			return
		case <-s.dirty:
		case <-refresh:
		}
		if !last.IsZero() {
			if wait := gap - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-c.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		// The changes signalled while waiting are in what is read now.
		select {
		case <-s.dirty:
		default:
		}
		last = time.Now()
		n := c.publishSiteState()
		// A large site's payloads are spread out: at most SnapshotRate
		// bytes per second from each gate.
		gap = max(s.opts.SnapshotInterval, time.Duration(float64(n)/float64(s.opts.SnapshotRate)*float64(time.Second)))
	}
}

// publishSiteState records the snapshot and the views that changed for
// the retained store (which publishes them now and on every connect). It
// returns the bytes recorded.
func (c *Client) publishSiteState() int {
	s := c.site
	if s.opts.Source == nil {
		return 0
	}
	snap := s.opts.Source.Snapshot()
	if len(snap) > record.MaxSnapshotBytes {
		if s.oversize.CompareAndSwap(false, true) {
			c.log.Error("site snapshot larger than peers accept: they will not join it (the site follows more persons than a snapshot holds)",
				"bytes", len(snap), "limit", record.MaxSnapshotBytes)
		}
	} else {
		s.oversize.Store(false)
	}
	n := s.setIfChanged(c.retained, s.topics.Snapshot, snap, nil)
	if list := s.opts.Source.Lockout(); list != nil && c.opts.SubmissionID != record.PrivacyOmit {
		n += s.setIfChanged(c.retained, s.topics.Lockout, list, nil)
	} else {
		// An empty retained payload deletes a list this gate published
		// before (the lockout turned off, or ids now omitted).
		s.setIfChanged(c.retained, s.topics.Lockout, noLockoutList, func() []byte { return []byte{} })
	}
	if u := s.opts.Source.Unlocks(); len(u) > 0 && c.SiteCommands() && c.opts.SubmissionID != record.PrivacyOmit {
		n += s.setIfChanged(c.retained, s.topics.UnlockList, encodeUnlockList(c.opts.Site, s.gate, u), nil)
	} else {
		s.setIfChanged(c.retained, s.topics.UnlockList, noLockoutList, func() []byte { return []byte{} })
	}
	v := s.opts.Source.Views()
	ts := record.Timestamp(c.clock.Now())
	occ := v.Occupancy
	if occ.Zones == nil {
		occ.Zones = map[string]ZoneCount{}
	}
	occ.TS = ""
	n += s.setIfChanged(c.retained, s.topics.Occupancy, mustJSON(occ), func() []byte { occ.TS = ts; return mustJSON(occ) })
	pres := v.Presence
	if pres.Zones == nil {
		pres.Zones = map[string][]PersonView{}
	}
	pres.TS = ""
	n += s.setIfChanged(c.retained, s.topics.Presence, mustJSON(pres), func() []byte { pres.TS = ts; return mustJSON(pres) })
	if v.Muster != nil {
		m := *v.Muster
		if m.Mustered == nil {
			m.Mustered = []PersonView{}
		}
		if m.Missing == nil {
			m.Missing = []PersonView{}
		}
		m.TS = ""
		n += s.setIfChanged(c.retained, s.topics.Muster, mustJSON(m), func() []byte { m.TS = ts; return mustJSON(m) })
	}
	return n
}

// noLockoutList is the key of the empty retained <prefix>/site/lockout
// and <prefix>/site/unlocks.
var noLockoutList = []byte("no list")

// setIfChanged sets topic to final() (or key when final is nil) when key
// differs from the last one set: an unchanged view is not published again
// with a new ts. It returns the bytes set.
func (s *siteLink) setIfChanged(r *retainedStore, topic string, key []byte, final func() []byte) int {
	// One critical section: a caller that finds the payload unchanged
	// must find it in the store too (the site loop and a direct call both
	// publish; the second returned before the first had stored it).
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(s.last[topic], key) {
		return 0
	}
	s.last[topic] = key
	if key == nil {
		return 0
	}
	if final != nil {
		key = final()
	}
	r.set(topic, key)
	return len(key)
}

// siteDispatch hands site messages to the Handler off paho's goroutine.
func (c *Client) siteDispatch() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.site.inbox:
			if c.site.isBulk(m.topic) {
				c.site.queued.Add(-int64(len(m.payload)))
			}
			c.handleSite(m)
		}
	}
}

func (c *Client) handleSite(m inbound) {
	s := c.site
	h := s.opts.Handler
	site := s.opts.Topic
	switch {
	case m.topic == s.topics.Evacuation:
		if len(m.payload) == 0 {
			return // cleared by an operator
		}
		e, err := ParseEvacuation(m.payload)
		if err != nil {
			c.refusals.Log(c.log, slog.LevelWarn, "evacuation|malformed", "mqtt site evacuation state refused", "topic", m.topic, "err", err)
			return
		}
		if at, err := time.Parse(time.RFC3339Nano, e.TS); err == nil && at.Sub(c.clock.Now()) > MaxEvacuationAhead {
			// Newer than every real state until its time comes: adopted,
			// it made every gate refuse to publish a real one (an unsigned
			// retained message stamped in 2099 silenced fire alarms).
			c.refusals.Log(c.log, slog.LevelWarn, "evacuation|future|"+e.Gate, "mqtt site evacuation state from the future refused: check NTP on the gates", "id", e.ID, "ts", e.TS, "gate", e.Gate)
			s.mu.Lock()
			// The broker's copy is replaced with what this gate knows,
			// once per refused state: the fast gate publishes its own
			// again, and answering each time made the two publish over
			// each other at the broker's speed. (Its evacuation still
			// reaches this gate in its snapshot.)
			answer := s.hasEvac && s.refusedFuture != e
			s.refusedFuture = e
			s.mu.Unlock()
			if answer {
				signal(s.evacOut)
			}
			return
		}
		s.mu.Lock()
		// The state this gate knows already (its own, or the stale
		// retained one re-delivered on a reconnect) is not applied again.
		known := s.hasEvac && s.evac == e
		older := !known && s.hasEvac && s.evac.Newer(e)
		if !known && !older {
			s.evac, s.hasEvac = e, true
		}
		s.mu.Unlock()
		if known {
			c.log.Debug("mqtt site evacuation state already known", "id", e.ID, "ts", e.TS)
			return
		}
		if older {
			// The broker holds an older state than this gate knows (a
			// gate that was away published it): publish the newer again.
			c.log.Info("mqtt site evacuation state older than known: republished", "id", e.ID, "ts", e.TS)
			signal(s.evacOut)
			return
		}
		h.SiteEvacuation(e)
	case m.topic == s.topics.CmdEvacuate || m.topic == s.topics.CmdCorrect || m.topic == s.topics.CmdUnlock:
		var cmd Command
		var err error
		if m.retained {
			err = ErrRetained
		} else if !s.opts.Commands || c.verifier == nil {
			// Site commands off: a command the persistent session still
			// held from an older configuration (delivered before the
			// unsubscription) is refused, not verified without a verifier.
			err = ErrSiteCommandsOff
		} else if s.takeSent(m.payload) {
			// This gate's own command, back from the broker: its nonce is
			// already in the replay memory and the wire applied it.
			c.log.Debug("mqtt site command of this gate came back", "topic", m.topic)
			return
		} else {
			cmd, err = c.verifier.VerifySite(m.topic, m.payload)
		}
		if err != nil {
			reason := refusalReason(err)
			c.refusals.Log(c.log, slog.LevelWarn, m.topic+"|"+reason, "mqtt command refused", "topic", m.topic, "reason", reason, "err", err)
			if errors.Is(err, ErrReplayMemory) {
				c.replayMemoryAlert(err)
			}
			return
		}
		c.replayMemoryWorks()
		switch v := cmd.(type) {
		case Evacuate:
			c.log.Info("mqtt site evacuate command accepted", "action", v.Action, "id", v.ID, "by", v.By, "nonce", v.Nonce)
		case Correct:
			c.log.Info("mqtt site correct command accepted", "user_id", v.UserID, "zone", v.Zone, "by", v.By, "nonce", v.Nonce)
		case Unlock:
			c.log.Info("mqtt site unlock command accepted", "key", v.Key[:12], "by", v.By, "nonce", v.Nonce)
		}
		h.SiteCommand(cmd)
	default:
		if gate := siteGateOf(site, m.topic, "event/relay"); gate != "" {
			p, err := ParseSitePulse(m.payload)
			if err == nil && p.Gate != gate {
				err = fmt.Errorf("%w: relay result of gate %q on %s", ErrMalformed, p.Gate, m.topic)
			}
			if err == nil && c.opts.Site != "" && p.Site != c.opts.Site {
				err = fmt.Errorf("%w: relay result of site %q", ErrMalformed, p.Site)
			}
			if err != nil {
				c.refusals.Log(c.log, slog.LevelWarn, "relay|"+gate, "mqtt site relay result refused", "topic", m.topic, "err", err)
				return
			}
			h.SiteRelay(p)
			return
		}
		if gate := siteGateOf(site, m.topic, "event"); gate != "" {
			ev, err := ParseSiteEvent(m.payload)
			if err == nil && ev.Gate != gate {
				err = fmt.Errorf("%w: event of gate %q on %s", ErrMalformed, ev.Gate, m.topic)
			}
			if err == nil && c.opts.Site != "" && ev.Site != c.opts.Site {
				err = fmt.Errorf("%w: event of site %q", ErrMalformed, ev.Site)
			}
			if err != nil {
				c.refusals.Log(c.log, slog.LevelWarn, "event|"+gate, "mqtt site event refused", "topic", m.topic, "err", err)
				return
			}
			h.SiteEvent(ev)
			return
		}
		if gate := siteGateOf(site, m.topic, "site/snapshot"); gate != "" && len(m.payload) > 0 {
			h.SiteSnapshot(gate, m.payload)
			return
		}
		if gate := siteGateOf(site, m.topic, "site/lockout"); gate != "" && len(m.payload) > 0 {
			h.SiteLockout(gate, m.payload)
			return
		}
		if gate := siteGateOf(site, m.topic, "site/unlocks"); gate != "" && len(m.payload) > 0 {
			c.handleUnlockList(gate, m)
		}
	}
}

// siteSync listens to the peers' retained snapshots (and failure lists) for SnapshotWindow
// after each connect, after an inbound overflow and every Resync: a
// permanent subscription would send every gate every other gate's
// snapshot each SnapshotInterval (n² snapshots), while the events keep
// the presence current in between.
func (c *Client) siteSync(ctx context.Context, cli paho.Client) {
	s := c.site
	var tick <-chan time.Time
	if s.opts.Resync > 0 {
		t := time.NewTicker(s.opts.Resync)
		defer t.Stop()
		tick = t.C
	}
	for {
		// QoS 0: an offline session does not queue snapshots. A failed
		// (un)subscription is tried again after a window: returning would
		// end the resyncs for the rest of the connection.
		subs := map[string]byte{s.topics.Snapshots: 0, s.topics.Lockouts: 0, s.topics.UnlockLists: 0}
		if err := waitToken(ctx, cli.SubscribeMultiple(subs, c.onMessage), c.opts.ConnectTimeout); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("mqtt site snapshot subscription failed", "err", err)
			if !sleep(ctx, s.opts.SnapshotWindow) {
				return
			}
			continue
		}
		if !sleep(ctx, s.opts.SnapshotWindow) {
			return
		}
		if err := waitToken(ctx, cli.Unsubscribe(s.topics.Snapshots, s.topics.Lockouts, s.topics.UnlockLists), c.opts.ConnectTimeout); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("mqtt site snapshot unsubscription failed", "err", err)
			if !sleep(ctx, s.opts.SnapshotWindow) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.resync:
		case <-tick:
		}
	}
}

// occupancySensors are the zones announced in Home Assistant.
func (c *Client) occupancySensors() []string {
	if c.site == nil {
		return nil
	}
	return c.site.opts.OccupancySensors
}
