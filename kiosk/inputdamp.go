package kiosk

import (
	"fmt"
	"sync"
	"time"

	"github.com/facegate/facegate/record"
)

// inputQuiet is how long after a record of a gate input more of the same
// input are counted rather than written one by one. A chattering contact
// (a loose door magnet) made one audit line and one alert per bounce:
// within a day the size-bounded audit log rotated every grant out of it.
const inputQuiet = time.Minute

// inputDamper counts the repeats of each gate input within its quiet
// window; at the window's end one line says how many there were (and the
// window starts again while they go on).
type inputDamper struct {
	mu      sync.Mutex
	windows map[string]*inputWindow
	closed  bool
	// flushing counts the windows whose timer took them and is writing
	// their count: close waits for them (the audit log closes after it).
	flushing sync.WaitGroup
}

// inputWindow is one input's quiet window (one per input and detail: the
// faults of two lines are not one line's repeats).
type inputWindow struct {
	input       string
	n           int
	first, last time.Time // the repeats' own times
	detail      string    // the last repeat's
	timer       *time.Timer
}

// admit reports whether input at when is to be written (the first of its
// window) or was counted; flush writes a window's count when it ends.
func (d *inputDamper) admit(input, detail string, when time.Time, flush func(input string, w inputWindow)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.windows == nil {
		d.windows = map[string]*inputWindow{}
	}
	key := input + "\x00" + detail
	if w := d.windows[key]; w != nil {
		if w.n == 0 {
			w.first = when
		}
		w.n++
		w.last, w.detail = when, detail
		return false
	}
	if d.closed {
		return true
	}
	d.open(key, input, flush)
	return true
}

// open starts input's window; d.mu is held.
func (d *inputDamper) open(key, input string, flush func(string, inputWindow)) {
	w := &inputWindow{input: input}
	d.windows[key] = w
	w.timer = time.AfterFunc(inputQuiet, func() {
		d.mu.Lock()
		if d.windows[key] != w {
			d.mu.Unlock()
			return
		}
		delete(d.windows, key)
		done := *w
		if done.n > 0 && !d.closed {
			d.open(key, input, flush) // still chattering: keep counting
		}
		if done.n > 0 {
			d.flushing.Add(1)
		}
		d.mu.Unlock()
		if done.n > 0 {
			defer d.flushing.Done()
			flush(input, done)
		}
	})
}

// close ends every window now, writing their counts, and waits for the
// counts a timer is writing. A window still in d.windows is close's to
// write even when its timer has just fired: that callback finds
// d.windows nil and writes nothing.
func (d *inputDamper) close(flush func(string, inputWindow)) {
	d.mu.Lock()
	d.closed = true
	windows := d.windows
	d.windows = nil
	d.mu.Unlock()
	for _, w := range windows {
		w.timer.Stop()
		if w.n > 0 {
			flush(w.input, *w)
		}
	}
	d.flushing.Wait()
}

// inputRepeats writes the count of a window's repeats: an audit line and
// the input's alert, once.
func (k *Kiosk) inputRepeats(input string, w inputWindow) {
	a := inputAlerts[input]
	rec := inputRecord{Kind: inputKind, Input: input, Detail: clip(w.detail), Repeated: w.n, Since: record.Timestamp(w.first),
		TS: record.Timestamp(w.last), Site: k.site, Gate: k.gate}
	k.writeAudit(rec, "input "+input+" repeated")
	k.sendAlert(a.code, fmt.Sprintf("%s: %d more times within %v (a faulty contact?)", a.msg, w.n, inputQuiet), "")
}
