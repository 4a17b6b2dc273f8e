package site

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/facegate/facegate/internal/zonerules"
	"github.com/facegate/facegate/record"
)

// Passback modes (PassbackOptions.Mode).
const (
	PassbackOff  = "off" // no anti-passback rule ("" is the same)
	PassbackSoft = "soft"
	PassbackHard = "hard"
)

// Which entries need a recorded path (PassbackOptions.RequirePath).
const (
	RequirePathHazardous = "hazardous" // the default (""): hazardous zones only
	RequirePathAll       = "all"
	RequirePathNone      = "none"
)

// DefaultMaxFuture is Options.MaxFuture when it is 0.
const DefaultMaxFuture = 5 * time.Minute

// keepTombstones is how long a relay void, and the check-ins of an ended
// evacuation, are kept: a void replayed later than that (an outbox older
// than a week) may come back to life. The end itself is kept longer
// (maxEndedEvacuations).
const keepTombstones = 7 * 24 * time.Hour

// PassbackOptions are the site-wide anti-passback rules of this gate.
type PassbackOptions struct {
	// Mode is PassbackOff (or ""), PassbackSoft (allow and flag) or
	// PassbackHard (deny). Exits are never denied in any mode.
	Mode string
	// Window > 0 makes anti-passback timed: a record of being inside a
	// zone older than Window no longer counts for either rule. 0: untimed.
	Window time.Duration
	// RequirePath says which entries need the person recorded in the
	// door's From zone: RequirePathHazardous ("" too), RequirePathAll or
	// RequirePathNone.
	RequirePath string
}

// Options configure a Presence.
type Options struct {
	// Site and Gate name this site and this gate. Snapshots of another
	// site are refused (events are not checked: the wire subscribes per
	// site). Gate is the fact key's gate of the corrections this gate
	// takes in.
	Site, Gate string
	Zones      []Zone
	// Door is this gate's door; zero for a muster kiosk.
	Door     Door
	Passback PassbackOptions
	// ResetAt is the daily reset time "HH:MM" in Location (everyone is
	// outside from then on); "" means no reset.
	ResetAt  string
	Location *time.Location // nil: time.Local
	// StatePath is the state file (<state_dir>/site-presence.json); ""
	// keeps the presence in memory only.
	StatePath string
	// MaxFuture is how far ahead of this gate's clock a fact may be before
	// it is flagged (NoticeClockSkew) and not applied. 0 means
	// DefaultMaxFuture.
	MaxFuture time.Duration
	Now       func() time.Time // nil: time.Now
	Log       *slog.Logger     // nil: slog.Default()
	// SaveFailed, when not nil, is told the first failed periodic save of
	// a run of them (a full or worn-out card): Run retries each interval,
	// and a person must hear of it once, not every ten seconds.
	SaveFailed func(error)
}

// Person is one person's presence.
type Person struct {
	ID   string
	Zone string
	// Since is when the fact that put the person in Zone happened (the
	// reset time for a reset; zero for a person never seen).
	Since time.Time
	// Gate and EventID name that fact; both are "" for a reset, EventID is
	// "" for a correction.
	Gate    string
	EventID string
}

// Change is what one call changed; subscribers get it too.
type Change struct {
	Moves   []Move
	Notices []Notice
	// Muster is true when an evacuation started or ended or someone was
	// checked off: the muster list should be published again.
	Muster bool
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Moves) == 0 && len(c.Notices) == 0 && !c.Muster }

// Move is one person's presence changing zone (or time in the same zone).
type Move struct {
	Person, From, To string
	Since            time.Time
	// Reverted: a relay result voided the fact that had written the
	// register; the person is back where the previous fact put them.
	Reverted bool
}

// Notice asks the caller for an alert or an event (see the Notice* kinds).
type Notice struct {
	Kind         string
	Zone         string // occupancy notices
	Count, Max   int    // occupancy notices
	EvacuationID string // evacuation notices
	Message      string
}

// fact is one write of a register, ordered by key (ms, gate, seq); zone
// and event only break ties of equal keys so that the order is total.
type fact struct {
	ms    int64 // unix milliseconds
	gate  string
	seq   uint64
	zone  string
	event string
}

func (a fact) cmp(b fact) int {
	return cmp.Or(cmp.Compare(a.ms, b.ms), strings.Compare(a.gate, b.gate), cmp.Compare(a.seq, b.seq),
		strings.Compare(a.zone, b.zone), strings.Compare(a.event, b.event))
}

// aboveReset reports whether f is later than the reset fact (reset, "", 0).
func (f fact) aboveReset(reset int64) bool {
	return f.ms > reset || f.ms == reset && (f.gate != "" || f.seq > 0)
}

// register keeps the two greatest facts seen for a person that no relay
// result voided: cur wins, prev is what a void of cur reverts to.
type register struct {
	cur, prev fact
	n         uint8 // how many of cur, prev are set
}

// add joins f into the register; it reports whether the register changed.
func (r *register) add(f fact) bool {
	switch {
	case r.n > 0 && f.cmp(r.cur) == 0, r.n > 1 && f.cmp(r.prev) == 0:
		return false
	case r.n == 0 || f.cmp(r.cur) > 0:
		r.prev, r.cur = r.cur, f
		r.n = min(r.n+1, 2)
	case r.n == 1 || f.cmp(r.prev) > 0:
		r.prev = f
		r.n = 2
	default:
		return false
	}
	return true
}

// void drops the facts written by event; it reports whether it did.
func (r *register) void(event string) bool {
	switch {
	case r.n > 0 && r.cur.event == event:
		r.cur, r.prev = r.prev, fact{}
		r.n--
	case r.n > 1 && r.prev.event == event:
		r.prev = fact{}
		r.n--
	default:
		return false
	}
	return true
}

// evacuation is one evacuation's join state.
type evacuation struct {
	id         string
	since      int64
	by, reason string
	started    bool  // a start fact was seen (musters may come first)
	ended      int64 // 0: not ended
	endedBy    string
	mustered   map[string]int64 // person -> earliest check-in
}

// Presence is the site's presence as this gate knows it. All methods are
// safe for concurrent use.
type Presence struct {
	opts      Options
	topo      *topology
	now       func() time.Time
	log       *slog.Logger
	maxFuture time.Duration
	resetHour int // -1: no daily reset
	resetMin  int
	limited   []string // the zones with a MaxOccupancy, sorted

	saveMu sync.Mutex // one Save at a time, so the newest state lands last
	mu     sync.Mutex
	regs   map[string]*register
	reset  int64            // ms of the latest reset fact; 0: none
	voided map[string]int64 // event id -> ms of the relay result
	evacs  map[string]*evacuation
	direct map[string]int // effective zone -> persons in it (not nested)
	strs   map[string]string
	// strsCap: at this size strs is rebuilt from the registers.
	strsCap int
	dirty   bool
	problem error
	subs    map[int]func(Change)
	nextSub int
}

// New checks the options and loads the state file. A state file that does
// not decode is moved aside and the presence starts empty: New succeeds
// and StateProblem reports it. New fails on invalid options or when the
// state file cannot be read at all.
func New(o Options) (*Presence, error) {
	topo, err := newTopology(o.Zones)
	if err != nil {
		return nil, err
	}
	if err := topo.validDoor(o.Door); err != nil {
		return nil, err
	}
	switch o.Passback.Mode {
	case "", PassbackOff, PassbackSoft, PassbackHard:
	default:
		return nil, fmt.Errorf("%w: anti_passback mode %q (want off, soft or hard)", ErrOptions, o.Passback.Mode)
	}
	switch o.Passback.RequirePath {
	case "", RequirePathHazardous, RequirePathAll, RequirePathNone:
	default:
		return nil, fmt.Errorf("%w: require_path %q (want hazardous, all or none)", ErrOptions, o.Passback.RequirePath)
	}
	if o.Passback.Window < 0 {
		return nil, fmt.Errorf("%w: anti_passback window %v is negative", ErrOptions, o.Passback.Window)
	}
	p := &Presence{
		opts: o, topo: topo, now: o.Now, log: o.Log, maxFuture: o.MaxFuture, resetHour: -1,
		regs: map[string]*register{}, voided: map[string]int64{}, evacs: map[string]*evacuation{},
		direct: map[string]int{}, strs: map[string]string{}, subs: map[int]func(Change){},
	}
	for _, name := range topo.order {
		if topo.zones[name].MaxOccupancy > 0 {
			p.limited = append(p.limited, name)
		}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.maxFuture == 0 {
		p.maxFuture = DefaultMaxFuture
	}
	if p.opts.Location == nil {
		p.opts.Location = time.Local
	}
	if o.ResetAt != "" {
		if p.resetHour, p.resetMin, err = zonerules.ParseClock(o.ResetAt); err != nil {
			return nil, fmt.Errorf("%w: reset_at: %w", ErrOptions, err)
		}
	}
	if o.StatePath != "" {
		if err := p.load(); err != nil {
			return nil, err
		}
	}
	p.Tick(p.now())
	return p, nil
}

// StateProblem is the error met loading the state file (wrapping
// ErrCorruptState, naming where the file was moved), or nil. The caller
// raises AlertSiteState with it.
func (p *Presence) StateProblem() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.problem
}

// Subscribe calls fn after every change, from the goroutine that made it,
// with no lock held. fn must not block (publish asynchronously) and should
// not change the presence; it may read it. Changes made by concurrent
// callers may reach fn in either order: read the current state (Occupancy,
// Inside, MusterList) rather than summing Changes. The returned func
// unsubscribes.
func (p *Presence) Subscribe(fn func(Change)) (cancel func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.nextSub
	p.nextSub++
	p.subs[id] = fn
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.subs, id)
	}
}

// publish hands ch to the subscribers; called without the lock.
func (p *Presence) publish(ch Change) Change {
	if ch.Empty() {
		return ch
	}
	p.mu.Lock()
	subs := slices.Collect(maps.Values(p.subs))
	p.mu.Unlock()
	for _, fn := range subs {
		fn(ch)
	}
	return ch
}

// intern returns one shared copy of a gate or zone name.
func (p *Presence) intern(s string) string {
	if v, ok := p.strs[s]; ok {
		return v
	}
	if len(p.strs) >= max(p.strsCap, minInterned) {
		p.reintern()
	}
	p.strs[s] = s
	return s
}

// minInterned is the size below which the intern table is never rebuilt.
const minInterned = 1024

// reintern rebuilds the intern table from the names the registers hold:
// a name no fact holds any more is forgotten (a peer's events may name any
// zone and any gate; the table kept every name ever seen, for good). The
// next rebuild waits until the table has doubled, so the cost is amortised.
func (p *Presence) reintern() {
	p.strs = make(map[string]string, 2*len(p.direct)+16)
	for _, r := range p.regs {
		for _, f := range []fact{r.cur, r.prev}[:r.n] {
			p.strs[f.gate], p.strs[f.zone] = f.gate, f.zone
		}
	}
	p.strsCap = 2 * len(p.strs)
}

// effective is the person's presence given the reset; the caller holds mu.
func (p *Presence) effective(id string, r *register) Person {
	if r == nil || r.n == 0 || !r.cur.aboveReset(p.reset) {
		if p.reset == 0 {
			return Person{ID: id, Zone: Outside}
		}
		return Person{ID: id, Zone: Outside, Since: time.UnixMilli(p.reset).UTC()}
	}
	return Person{ID: id, Zone: r.cur.zone, Since: time.UnixMilli(r.cur.ms).UTC(), Gate: r.cur.gate, EventID: r.cur.event}
}

// tx collects one call's change; the caller holds mu.
type tx struct {
	p      *Presence
	occ    []int // occupancy before, of the zones in p.limited
	ch     Change
	before []Person       // persons written, as they were
	index  map[string]int // into before, once it is long
}

func (p *Presence) begin() *tx {
	t := &tx{p: p}
	if len(p.limited) > 0 {
		t.occ = make([]int, len(p.limited))
		for i, name := range p.limited {
			t.occ[i] = p.occupancy(name)
		}
	}
	return t
}

// touch records a person's presence before a write.
func (t *tx) touch(id string) { t.was(id, t.p.effective(id, t.p.regs[id])) }

func (t *tx) was(id string, before Person) {
	if t.index != nil {
		if _, ok := t.index[id]; ok {
			return
		}
		t.index[id] = len(t.before)
	} else {
		for _, b := range t.before {
			if b.ID == id {
				return
			}
		}
		if len(t.before) == 16 { // a merge or a reset: index it
			t.index = make(map[string]int, 64)
			for i, b := range t.before {
				t.index[b.ID] = i
			}
			t.index[id] = len(t.before)
		}
	}
	t.before = append(t.before, before)
}

// commit turns the touched persons into moves, keeps the counts and adds
// the occupancy notices.
func (t *tx) commit() Change {
	p := t.p
	slices.SortFunc(t.before, func(a, b Person) int { return strings.Compare(a.ID, b.ID) })
	for _, b := range t.before {
		id := b.ID
		a := p.effective(id, p.regs[id])
		if b.Zone == a.Zone && b.Since.Equal(a.Since) && b.EventID == a.EventID && b.Gate == a.Gate {
			continue
		}
		p.count(b.Zone, -1)
		p.count(a.Zone, +1)
		t.ch.Moves = append(t.ch.Moves, Move{Person: id, From: b.Zone, To: a.Zone, Since: a.Since})
	}
	for i, name := range p.limited {
		z := p.topo.zones[name]
		was, is := t.occ[i], p.occupancy(name)
		switch {
		case was < z.MaxOccupancy && is >= z.MaxOccupancy:
			t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeOccupancyReached, Zone: name, Count: is, Max: z.MaxOccupancy,
				Message: fmt.Sprintf("%s is at its maximum occupancy (%d/%d)", name, is, z.MaxOccupancy)})
		case was >= z.MaxOccupancy && is < z.MaxOccupancy:
			t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeOccupancyBelow, Zone: name, Count: is, Max: z.MaxOccupancy,
				Message: fmt.Sprintf("%s is below its maximum occupancy again (%d/%d)", name, is, z.MaxOccupancy)})
		}
	}
	if !t.ch.Empty() || len(t.before) > 0 {
		p.dirty = true
	}
	return t.ch
}

func (p *Presence) count(zone string, d int) {
	if zone == Outside {
		return
	}
	if _, declared := p.topo.zones[zone]; !declared {
		// An undeclared zone (a peer's, configurations out of step)
		// counts for no declared zone's occupancy: kept out of the counts
		// that occupancy() scans, or a snapshot of many such zones makes
		// every event and check scan them all.
		return
	}
	if p.direct[zone] += d; p.direct[zone] == 0 {
		delete(p.direct, zone)
	}
}

// occupancy is the number of persons in zone or nested in it.
func (p *Presence) occupancy(zone string) int {
	n := 0
	for z, c := range p.direct {
		if p.topo.within(z, zone) {
			n += c
		}
	}
	return n
}

// addFact joins f into id's register; it reports whether the register
// changed.
func (t *tx) addFact(id string, f fact) bool {
	p := t.p
	if _, void := p.voided[f.event]; void && f.event != "" || !f.aboveReset(p.reset) {
		return false // voided, or older than the reset: it can never win
	}
	r := p.regs[id]
	if r == nil {
		r = &register{}
	}
	old := *r
	if !r.add(f) {
		return false // known already, or too old to matter: no work
	}
	r.cur.gate, r.cur.zone = p.intern(r.cur.gate), p.intern(r.cur.zone)
	r.prev.gate, r.prev.zone = p.intern(r.prev.gate), p.intern(r.prev.zone)
	if old.n == 0 {
		p.regs[id] = r
		t.was(id, p.effective(id, nil))
	} else {
		t.was(id, p.effective(id, &old))
	}
	p.dirty = true
	return true
}

// fromTheFuture reports, and flags (clock_skew), a fact stamped more than
// maxFuture ahead of this gate's clock: it is not applied. Applied, it
// outranked every correction, passage and daily reset until its time came
// (a forged event stamped in 2099 kept a worker inside for good, and
// spread in every gate's snapshot). A peer whose clock runs ahead has its
// facts taken once they are no longer ahead (the next snapshot).
func (t *tx) fromTheFuture(ms int64, gate string) bool {
	ahead := time.Duration(ms-t.p.now().UnixMilli()) * time.Millisecond
	if ahead <= t.p.maxFuture {
		return false
	}
	t.p.log.Warn("site fact from the future not applied", "gate", gate, "ahead", ahead.Round(time.Millisecond))
	t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeClockSkew,
		Message: fmt.Sprintf("a fact of gate %s is %v ahead of this gate's clock, not applied: check NTP", gate, ahead.Round(time.Second))})
	return true
}

func parseTS(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp %q: %v", ErrFact, s, err)
	}
	if err := inRange(t); err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// maxFactMS is the last millisecond a snapshot can write and read back
// (record.Timestamp has a four-digit year).
var maxFactMS = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()

// inRange refuses a time the snapshot (and so the state file and every
// peer's Merge) cannot hold: at or before 1970 (0 means "none" in the
// model), or past year 9999 in UTC. time.Parse takes both (years
// 0000-9999 with any offset): taken in, one made this gate's state file
// unreadable and its snapshot refused by every peer.
func inRange(t time.Time) error {
	if ms := t.UnixMilli(); ms <= 0 || ms > maxFactMS {
		return fmt.Errorf("%w: time %s is out of range (after 1970, up to year 9999 in UTC)", ErrFact, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// ApplyEvent applies any gate's decision event, this gate's included;
// applying one event again changes nothing. A granted event with a zone_to
// moves its person there; a granted event of a muster kiosk
// (mode "muster") checks its person off the muster list. Other events
// (denials, no zone fields, no user id) are not facts: an empty Change.
func (p *Presence) ApplyEvent(e record.Event) (Change, error) {
	if e.Decision != record.DecisionGranted || e.UserID == "" {
		return Change{}, nil
	}
	if e.Mode == record.ModeMuster {
		at, err := time.Parse(time.RFC3339Nano, e.TS)
		if err != nil {
			return Change{}, fmt.Errorf("%w: event %s: timestamp %q: %v", ErrFact, e.EventID, e.TS, err)
		}
		return p.Muster(e.UserID, e.EvacuationID, at) // which refuses a time out of range
	}
	if e.ZoneTo == "" || e.Relay == record.RelayNotEnergised {
		return Change{}, nil
	}
	ms, err := parseTS(e.TS)
	if err != nil {
		return Change{}, fmt.Errorf("event %s: %w", e.EventID, err)
	}
	if e.Gate == "" {
		return Change{}, fmt.Errorf("%w: event %s has no gate", ErrFact, e.EventID)
	}
	p.mu.Lock()
	t := p.begin()
	if !t.fromTheFuture(ms, e.Gate) {
		t.addFact(e.UserID, fact{ms: ms, gate: e.Gate, seq: e.Seq, zone: e.ZoneTo, event: e.EventID})
	}
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

// ApplyRelay applies a relay result. RelayNotEnergised (the gate never
// opened for the grant) voids the grant's event: the register it wrote
// reverts to the previous fact, and the event is ignored if it comes later.
// Every other outcome keeps the passage: pulsed and cut opened the door,
// fault left it open, interrupted may have opened it.
func (p *Presence) ApplyRelay(r record.PulseResult) (Change, error) {
	if r.Relay != record.RelayNotEnergised {
		return Change{}, nil
	}
	if r.EventID == "" {
		return Change{}, fmt.Errorf("%w: relay result without event_id", ErrFact)
	}
	ms, err := parseTS(r.TS)
	if err != nil {
		return Change{}, fmt.Errorf("relay result of %s: %w", r.EventID, err)
	}
	p.mu.Lock()
	t := p.begin()
	t.voidEvent(r.EventID, ms)
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

func (t *tx) voidEvent(event string, ms int64) {
	t.voidEvents(map[string]int64{event: ms})
}

// voidEvents joins many voids with one pass over the registers: a
// snapshot's voids each scanning every register made a 64 KiB snapshot
// cost seconds under the lock.
func (t *tx) voidEvents(voids map[string]int64) {
	p := t.p
	fresh := map[string]bool{}
	for event, ms := range voids {
		if old, ok := p.voided[event]; ok && old >= ms {
			continue
		}
		_, had := p.voided[event]
		p.voided[event] = ms
		p.dirty = true
		if !had {
			fresh[event] = true
		}
	}
	if len(fresh) == 0 {
		return
	}
	for id, r := range p.regs {
		for _, event := range []string{r.cur.event, r.prev.event}[:r.n] {
			if event != "" && fresh[event] {
				t.touch(id)
				r.void(event)
			}
		}
		if r.n == 0 {
			delete(p.regs, id)
		}
	}
}

// Correction is an operator's correction of one person's presence
// ("left through the fire exit" is Zone Outside).
type Correction struct {
	Person string
	Zone   string
	// At is when the correction was made; it is the fact's time, so a
	// passage after it wins.
	At time.Time
	// Gate is the fact key's gate; "" means this gate. A command that every
	// gate takes in should be stamped alike everywhere (e.g. "cmd") so
	// that all write one identical fact. Seq breaks ties between
	// corrections stamped alike within one millisecond.
	Gate       string
	Seq        uint64
	By, Reason string
}

// Correct applies a correction (signed command or admin API). The zone must
// be Outside or declared.
func (p *Presence) Correct(c Correction) (Change, error) {
	if c.Person == "" {
		return Change{}, fmt.Errorf("%w: correction without a person", ErrFact)
	}
	if !p.topo.known(c.Zone) {
		return Change{}, fmt.Errorf("%w: correction of %s to zone %q, which is not declared", ErrFact, c.Person, c.Zone)
	}
	if c.At.IsZero() {
		return Change{}, fmt.Errorf("%w: correction of %s without a time", ErrFact, c.Person)
	}
	if err := inRange(c.At); err != nil {
		return Change{}, err
	}
	gate := cmp.Or(c.Gate, p.opts.Gate)
	p.log.Info("site presence corrected", "user_id", c.Person, "zone", c.Zone, "by", c.By, "reason", c.Reason)
	p.mu.Lock()
	t := p.begin()
	if !t.fromTheFuture(c.At.UnixMilli(), gate) {
		t.addFact(c.Person, fact{ms: c.At.UnixMilli(), gate: gate, seq: c.Seq, zone: c.Zone})
	}
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

// Tick applies the daily reset when one is due at now (everyone outside
// from the latest ResetAt not after now) and drops tombstones older than a
// week. New calls it; call it at least every minute (Run does).
func (p *Presence) Tick(now time.Time) Change {
	p.mu.Lock()
	p.prune(now)
	if p.resetHour < 0 {
		p.mu.Unlock()
		return Change{}
	}
	t := p.begin()
	t.applyReset(p.resetBefore(now).UnixMilli())
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch)
}

// resetBefore is the latest daily reset not after now (ResetAt set).
func (p *Presence) resetBefore(now time.Time) time.Time {
	l := now.In(p.opts.Location)
	at := time.Date(l.Year(), l.Month(), l.Day(), p.resetHour, p.resetMin, 0, 0, p.opts.Location)
	if at.After(now) {
		at = time.Date(l.Year(), l.Month(), l.Day()-1, p.resetHour, p.resetMin, 0, 0, p.opts.Location)
	}
	return at
}

// ownReset reports whether a peer's reset at ms is one of this gate's own
// daily resets (always, without ResetAt): a gate on another time zone, or
// with another reset_at, must not empty the site at its own hour.
func (p *Presence) ownReset(ms int64) bool {
	if p.resetHour < 0 || ms <= 0 {
		return true
	}
	return p.resetBefore(time.UnixMilli(ms)).UnixMilli() == ms
}

// applyReset raises the reset floor to ms (a max: a CRDT of its own).
func (t *tx) applyReset(ms int64) {
	p := t.p
	if ms <= p.reset {
		return
	}
	for id := range p.regs {
		t.touch(id)
	}
	p.reset = ms
	p.dirty = true
	// Registers wholly below the floor can never win again.
	for id, r := range p.regs {
		if !r.cur.aboveReset(ms) {
			delete(p.regs, id)
		}
	}
}

// maxEndedEvacuations is how many ended evacuations are kept once their
// end is a week old (the latest ends): an end is what keeps a stale start
// of its evacuation (a retained state, a peer away since before the end)
// from starting it again, so it is kept long after the check-ins go. About
// 200 bytes each in every snapshot.
const maxEndedEvacuations = 64

// prune drops the relay voids older than a week; the check-ins of
// evacuations ended more than a week ago (the ends stay, up to
// maxEndedEvacuations of them); and the check-ins of evacuations neither
// started nor ended whose newest is older than a week. An active
// evacuation is never pruned, whatever its age.
func (p *Presence) prune(now time.Time) {
	limit := now.Add(-keepTombstones).UnixMilli()
	for ev, ms := range p.voided {
		if ms < limit {
			delete(p.voided, ev)
			p.dirty = true
		}
	}
	var old []*evacuation
	for id, e := range p.evacs {
		switch {
		case e.ended == 0 && !e.started && e.newest() < limit:
			delete(p.evacs, id)
			p.dirty = true
		case e.ended != 0 && e.ended < limit:
			if len(e.mustered) > 0 {
				e.mustered = map[string]int64{}
				p.dirty = true
			}
			old = append(old, e)
		}
	}
	if len(old) > maxEndedEvacuations {
		slices.SortFunc(old, func(a, b *evacuation) int { return cmp.Or(cmp.Compare(a.ended, b.ended), strings.Compare(a.id, b.id)) })
		for _, e := range old[:len(old)-maxEndedEvacuations] {
			delete(p.evacs, e.id)
		}
		p.dirty = true
	}
}

// Person is one person's presence (Outside, zero Since for a person never
// seen).
func (p *Presence) Person(id string) Person {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.effective(id, p.regs[id])
}

// Len is the number of persons with a register (tracked persons).
func (p *Presence) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.regs)
}

// Zones are the declared zones, sorted by name, Inside resolved.
func (p *Presence) Zones() []Zone {
	var zs []Zone
	for _, n := range p.topo.order {
		zs = append(zs, p.topo.zones[n])
	}
	return zs
}

// Occupancy is every declared zone's number of persons inside it, nested
// zones included (a person in zone-b inside site counts for both).
func (p *Presence) Occupancy() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	occ := make(map[string]int, len(p.topo.order))
	for _, n := range p.topo.order {
		occ[n] = p.occupancy(n)
	}
	return occ
}

// Inside lists the persons by the zone they are in (not nested: a person
// in zone-b is listed under zone-b only), each list by Since then ID.
// Outside is not listed. Zones nobody is in are absent.
func (p *Presence) Inside() map[string][]Person {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := map[string][]Person{}
	for id, r := range p.regs {
		if e := p.effective(id, r); e.Zone != Outside {
			in[e.Zone] = append(in[e.Zone], e)
		}
	}
	for _, ps := range in {
		sortPersons(ps)
	}
	return in
}

func sortPersons(ps []Person) {
	slices.SortFunc(ps, func(a, b Person) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.ID, b.ID))
	})
}
