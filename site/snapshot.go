package site

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/internal/jsonobj"
	"github.com/facegate/facegate/record"
)

// SnapshotFormat and SnapshotVersion head every snapshot. A reader
// rejects a newer version (ErrSnapshotVersion) rather than guess.
const (
	SnapshotFormat  = "facegate-site-presence"
	SnapshotVersion = 1
)

// Snapshot limits: a decoder refuses more (a peer's snapshot is outside
// input; record.MaxSnapshotBytes says why that size).
const (
	maxSnapshotBytes = record.MaxSnapshotBytes
	maxNameLen       = 256
)

type snapshot struct {
	Format      string     `json:"format"`
	Version     int        `json:"version"`
	Site        string     `json:"site,omitempty"`
	Gate        string     `json:"gate,omitempty"`
	Reset       string     `json:"reset,omitempty"`
	Persons     []snapFact `json:"persons"`
	Voided      []snapVoid `json:"voided,omitempty"`
	Evacuations []snapEvac `json:"evacuations,omitempty"`
}

// snapFact is one register fact; Prev is the register's second fact.
type snapFact struct {
	UserID  string    `json:"user_id,omitempty"`
	Zone    string    `json:"zone"`
	TS      string    `json:"ts"`
	Gate    string    `json:"gate"`
	Seq     uint64    `json:"seq,omitempty"`
	EventID string    `json:"event_id,omitempty"`
	Prev    *snapFact `json:"prev,omitempty"`
}

type snapVoid struct {
	EventID string `json:"event_id"`
	TS      string `json:"ts"`
}

type snapEvac struct {
	ID       string            `json:"id"`
	Since    string            `json:"since,omitempty"` // absent: only check-ins known
	By       string            `json:"by,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Ended    string            `json:"ended,omitempty"`
	EndedBy  string            `json:"ended_by,omitempty"`
	Mustered map[string]string `json:"mustered,omitempty"` // person -> ts
}

func ts(ms int64) string { return record.Timestamp(time.UnixMilli(ms)) }

func encodeFact(f fact) snapFact {
	return snapFact{Zone: f.zone, TS: ts(f.ms), Gate: f.gate, Seq: f.seq, EventID: f.event}
}

// Snapshot encodes the whole state (presence registers, relay voids, reset,
// evacuations and check-ins) as versioned JSON, sorted so that equal
// states encode to equal bytes. Peers Merge it.
func (p *Presence) Snapshot() []byte {
	p.mu.Lock()
	s := p.collect(func(fact) bool { return true })
	p.mu.Unlock()
	return s.marshal()
}

// SnapshotOf is Snapshot restricted to the facts gate wrote (passages of
// its events, corrections it took in) and every correction (whatever its
// Gate, e.g. one stamped "cmd" by all gates), with all voids, the reset
// and the evacuations. When every gate publishes SnapshotOf(itself), the union of
// the snapshots holds every winning fact, yet a snapshot changes only when
// its gate decides: anti-entropy costs what the gate's own traffic does,
// not the whole site's (docs/site.md).
func (p *Presence) SnapshotOf(gate string) []byte {
	p.mu.Lock()
	s := p.collect(func(f fact) bool { return f.gate == gate || f.event == "" })
	p.mu.Unlock()
	return s.marshal()
}

// collect copies the state into its wire form, unsorted; the caller holds
// mu. The sorting and the JSON encoding, the slow part, run in marshal
// after the lock is released, so a snapshot does not hold up a decision.
func (p *Presence) collect(keep func(fact) bool) *snapshot {
	s := &snapshot{Format: SnapshotFormat, Version: SnapshotVersion, Site: p.opts.Site, Gate: p.opts.Gate,
		Persons: make([]snapFact, 0, len(p.regs))}
	if p.reset != 0 {
		s.Reset = ts(p.reset)
	}
	for id, r := range p.regs {
		var fs []fact
		for _, f := range []fact{r.cur, r.prev}[:r.n] {
			if keep(f) {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		f := encodeFact(fs[0])
		f.UserID = id
		if len(fs) > 1 {
			prev := encodeFact(fs[1])
			f.Prev = &prev
		}
		s.Persons = append(s.Persons, f)
	}
	for ev, ms := range p.voided {
		s.Voided = append(s.Voided, snapVoid{EventID: ev, TS: ts(ms)})
	}
	for id, e := range p.evacs {
		x := snapEvac{ID: id, By: e.by, Reason: e.reason, EndedBy: e.endedBy}
		if e.started {
			x.Since = ts(e.since)
		}
		if e.ended != 0 {
			x.Ended = ts(e.ended)
		}
		if len(e.mustered) > 0 {
			x.Mustered = make(map[string]string, len(e.mustered))
			for person, at := range e.mustered {
				x.Mustered[person] = ts(at)
			}
		}
		s.Evacuations = append(s.Evacuations, x)
	}
	return s
}

// marshal sorts and encodes, after the lock is released: equal states
// encode to equal bytes, and sorting 10,000 persons does not hold up a
// decision.
func (s *snapshot) marshal() []byte {
	slices.SortFunc(s.Persons, func(a, b snapFact) int { return strings.Compare(a.UserID, b.UserID) })
	slices.SortFunc(s.Voided, func(a, b snapVoid) int { return strings.Compare(a.EventID, b.EventID) })
	slices.SortFunc(s.Evacuations, func(a, b snapEvac) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("site: encoding a snapshot: %v", err)) // only strings and numbers: cannot fail
	}
	return b
}

// decoded is a checked snapshot, ready to join.
type decoded struct {
	site    string
	reset   int64
	persons []decodedFact
	voided  map[string]int64
	evacs   []decodedEvac
}

type decodedFact struct {
	person string
	f      fact
}

type decodedEvac struct {
	id         string
	started    bool
	since      int64
	by, reason string
	ended      int64
	endedBy    string
	mustered   map[string]int64
}

func decodeSnapshot(b []byte) (*decoded, error) { return decodeSnapshotMax(b, maxSnapshotBytes) }

// decodeSnapshotMax is decodeSnapshot with its own size limit (the state
// file's: this gate's whole site, not a peer's share of it).
func decodeSnapshotMax(b []byte, limit int) (*decoded, error) {
	if len(b) > limit {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrSnapshot, len(b), limit)
	}
	var s snapshot
	if err := jsonobj.Decode(b, &s); err != nil { // one object: no repeated key, nothing after it
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if s.Format != SnapshotFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrSnapshot, s.Format, SnapshotFormat)
	}
	if s.Version != SnapshotVersion {
		if s.Version > SnapshotVersion {
			return nil, fmt.Errorf("%w: version %d, this gate reads %d", ErrSnapshotVersion, s.Version, SnapshotVersion)
		}
		return nil, fmt.Errorf("%w: version %d", ErrSnapshot, s.Version)
	}
	d := &decoded{site: s.Site, voided: map[string]int64{}}
	var err error
	if s.Reset != "" {
		if d.reset, err = snapTS("reset", s.Reset); err != nil {
			return nil, err
		}
	}
	fact := func(who string, sf snapFact) (fact, error) {
		if err := names(who, sf.Zone, sf.Gate, sf.EventID); err != nil {
			return fact{}, err
		}
		if sf.Zone == "" {
			return fact{}, fmt.Errorf("%w: %s: no zone", ErrSnapshot, who)
		}
		ms, err := snapTS(who, sf.TS)
		return fact{ms: ms, gate: sf.Gate, seq: sf.Seq, zone: sf.Zone, event: sf.EventID}, err
	}
	for i, sf := range s.Persons {
		if sf.UserID == "" || len(sf.UserID) > maxNameLen {
			return nil, fmt.Errorf("%w: person %d: bad user_id", ErrSnapshot, i)
		}
		who := "person " + sf.UserID
		f, err := fact(who, sf)
		if err != nil {
			return nil, err
		}
		d.persons = append(d.persons, decodedFact{sf.UserID, f})
		if sf.Prev != nil {
			if sf.Prev.Prev != nil || sf.Prev.UserID != "" {
				return nil, fmt.Errorf("%w: %s: prev nests", ErrSnapshot, who)
			}
			f, err := fact(who+" prev", *sf.Prev)
			if err != nil {
				return nil, err
			}
			d.persons = append(d.persons, decodedFact{sf.UserID, f})
		}
	}
	for _, v := range s.Voided {
		if v.EventID == "" || len(v.EventID) > maxNameLen {
			return nil, fmt.Errorf("%w: voided: bad event_id", ErrSnapshot)
		}
		ms, err := snapTS("voided "+v.EventID, v.TS)
		if err != nil {
			return nil, err
		}
		d.voided[v.EventID] = max(d.voided[v.EventID], ms)
	}
	for _, se := range s.Evacuations {
		if se.ID == "" {
			return nil, fmt.Errorf("%w: evacuation without id", ErrSnapshot)
		}
		if err := names("evacuation "+se.ID, se.ID, se.By, se.EndedBy); err != nil {
			return nil, err
		}
		e := decodedEvac{id: se.ID, by: se.By, reason: se.Reason, endedBy: se.EndedBy, mustered: map[string]int64{}}
		if se.Since != "" {
			e.started = true
			if e.since, err = snapTS("evacuation "+se.ID, se.Since); err != nil {
				return nil, err
			}
		}
		if se.Ended != "" {
			if e.ended, err = snapTS("evacuation "+se.ID+" end", se.Ended); err != nil {
				return nil, err
			}
		}
		for person, at := range se.Mustered {
			if person == "" || len(person) > maxNameLen {
				return nil, fmt.Errorf("%w: evacuation %s: bad mustered person", ErrSnapshot, se.ID)
			}
			if e.mustered[person], err = snapTS("evacuation "+se.ID+" muster", at); err != nil {
				return nil, err
			}
		}
		d.evacs = append(d.evacs, e)
	}
	return d, nil
}

func names(who string, ss ...string) error {
	for _, s := range ss {
		if len(s) > maxNameLen {
			return fmt.Errorf("%w: %s: a name longer than %d bytes", ErrSnapshot, who, maxNameLen)
		}
	}
	return nil
}

// snapTS parses a snapshot time; 0 (1970) is refused since it means "none"
// inside the model.
func snapTS(who, s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: time %q", ErrSnapshot, who, s)
	}
	if ms := t.UnixMilli(); ms > 0 && ms <= maxFactMS {
		return ms, nil
	}
	return 0, fmt.Errorf("%w: %s: time %q out of range (after 1970, up to year 9999 in UTC)", ErrSnapshot, who, s)
}

// Merge joins a peer's snapshot into this presence (the CRDT join: facts,
// voids, the reset and evacuations; merging a snapshot again, or one older
// than what is known, changes nothing). A snapshot of another site, a
// newer version or bad content is refused whole.
func (p *Presence) Merge(b []byte) (Change, error) {
	d, err := decodeSnapshot(b)
	if err != nil {
		return Change{}, err
	}
	if d.site != "" && p.opts.Site != "" && d.site != p.opts.Site {
		return Change{}, fmt.Errorf("%w: snapshot of site %q, this is site %q", ErrSnapshot, d.site, p.opts.Site)
	}
	p.mu.Lock()
	t := p.begin()
	t.join(d)
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

// join applies a decoded snapshot; the caller holds mu.
func (t *tx) join(d *decoded) {
	if ahead := time.Duration(d.reset-t.p.now().UnixMilli()) * time.Millisecond; ahead > t.p.maxFuture {
		// A peer whose clock runs ahead reset early: adopting it would
		// empty the site until real time got there. Every gate with
		// reset_at computes the same reset itself when it is due.
		t.p.log.Warn("site reset from the future ignored", "reset", ts(d.reset), "ahead", ahead.Round(time.Millisecond))
		t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeClockSkew,
			Message: fmt.Sprintf("a peer's daily reset is %v ahead of this gate's clock: check NTP", ahead.Round(time.Second))})
	} else if d.reset > t.p.reset && !t.p.ownReset(d.reset) {
		// Not on this gate's schedule: a peer on another time zone (or
		// reset_at) would empty the site at its own hour. This gate's
		// own Tick resets when its reset is due.
		t.p.log.Warn("a peer's daily reset is not on this gate's schedule: ignored (check zones.reset_at and zones.time_zone on every gate)", "reset", ts(d.reset))
		t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeResetMismatch,
			Message: fmt.Sprintf("a peer reset the site at %s, not at this gate's reset_at: check zones.reset_at and zones.time_zone on every gate", ts(d.reset))})
	} else {
		t.applyReset(d.reset)
	}
	t.voidEvents(d.voided)
	future := ""
	var ahead int64
	limit := t.p.now().UnixMilli() + t.p.maxFuture.Milliseconds()
	for _, df := range d.persons {
		if df.f.ms > limit { // not applied (fromTheFuture): one notice for the snapshot
			if df.f.ms > ahead {
				ahead, future = df.f.ms, df.f.gate
			}
			continue
		}
		t.addFact(df.person, df.f)
	}
	if ahead != 0 {
		t.fromTheFuture(ahead, future)
	}
	for _, e := range d.evacs {
		// The end first, as in StartEvacuation.
		if e.ended != 0 {
			t.endEvac(e.id, e.ended, e.endedBy)
		}
		if e.started {
			t.startEvac(e.id, e.since, e.by, e.reason)
		}
		for _, person := range slices.Sorted(maps.Keys(e.mustered)) {
			t.muster(person, e.id, e.mustered[person])
		}
	}
}
