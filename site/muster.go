package site

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Evacuation is one evacuation: started by a fire-alarm input, a signed
// command or the admin API; ended only by an operator.
type Evacuation struct {
	ID         string
	Since      time.Time
	By, Reason string
	// Ended is zero while the evacuation is active.
	Ended   time.Time
	EndedBy string
}

// Active reports whether the evacuation has not ended.
func (e Evacuation) Active() bool { return e.Ended.IsZero() }

// Mustered is one check-in at an assembly point.
type Mustered struct {
	Person       string
	At           time.Time
	EvacuationID string
}

// MusterList is the muster state: Present are the persons inside the site
// (any zone but Outside) per the presence, Mustered those who checked in at
// an assembly point during an active evacuation, Missing = Present −
// Mustered. A mustered person stays present (occupancy counts them) until
// a passage or a correction moves them; they are just not missing. With no
// active evacuation, Mustered and Missing are empty.
type MusterList struct {
	Active bool
	// Evacuations are the active evacuations, oldest first; overlapping
	// evacuations (two alarms at once) are one emergency: their check-ins
	// are pooled.
	Evacuations []Evacuation
	Present     []Person   // by zone, Since, ID
	Mustered    []Mustered // by At, Person
	Missing     []Person   // by zone, Since, ID
}

func (p *Presence) evac(id string) *evacuation {
	e := p.evacs[id]
	if e == nil {
		e = &evacuation{id: id, mustered: map[string]int64{}}
		p.evacs[id] = e
	}
	return e
}

// StartEvacuation records an evacuation (idempotent by ID; two starts of
// one ID keep the earliest Since).
func (p *Presence) StartEvacuation(e Evacuation) (Change, error) {
	if e.ID == "" || e.Since.IsZero() {
		return Change{}, fmt.Errorf("%w: evacuation needs an id and a start time", ErrFact)
	}
	if err := inRange(e.Since); err != nil {
		return Change{}, err
	}
	if !e.Ended.IsZero() {
		if err := inRange(e.Ended); err != nil {
			return Change{}, err
		}
	}
	p.mu.Lock()
	t := p.begin()
	// The end first, so that a start and its end given together never
	// announce an evacuation that is already over.
	if !e.Ended.IsZero() {
		t.endEvac(e.ID, e.Ended.UnixMilli(), e.EndedBy)
	}
	t.startEvac(e.ID, e.Since.UnixMilli(), e.By, e.Reason)
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

func (t *tx) startEvac(id string, since int64, by, reason string) {
	// Whatever its age: an evacuation active for a month is still one, and
	// a gate that joins late must follow it. An ended one cannot start
	// again because its end is kept (prune keeps the ends, only their
	// check-ins go).
	e := t.p.evac(id)
	if e.started && cmp.Or(cmp.Compare(e.since, since), strings.Compare(e.by, by), strings.Compare(e.reason, reason)) <= 0 {
		return
	}
	wasActive := e.started && e.ended == 0
	e.started, e.since, e.by, e.reason = true, since, by, reason
	t.p.dirty = true
	t.ch.Muster = true
	if !wasActive && e.ended == 0 {
		t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeEvacuationStarted, EvacuationID: id,
			Message: fmt.Sprintf("evacuation %s started by %s: %s", id, cmp.Or(by, "unknown"), reason)})
	}
}

// EvacuationEnded reports whether an end of evacuation id is known (its
// start need not be). False for an id never heard of, and for one whose
// end was pruned (maxEndedEvacuations).
func (p *Presence) EvacuationEnded(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.evacs[id]
	return e != nil && e.ended != 0
}

// EndEvacuation ends the evacuation id, or every active one when id is "".
func (p *Presence) EndEvacuation(id string, at time.Time, by string) (Change, error) {
	if at.IsZero() {
		return Change{}, fmt.Errorf("%w: ending an evacuation needs a time", ErrFact)
	}
	if err := inRange(at); err != nil {
		return Change{}, err
	}
	p.mu.Lock()
	t := p.begin()
	if id == "" {
		for _, e := range p.evacs {
			if e.started && e.ended == 0 {
				t.endEvac(e.id, at.UnixMilli(), by)
			}
		}
	} else {
		t.endEvac(id, at.UnixMilli(), by)
	}
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

// endEvac joins an end: the latest end wins (any end ends it).
func (t *tx) endEvac(id string, at int64, by string) {
	e := t.p.evac(id)
	if e.ended != 0 && cmp.Or(cmp.Compare(at, e.ended), strings.Compare(by, e.endedBy)) <= 0 {
		return
	}
	wasActive := e.started && e.ended == 0
	e.ended, e.endedBy = at, by
	t.p.dirty = true
	t.ch.Muster = true
	if wasActive {
		t.ch.Notices = append(t.ch.Notices, Notice{Kind: NoticeEvacuationEnded, EvacuationID: id,
			Message: fmt.Sprintf("evacuation %s ended by %s", id, cmp.Or(by, "unknown"))})
	}
}

// Muster checks a person off at an assembly point, for evacuation id ("":
// the latest active one; nothing happens when none is active). A check-in
// for an evacuation this gate has not heard of yet is kept for when it does.
func (p *Presence) Muster(person, id string, at time.Time) (Change, error) {
	if person == "" || at.IsZero() {
		return Change{}, fmt.Errorf("%w: a muster check-in needs a person and a time", ErrFact)
	}
	if err := inRange(at); err != nil {
		return Change{}, err
	}
	p.mu.Lock()
	if id == "" {
		if a := p.active(); len(a) > 0 {
			id = a[len(a)-1].id
		}
	}
	if id == "" {
		p.mu.Unlock()
		return Change{}, nil
	}
	t := p.begin()
	t.muster(person, id, at.UnixMilli())
	ch := t.commit()
	p.mu.Unlock()
	return p.publish(ch), nil
}

// newest is the time of the evacuation's newest end or check-in.
func (e *evacuation) newest() int64 {
	n := e.ended
	for _, at := range e.mustered {
		n = max(n, at)
	}
	return n
}

// muster joins a check-in: the earliest one is kept. A check-in of an
// evacuation over for more than keepTombstones is ignored: prune dropped
// those, and a peer that has not pruned yet must not bring them back.
func (t *tx) muster(person, id string, at int64) {
	if e := t.p.evacs[id]; e != nil && e.ended != 0 && e.ended < t.p.now().Add(-keepTombstones).UnixMilli() {
		return
	}
	e := t.p.evac(id)
	if old, ok := e.mustered[person]; ok && old <= at {
		return
	}
	e.mustered[person] = at
	t.p.dirty = true
	t.ch.Muster = true
}

// active are the active evacuations, oldest first; the caller holds mu.
func (p *Presence) active() []*evacuation {
	var a []*evacuation
	for _, e := range p.evacs {
		if e.started && e.ended == 0 {
			a = append(a, e)
		}
	}
	slices.SortFunc(a, func(x, y *evacuation) int { return cmp.Or(cmp.Compare(x.since, y.since), strings.Compare(x.id, y.id)) })
	return a
}

func (e *evacuation) export() Evacuation {
	x := Evacuation{ID: e.id, Since: time.UnixMilli(e.since).UTC(), By: e.by, Reason: e.reason, EndedBy: e.endedBy}
	if e.ended != 0 {
		x.Ended = time.UnixMilli(e.ended).UTC()
	}
	return x
}

// Evacuations are the known started evacuations, active and ended (the
// maxEndedEvacuations latest ends), oldest first.
func (p *Presence) Evacuations() []Evacuation {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Evacuation
	for _, e := range p.evacs {
		if e.started {
			out = append(out, e.export())
		}
	}
	slices.SortFunc(out, func(a, b Evacuation) int { return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.ID, b.ID)) })
	return out
}

// MusterList is the muster state now.
func (p *Presence) MusterList() MusterList {
	p.mu.Lock()
	defer p.mu.Unlock()
	var l MusterList
	for id, r := range p.regs {
		if e := p.effective(id, r); e.Zone != Outside {
			l.Present = append(l.Present, e)
		}
	}
	slices.SortFunc(l.Present, func(a, b Person) int {
		return cmp.Or(strings.Compare(a.Zone, b.Zone), a.Since.Compare(b.Since), strings.Compare(a.ID, b.ID))
	})
	act := p.active()
	if len(act) == 0 {
		return l
	}
	l.Active = true
	seen := map[string]int64{}
	from := map[string]string{}
	for _, e := range act {
		l.Evacuations = append(l.Evacuations, e.export())
		for _, person := range slices.Sorted(maps.Keys(e.mustered)) {
			if at, ok := seen[person]; !ok || e.mustered[person] < at {
				seen[person], from[person] = e.mustered[person], e.id
			}
		}
	}
	for person, at := range seen {
		l.Mustered = append(l.Mustered, Mustered{Person: person, At: time.UnixMilli(at).UTC(), EvacuationID: from[person]})
	}
	slices.SortFunc(l.Mustered, func(a, b Mustered) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Person, b.Person))
	})
	for _, pr := range l.Present {
		if _, ok := seen[pr.ID]; !ok {
			l.Missing = append(l.Missing, pr)
		}
	}
	return l
}
