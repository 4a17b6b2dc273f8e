package gate

import (
	"fmt"
	"time"
)

// Holding the relay is for an evacuation (docs/site.md): a fail-safe door
// must let people out for as long as the alarm lasts, beyond any pulse
// limit, until an operator ends it. The line changes are reported through
// the same OnChange route as pulses.

// holdUntil is the grant the door monitor is given during a hold: a door
// opened while the gate is held open is never forced.
var holdUntil = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Hold energises the relay until Release, Halt or Close, whatever the
// maximum pulse: the gate stays unlocked. A running pulse is taken over
// (the line never drops; its Pulse returns nil at once), and a Pulse during
// the hold reports energised and returns at once without touching the
// line. Holding twice is one hold. It fails on a halted or faulty relay,
// or when the line cannot be energised (the line is then driven inactive
// again).
func (r *PulseRelay) Hold() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case RelayHalted:
		return ErrHalted
	case RelayFault:
		return ErrRelayFault
	}
	if r.held {
		return nil
	}
	// The grant is told before the line moves, like a pulse's, so a door
	// opened once the lock releases is never read as forced.
	if r.onPulse != nil {
		r.onPulse(holdUntil)
	}
	if p := r.cur; p != nil {
		p.timer.Stop() // a stale firing finds r.cur != p and does nothing
		r.cur = nil
		close(p.done)
	} else {
		if err := r.out.Set(true); err != nil {
			err = fmt.Errorf("hold relay: %w", err)
			r.withdrawHold()
			if err2 := r.out.Set(false); err2 != nil {
				r.fault()
				return fmt.Errorf("%w; %w: %w", err, ErrRelayFault, err2)
			}
			return err
		}
		r.changes.add(true)
	}
	r.held, r.state = true, RelayActive
	r.log.Warn("relay held energised until released")
	return nil
}

// Release ends a hold: the line is driven inactive (OnChange false) and the
// relay takes pulses again. Without a hold it does nothing.
func (r *PulseRelay) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held {
		return nil
	}
	// The hold ends only once the line is inactive: a release that fails
	// keeps the relay held (and its grant), so that the next Release tries
	// the line again instead of reporting a release that never happened.
	if err := r.inactive(); err != nil {
		return fmt.Errorf("release relay: %w", err)
	}
	r.held = false
	r.endHoldGrant()
	r.state = RelayIdle
	r.changes.add(false)
	r.log.Info("relay hold released")
	return nil
}

// Held reports whether the relay is held energised.
func (r *PulseRelay) Held() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// withdrawHold takes back the hold's grant when the line never energised.
// r.mu is held.
func (r *PulseRelay) withdrawHold() {
	if r.onPulse != nil && r.onFail != nil {
		r.onFail(holdUntil)
	}
}

// endHoldGrant ends the hold's grant when the hold ends (Release, Halt):
// the year-9999 grant is withdrawn and one until now takes its place, so
// a door still open, or opened within the grant grace, is not forced but
// a later opening is. Under r.mu, like the pulse's grants, so it cannot
// race a Hold or Pulse. r.mu is held.
func (r *PulseRelay) endHoldGrant() {
	r.withdrawHold()
	if r.onPulse != nil {
		r.onPulse(r.clock.Now())
	}
}

// Hold keeps the gate unlocked for egress (PulseRelay.Hold); the door
// monitor counts every opening meanwhile as granted (the relay tells it).
func (g *Gate) Hold() error { return g.Relay.Hold() }

// Release locks the gate again after Hold. A door still open then, or
// opened within io.door.grant_grace, is not reported as forced.
func (g *Gate) Release() error { return g.Relay.Release() }
