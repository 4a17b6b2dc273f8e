package gate

import (
	"sync"
	"time"
)

// Input is one binary input line (door contact, exit button, tamper switch)
// as a driver exposes it: "active" already has the line's polarity applied.
type Input interface {
	// Active reads the level now.
	Active() (bool, error)
	// Edges delivers every change of level, in order. It is closed by Close.
	Edges() <-chan Edge
	// Close releases the line and closes Edges.
	Close() error
}

// Edge is one change of an input's level.
type Edge struct {
	Active bool
	Time   time.Time
}

// edgeBuffer is the capacity of edge channels: a bouncing contact produces
// bursts; the receiver debounces, so a full buffer drops the oldest edges
// after keeping the latest level (see pushEdge).
const edgeBuffer = 64

// pushEdge sends e without blocking: when ch is full the oldest edge is
// dropped, so the newest level always gets through. Called by the one
// goroutine that sends on ch.
func pushEdge(ch chan Edge, e Edge) {
	for {
		select {
		case ch <- e:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// Debounce wraps in so that a level must be stable for period before it is
// reported. It is the software debounce used where the kernel cannot do it
// (GPIO uAPI v1, kernels before 5.10). Close closes in.
func Debounce(in Input, period time.Duration, clock Clock) Input {
	if clock == nil {
		clock = SystemClock{}
	}
	d := &debounced{in: in, period: period, clock: clock, out: make(chan Edge, edgeBuffer)}
	d.stable, d.err = in.Active()
	go d.run()
	return d
}

type debounced struct {
	in     Input
	period time.Duration
	clock  Clock
	out    chan Edge

	mu     sync.Mutex
	stable bool  // the last reported level
	err    error // from the first read, until a read or an edge tells the level
	raw    bool  // the last raw level
	timer  Timer
	gen    int
	closed bool
}

func (d *debounced) run() {
	for e := range d.in.Edges() {
		d.mu.Lock()
		d.raw = e.Active
		if d.timer != nil {
			d.timer.Stop()
		}
		d.gen++
		gen := d.gen
		d.timer = d.clock.AfterFunc(d.period, func() { d.settle(gen) })
		d.mu.Unlock()
	}
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.closed = true
	close(d.out)
	d.mu.Unlock()
}

// settle reports the raw level if it stayed put for the whole period.
func (d *debounced) settle(gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gen != d.gen || d.closed || d.raw == d.stable {
		return
	}
	d.stable, d.err = d.raw, nil
	pushEdge(d.out, Edge{Active: d.raw, Time: d.clock.Now()})
}

// Active is the debounced level. After a failed first read it reads the
// line again (the Monitor retries an unreadable alarm input, and a line
// stuck active sends no edge), until a read or a settled edge tells it.
func (d *debounced) Active() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		v, err := d.in.Active()
		if err != nil {
			return false, err
		}
		d.stable, d.err = v, nil
	}
	return d.stable, nil
}

func (d *debounced) Edges() <-chan Edge { return d.out }

func (d *debounced) Close() error { return d.in.Close() }
