package site

import (
	"fmt"
	"time"
)

// Verdict is the site's answer for one person at this gate's door.
type Verdict struct {
	// Allowed is false only for a hard rule on an entry.
	Allowed bool
	// Soft: allowed although Code applies (soft mode, soft occupancy, or
	// an exit, which is never denied): raise the alert, put Code in the
	// event's passback field.
	Soft bool
	// Code is "" or a Code* constant; Message says it to the worker.
	Code    string
	Message string
	// View echoes the view the caller checked on.
	View View
	// From and To are the passage the door makes for this person
	// (Destination); the event's zone_from and zone_to.
	From, To string
	// Exit: the passage leaves a zone (an exit door, or a two-way door
	// taken outwards); exits are never denied.
	Exit bool
}

// Destination is where this gate's door takes the person: from the door's
// From to its To, except on a two-way door (Both) when the person is
// recorded in To: then from To back to From. Both are "" when the gate is
// no door.
func (p *Presence) Destination(person string) (from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.destination(p.effective(person, p.regs[person]).Zone)
}

func (p *Presence) destination(zone string) (from, to string) {
	d := p.opts.Door
	if d.Direction == Both && p.onToSide(zone, d.From, d.To) {
		return d.To, d.From
	}
	return d.From, d.To
}

// onToSide reports whether a person recorded in zone stands on the to
// side of a two-way door between from and to: in to, or in a zone nested
// in it (a worker in a lab inside zone-b, leaving through zone-b's door;
// until 2026-12-08 taken as entering zone-b, and refused by hard
// anti-passback and during an evacuation), unless from is nested in to
// and holds the person (a door from a lab out into the zone round it).
func (p *Presence) onToSide(zone, from, to string) bool {
	if zone == to {
		return true
	}
	if zone == Outside || to == Outside || !p.topo.within(zone, to) {
		return false
	}
	return from == Outside || !p.topo.within(zone, from) || !p.topo.within(from, to)
}

// outward reports whether a two-way door's passage from -> to leaves a
// zone: into a zone round the one left (outside included). Between two
// zones neither of which holds the other, the way to the door's From is
// the way out, as before.
func (p *Presence) outward(from, to, doorFrom string) bool {
	switch {
	case p.topo.within(from, to):
		return true
	case p.topo.within(to, from):
		return false
	}
	return to == doorFrom
}

// Check decides whether the person may pass this gate's door at now by the
// site's rules: anti-passback (entering a zone the person is recorded in;
// entering without being recorded in the door's From zone, for the zones
// RequirePath names) and occupancy limits. view is what the caller knows
// of its link to the site (ViewLocal when it cannot reach the broker); it
// is echoed, the rules are the same. Exits are never denied.
func (p *Presence) Check(person string, now time.Time, view View) Verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := Verdict{Allowed: true, View: view}
	d := p.opts.Door
	if d.Direction == "" {
		return v
	}
	cur := p.effective(person, p.regs[person])
	v.From, v.To = p.destination(cur.Zone)
	v.Exit = d.Direction == Exit || d.Direction == Both && p.outward(v.From, v.To, d.From)

	type hit struct {
		code, msg string
		hard      bool
	}
	var hits []hit
	pb := p.opts.Passback
	// Outside needs no record; a record of being inside expires (timed).
	known := cur.Zone == Outside || pb.Window == 0 || now.Sub(cur.Since) < pb.Window
	if pb.Mode != "" && pb.Mode != PassbackOff && known {
		hard := pb.Mode == PassbackHard
		switch {
		case cur.Zone != v.From && (cur.Zone == v.To || v.To != Outside && p.topo.within(cur.Zone, v.To)):
			// Already in To (or nested in it), and not in the door's From.
			hits = append(hits, hit{CodePassbackSameZone, fmt.Sprintf(
				"You are already recorded inside %s. Leave through an exit first, or ask the site office.", v.To), hard})
		case cur.Zone != v.From && p.needsPath(v.To):
			hits = append(hits, hit{CodePassbackNoPath, fmt.Sprintf(
				"You are not recorded in %s, so you cannot enter %s here. Enter %s first, or ask the site office.",
				v.From, v.To, v.From), hard})
		}
	}
	for _, z := range p.topo.chain(v.To) {
		zone := p.topo.zones[z]
		if zone.MaxOccupancy == 0 || p.topo.within(cur.Zone, z) {
			continue // no limit, or the person already counts there
		}
		if n := p.occupancy(z); n >= zone.MaxOccupancy {
			hits = append(hits, hit{CodeOccupancyFull, fmt.Sprintf(
				"%s is full (%d of %d). Wait until someone leaves.", z, n, zone.MaxOccupancy), zone.OccupancyHard})
			break
		}
	}
	if len(hits) == 0 {
		return v
	}
	h := hits[0]
	for _, x := range hits {
		if x.hard && !v.Exit {
			h = x
			break
		}
	}
	v.Code, v.Message = h.code, h.msg
	if h.hard && !v.Exit {
		v.Allowed = false
	} else {
		v.Soft = true
	}
	return v
}

// needsPath reports whether entering zone to needs a recorded path.
func (p *Presence) needsPath(to string) bool {
	switch p.opts.Passback.RequirePath {
	case RequirePathNone:
		return false
	case RequirePathAll:
		return true
	}
	for _, z := range p.topo.chain(to) {
		if p.topo.zones[z].Hazardous {
			return true
		}
	}
	return false
}
