package gate

import (
	"fmt"
	"sync"
	"time"
)

// Pattern is what the LEDs and the buzzer show for an outcome.
type Pattern int

// Patterns.
const (
	PatternOff     Pattern = iota // everything off now
	PatternGranted                // green 2 s, one short beep
	PatternDenied                 // red 2 s, two short beeps
	PatternError                  // red blinks three times, one long beep
)

func (p Pattern) String() string {
	switch p {
	case PatternOff:
		return "off"
	case PatternGranted:
		return "granted"
	case PatternDenied:
		return "denied"
	case PatternError:
		return "error"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// step is one period of one output: on or off for d.
type step struct {
	on bool
	d  time.Duration
}

// sequences per pattern: green, red, buzzer. Each ends off.
var sequences = map[Pattern][3][]step{
	PatternGranted: {
		{{true, 2 * time.Second}},
		nil,
		{{true, 100 * time.Millisecond}},
	},
	PatternDenied: {
		nil,
		{{true, 2 * time.Second}},
		{{true, 150 * time.Millisecond}, {false, 100 * time.Millisecond}, {true, 150 * time.Millisecond}},
	},
	PatternError: {
		nil,
		{{true, 250 * time.Millisecond}, {false, 250 * time.Millisecond}, {true, 250 * time.Millisecond},
			{false, 250 * time.Millisecond}, {true, 250 * time.Millisecond}},
		{{true, 600 * time.Millisecond}},
	},
}

// Indicator plays patterns on the optional green LED, red LED and buzzer.
// A new pattern replaces the one playing. Safe for concurrent use.
type Indicator struct {
	outs  [3]Output // green, red, buzzer; nil when absent
	clock Clock

	mu     sync.Mutex
	gen    int
	timers []Timer
}

// NewIndicator plays on the given outputs; any may be nil.
func NewIndicator(green, red, buzzer Output, clock Clock) *Indicator {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Indicator{outs: [3]Output{green, red, buzzer}, clock: clock}
}

// Show starts p, first turning everything off. It returns the first error
// driving an output; the pattern plays on the others regardless.
func (in *Indicator) Show(p Pattern) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.gen++
	for _, t := range in.timers {
		t.Stop()
	}
	in.timers = in.timers[:0]
	var first error
	for i, out := range in.outs {
		if out == nil {
			continue
		}
		if err := out.Set(false); err != nil && first == nil {
			first = fmt.Errorf("indicator off: %w", err)
		}
		if err := in.play(out, sequences[p][i], in.gen); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// play sets out to seq[0] now and schedules the rest; in.mu is held.
func (in *Indicator) play(out Output, seq []step, gen int) error {
	if len(seq) == 0 {
		return nil
	}
	if err := out.Set(seq[0].on); err != nil {
		return fmt.Errorf("indicator: %w", err)
	}
	in.timers = append(in.timers, in.clock.AfterFunc(seq[0].d, func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		if gen != in.gen {
			return
		}
		if len(seq) == 1 {
			_ = out.Set(false) // end of the sequence; nothing left to report to
			return
		}
		_ = in.play(out, seq[1:], gen)
	}))
	return nil
}

// ShowGranted, ShowDenied and ShowError start the granted, denied and
// error patterns (the kiosk's Indicator).
func (in *Indicator) ShowGranted() error { return in.Show(PatternGranted) }
func (in *Indicator) ShowDenied() error  { return in.Show(PatternDenied) }
func (in *Indicator) ShowError() error   { return in.Show(PatternError) }

// Close turns everything off and stops the pattern.
func (in *Indicator) Close() error { return in.Show(PatternOff) }
