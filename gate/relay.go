package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// ErrRelayFault: the relay line could not be driven inactive. The relay
// refuses pulses and tries the line again every faultRetryEvery until it
// goes inactive (or a Halt drives it so).
var ErrRelayFault = errors.New("relay line could not be driven inactive")

// ErrNotEnergised: a pulse could not energise the relay line (wrapped
// with the driver's error, and with ErrRelayFault when driving it
// inactive again failed too: its level is then unknown).
var ErrNotEnergised = errors.New("energise relay")

// RelayOptions tune NewRelay; zero values take the defaults.
type RelayOptions struct {
	Pulse    time.Duration // used when Pulse is asked for d <= 0; DefaultPulse
	MaxPulse time.Duration // longer pulses are clamped to this; DefaultMaxPulse, never above PulseCeiling
	Clock    Clock         // SystemClock
	Logger   *slog.Logger  // discards when nil
	// OnPulse is told, on every Pulse call that energises the relay, until
	// when it is energised (the door monitor uses it to tell a granted
	// opening from a forced one). Called from the Pulse caller's goroutine
	// with the relay's lock held, before the line goes active: it must not
	// block and must not call the relay.
	OnPulse func(until time.Time)
	// OnEnergiseFailed is told, with the until OnPulse was just given, when
	// that Pulse call could not energise the line (driver error): the
	// announced grant never happened and must be withdrawn, or a door forced
	// open meanwhile would read as granted. Same goroutine and lock as
	// OnPulse; it must not block and must not call the relay.
	OnEnergiseFailed func(until time.Time)
	// Release is called by Close after the line is inactive (the driver
	// releases the line there).
	Release func() error
	// OnChange is the one route by which the relay tells what its line
	// does: true once it is energised (by any pulse: a grant's, the exit
	// button's), false once it is inactive again. A pulse that extends a
	// running one reports nothing; a line that could not be driven inactive
	// reports no false (it may still be energised) until the fault's retry
	// or a Halt drives it inactive. Calls come in order from
	// one goroutine of the relay's, never with its lock held; a slow
	// OnChange delays later calls, never the line. Close returns after the
	// last call.
	OnChange func(energised bool)
}

// PulseRelay is the Relay logic over any Output: extension, clamp, cancel,
// halt. Safe for concurrent use.
type PulseRelay struct {
	out     Output
	def     time.Duration
	max     time.Duration
	clock   Clock
	log     *slog.Logger
	onPulse func(time.Time)
	onFail  func(time.Time)
	release func() error

	changes *lineChanges // nil without OnChange

	mu     sync.Mutex
	state  RelayState
	cur    *pulse // nil when idle
	closed bool
	held   bool // Hold: energised until Release (hold.go)
	// In RelayFault: the timer trying the line again, and the state to
	// go back to once it is inactive (RelayIdle, or RelayHalted after a
	// Halt that failed).
	faultRetry Timer
	recoverTo  RelayState
}

// faultRetryEvery is how often a line that could not be driven inactive
// is tried again: stuck energised, the door stays unlocked, and a
// transient driver error must not leave it so until a restart.
const faultRetryEvery = time.Second

// pulse is one energised period, however often extended.
type pulse struct {
	until time.Time
	timer Timer
	gen   int           // which timer is current: a stale one that already fired does nothing
	done  chan struct{} // closed when the line is inactive again (or failed to be)
	err   error         // set before done is closed
}

// NewRelay returns a relay pulsing out, which the driver has already set
// inactive. Close it (or at least Halt it) on every exit path.
func NewRelay(out Output, o RelayOptions) *PulseRelay {
	r := &PulseRelay{out: out, def: o.Pulse, max: o.MaxPulse, clock: o.Clock, log: o.Logger,
		onPulse: o.OnPulse, onFail: o.OnEnergiseFailed, release: o.Release}
	if r.max <= 0 {
		r.max = DefaultMaxPulse
	}
	r.max = min(r.max, PulseCeiling)
	if r.def <= 0 {
		r.def = DefaultPulse
	}
	r.def = min(r.def, r.max)
	if r.clock == nil {
		r.clock = SystemClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.OnChange != nil {
		r.changes = newLineChanges(o.OnChange)
	}
	return r
}

// Limits returns the default and the maximum pulse after clamping.
func (r *PulseRelay) Limits() (pulse, max time.Duration) { return r.def, r.max }

// Pulse implements Relay.
func (r *PulseRelay) Pulse(ctx context.Context, d time.Duration) error {
	return r.pulse(ctx, d, nil)
}

// PulseNotify is Pulse that also calls energised (from the caller's
// goroutine, once, before the pulse ends) when the line is energised for
// this call: by it, or by the running pulse it extends. A call that never
// energised the line never calls it, so the caller can tell "the gate was
// unlocked" from "it never was" whatever the error says.
func (r *PulseRelay) PulseNotify(ctx context.Context, d time.Duration, energised func()) error {
	return r.pulse(ctx, d, energised)
}

// pulse is Pulse; onActive, when not nil, is called (without the lock) once
// the line is energised, by this call or by the pulse it extends.
func (r *PulseRelay) pulse(ctx context.Context, d time.Duration, onActive func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		d = r.def
	}
	if d > r.max {
		r.log.Warn("relay pulse clamped", "asked", d, "max", r.max)
		d = r.max
	}

	r.mu.Lock()
	switch r.state {
	case RelayHalted:
		r.mu.Unlock()
		return ErrHalted
	case RelayFault:
		r.mu.Unlock()
		return ErrRelayFault
	}
	if r.held { // energised already, for as long as the hold (hold.go)
		r.mu.Unlock()
		if onActive != nil {
			onActive()
		}
		return nil
	}
	now := r.clock.Now()
	until := now.Add(d)
	p := r.cur
	end := until
	if p != nil && !until.After(p.until) {
		end = p.until
	}
	if r.onPulse != nil {
		// Told before the line moves: a door that opens once the lock
		// releases is always covered by the grant, never reported as forced.
		r.onPulse(end)
	}
	switch {
	case p == nil:
		if err := r.out.Set(true); err != nil {
			err = fmt.Errorf("%w: %w", ErrNotEnergised, err)
			if err2 := r.out.Set(false); err2 != nil {
				r.fault()
				err = errors.Join(err, fmt.Errorf("%w: %w", ErrRelayFault, err2))
			}
			if r.onPulse != nil && r.onFail != nil {
				r.onFail(end)
			}
			r.mu.Unlock()
			return err
		}
		p = &pulse{until: until, done: make(chan struct{})}
		r.arm(p, d)
		r.cur, r.state = p, RelayActive
		r.changes.add(true)
		r.log.Info("relay pulse started", "duration", d)
	case until.After(p.until):
		// Extend: one timer for the new end; the line is not touched.
		p.timer.Stop()
		p.until = until
		r.arm(p, d)
		r.log.Info("relay pulse extended", "remaining", d)
	}
	r.mu.Unlock()
	if onActive != nil {
		onActive()
	}

	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		r.end(p, "cancelled")
		<-p.done
		if p.err != nil {
			return errors.Join(ctx.Err(), p.err)
		}
		return ctx.Err()
	}
}

// arm starts p's timer for d; r.mu is held.
func (r *PulseRelay) arm(p *pulse, d time.Duration) {
	p.gen++
	gen := p.gen
	p.timer = r.clock.AfterFunc(d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.cur == p && p.gen == gen {
			r.finish("elapsed")
		}
	})
}

// end drives the line inactive and finishes p, unless p is already over.
func (r *PulseRelay) end(p *pulse, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != p {
		return
	}
	r.finish(reason)
}

// finish ends the current pulse; r.mu is held and r.cur is not nil.
func (r *PulseRelay) finish(reason string) {
	p := r.cur
	p.timer.Stop()
	p.err = r.inactive()
	if p.err == nil && reason == "halt" {
		p.err = ErrHalted
	}
	r.cur = nil
	if p.err == nil && r.state == RelayActive {
		r.state = RelayIdle
	}
	if !errors.Is(p.err, ErrRelayFault) {
		r.changes.add(false)
	}
	r.log.Info("relay pulse ended", "reason", reason)
	close(p.done)
}

// inactive drives the line inactive, once more if the first try fails; on
// failure the relay goes to RelayFault. r.mu is held.
func (r *PulseRelay) inactive() error {
	err := r.out.Set(false)
	if err != nil {
		err = r.out.Set(false)
	}
	if err != nil {
		r.fault()
		r.log.Error("relay line could not be driven inactive: trying again", "err", err, "every", faultRetryEvery)
		return fmt.Errorf("%w: %w", ErrRelayFault, err)
	}
	return nil
}

// fault puts the relay in RelayFault (the line may be energised) and
// tries the line again until it is inactive. r.mu is held.
func (r *PulseRelay) fault() {
	if r.state != RelayFault {
		r.recoverTo = RelayIdle
		if r.state == RelayHalted {
			r.recoverTo = RelayHalted
		}
	}
	r.state = RelayFault
	if r.faultRetry == nil {
		r.faultRetry = r.clock.AfterFunc(faultRetryEvery, r.retryInactive)
	}
}

// retryInactive tries once more to drive a faulty line inactive; once it
// is, a hold is over and the relay is back to its state before the fault.
func (r *PulseRelay) retryInactive() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faultRetry = nil
	if r.state != RelayFault || r.closed {
		return
	}
	if err := r.out.Set(false); err != nil {
		r.faultRetry = r.clock.AfterFunc(faultRetryEvery, r.retryInactive)
		return
	}
	if r.held {
		r.held = false
		r.endHoldGrant()
	}
	r.state = r.recoverTo
	r.changes.add(false)
	r.log.Warn("relay line driven inactive after a fault", "state", r.state.String())
}

// Halt implements Relay: it drives the line inactive even when idle.
func (r *PulseRelay) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.state = RelayHalted
		r.finish("halt")
		if r.state == RelayFault {
			return fmt.Errorf("halt: %w", ErrRelayFault)
		}
		return nil
	}
	// A faulty line may be energised (its last change said so): once
	// inactive, say it, as the fault's retry would have.
	wasFault := r.state == RelayFault
	r.state = RelayHalted
	if r.held { // hold.go: the line was energised; say it no longer is
		r.held = false
		r.endHoldGrant()
		wasFault = true
	}
	if err := r.inactive(); err != nil {
		return err
	}
	if wasFault {
		r.changes.add(false)
	}
	return nil
}

// State implements Relay.
func (r *PulseRelay) State() RelayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Close halts the relay and then releases its line. It returns the Halt
// error if the line may still be active. Later calls do nothing.
func (r *PulseRelay) Close() error {
	r.mu.Lock()
	closed := r.closed
	r.closed = true
	r.mu.Unlock()
	if closed {
		return nil
	}
	err := r.Halt()
	r.changes.close() // after Halt's release was queued: it is delivered
	if r.release == nil {
		return err
	}
	return errors.Join(err, r.release())
}

// lineChanges delivers the line's changes to OnChange in order, from its
// own goroutine: the relay never waits for an observer, and no change is
// dropped (a slice, not a bounded channel).
type lineChanges struct {
	f    func(bool)
	mu   sync.Mutex
	q    []bool
	shut bool
	wake chan struct{}
	done chan struct{}
}

func newLineChanges(f func(bool)) *lineChanges {
	c := &lineChanges{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	return c
}

// add queues a change; nil-safe, never blocks.
func (c *lineChanges) add(energised bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !c.shut {
		c.q = append(c.q, energised)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *lineChanges) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		q, shut := c.q, c.shut
		c.q = nil
		c.mu.Unlock()
		for _, e := range q {
			c.f(e)
		}
		if shut && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-c.wake
		}
	}
}

// close delivers what is queued, then stops; nil-safe.
func (c *lineChanges) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.shut = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.done
}
