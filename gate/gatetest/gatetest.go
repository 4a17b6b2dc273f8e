// Package gatetest has hand-written fakes of gate's roles for tests: a clock
// that only moves when told, an output that records its levels, an input fed
// by the test, and a relay that records pulses.
package gatetest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/facegate/facegate/gate"
)

// Clock is a gate.Clock that moves only on Advance. Timers run in the
// goroutine calling Advance, in time order.
type Clock struct {
	mu     sync.Mutex
	cond   *sync.Cond
	now    time.Time
	seq    int
	timers []*timer
}

type timer struct {
	c    *Clock
	when time.Time
	seq  int
	f    func()
}

// NewClock starts at a fixed instant.
func NewClock() *Clock {
	c := &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Now implements gate.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements gate.Clock.
func (c *Clock) AfterFunc(d time.Duration, f func()) gate.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.cond.Broadcast()
	return t
}

// Stop implements gate.Timer.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.cond.Broadcast()
			return true
		}
	}
	return false
}

// Advance moves the clock by d, running every timer that falls due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			if !c.timers[i].when.Equal(c.timers[j].when) {
				return c.timers[i].when.Before(c.timers[j].when)
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		if len(c.timers) == 0 || c.timers[0].when.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending is the number of timers not yet run or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Armed is how often AfterFunc has been called in all (for WaitArmed).
func (c *Clock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// WaitArmed blocks until AfterFunc has been called n times in all (stopped
// and run timers count): a test's way to know that a goroutine under test
// has reacted to an input. It gives up after 5 s of real time and reports
// false.
func (c *Clock) WaitArmed(n int) bool {
	return c.waitFor(func() bool { return c.seq >= n })
}

// WaitPending blocks until exactly n timers are pending: a test's way to know
// that a goroutine under test has armed its timers before it Advances.
// It gives up after 5 s of real time and reports false.
func (c *Clock) WaitPending(n int) bool {
	return c.waitFor(func() bool { return len(c.timers) == n })
}

// waitFor waits for cond (evaluated with c.mu held) for up to 5 s.
func (c *Clock) waitFor(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	wake := time.AfterFunc(5*time.Second, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer wake.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		c.cond.Wait()
	}
	return true
}

// Output is a gate.Output that records every Set. Set Err to make Set fail.
type Output struct {
	mu      sync.Mutex
	active  bool
	history []bool
	// Err, when set, is returned by Set (the level does not change).
	Err error
	// Changed, when not nil, receives every level that Set applied; it must
	// have room (buffered) or Set blocks.
	Changed chan bool
}

// Set implements gate.Output.
func (o *Output) Set(active bool) error {
	o.mu.Lock()
	if o.Err != nil {
		err := o.Err
		o.mu.Unlock()
		return err
	}
	o.active = active
	o.history = append(o.history, active)
	ch := o.Changed
	o.mu.Unlock()
	if ch != nil {
		ch <- active
	}
	return nil
}

// Active is the level last set.
func (o *Output) Active() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active
}

// History is every level set, in order.
func (o *Output) History() []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]bool(nil), o.history...)
}

// SetErr changes Err safely while the output is in use.
func (o *Output) SetErr(err error) {
	o.mu.Lock()
	o.Err = err
	o.mu.Unlock()
}

// Input is a gate.Input the test drives with Set.
type Input struct {
	mu     sync.Mutex
	active bool
	closed bool
	edges  chan gate.Edge
	// Err, when set, is returned by Active.
	Err error
}

// NewInput starts at level active.
func NewInput(active bool) *Input {
	return &Input{active: active, edges: make(chan gate.Edge, 64)}
}

// Set changes the level and sends an edge stamped t (raw: repeats and
// bounces are sent as given, like a real line without debounce).
func (i *Input) Set(active bool, t time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return
	}
	i.active = active
	i.edges <- gate.Edge{Active: active, Time: t}
}

// SetErr changes Err safely while the input is in use; the level does not
// change and no edge is sent (a line that becomes readable again reads the
// level it has been at all along).
func (i *Input) SetErr(err error) {
	i.mu.Lock()
	i.Err = err
	i.mu.Unlock()
}

// Active implements gate.Input.
func (i *Input) Active() (bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.active, i.Err
}

// Edges implements gate.Input.
func (i *Input) Edges() <-chan gate.Edge { return i.edges }

// Close implements gate.Input.
func (i *Input) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		i.closed = true
		close(i.edges)
	}
	return nil
}

// Closed reports whether Close was called.
func (i *Input) Closed() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closed
}

// Relay is a gate.Relay that records pulses and returns at once.
type Relay struct {
	mu     sync.Mutex
	pulses []time.Duration
	halts  int
	state  gate.RelayState
	// Err, when set, is returned by Pulse.
	Err error
}

// Pulse implements gate.Relay: it records d and returns Err (or ErrHalted
// after Halt, or ctx's error).
func (r *Relay) Pulse(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == gate.RelayHalted {
		return gate.ErrHalted
	}
	if r.Err != nil {
		return r.Err
	}
	r.pulses = append(r.pulses, d)
	return nil
}

// Halt implements gate.Relay.
func (r *Relay) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.halts++
	r.state = gate.RelayHalted
	return nil
}

// State implements gate.Relay.
func (r *Relay) State() gate.RelayState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Pulses is every duration Pulse was called with.
func (r *Relay) Pulses() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.pulses...)
}

// Halts counts Halt calls.
func (r *Relay) Halts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.halts
}

var (
	_ gate.Clock  = (*Clock)(nil)
	_ gate.Output = (*Output)(nil)
	_ gate.Input  = (*Input)(nil)
	_ gate.Relay  = (*Relay)(nil)
)
