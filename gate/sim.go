package gate

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sim is the in-memory driver: outputs are recorded and logged, inputs are
// set with SetInput. The demo uses it in place of GPIO.
type Sim struct {
	clock Clock
	log   *slog.Logger

	mu     sync.Mutex
	levels map[string]bool  // by role
	fails  map[string]error // by role: Set fails with it (FailOutput)
	pulses []SimPulse
	inputs map[string]*simInput
	// inLevels are the input levels set, by role: an input opened later
	// starts from its level, as a real line already active would.
	inLevels map[string]bool
}

// SimPulse is one recorded relay pulse; End is zero while it lasts.
type SimPulse struct {
	Start, End time.Time
}

// NewSim returns an empty simulator.
func NewSim(clock Clock, log *slog.Logger) *Sim {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Sim{clock: clock, log: log, levels: map[string]bool{}, fails: map[string]error{}, inputs: map[string]*simInput{},
		inLevels: map[string]bool{}}
}

// Pulses returns the relay pulses so far.
func (s *Sim) Pulses() []SimPulse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SimPulse(nil), s.pulses...)
}

// Level reports whether the output of a role ("relay", "leds.green", ...)
// is active.
func (s *Sim) Level(role string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.levels[role]
}

// FailOutput makes every Set of a role's output ("relay", ...) fail with
// err, the level unchanged, as a driver that lost its line would; nil heals
// it. It rehearses a relay that cannot be energised.
func (s *Sim) FailOutput(role string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fails, role)
		return
	}
	s.fails[role] = err
}

// simInputs are the roles SetInput drives without an input opened under
// that role yet: the ones Gate.Open requests, and the fire alarm's
// (as facegate run opens it with Gate.OpenAlarm).
var simInputs = []string{"door", "exit_button", "tamper", "fire_alarm"}

// SetInput drives an input ("door", "exit_button", "tamper", "fire_alarm"):
// active is door open, button pressed, tamper or fire alarm. An input not
// open yet starts at the level set when it opens (an alarm already on when
// the daemon starts). Any other role is an error unless an input was
// opened under it on this Sim (Gate.OpenAlarm's role): a mistyped role
// would otherwise store a level no input ever reads.
func (s *Sim) SetInput(role string, active bool) error {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	in, open := s.inputs[role]
	if !open && !slices.Contains(simInputs, role) {
		return fmt.Errorf("sim: no input %q (inputs: %s, or a role opened with OpenAlarm)", role, strings.Join(simInputs, ", "))
	}
	s.inLevels[role] = active
	if open {
		in.set(active, now)
	}
	return nil
}

// Output implements driver.
func (s *Sim) Output(l lineSpec) (Output, func() error, error) {
	s.mu.Lock()
	s.levels[l.Role] = false
	s.mu.Unlock()
	return simOutput{s, l.Role}, func() error { return nil }, nil
}

// Input implements driver.
func (s *Sim) Input(l lineSpec) (Input, error) {
	s.mu.Lock()
	in := &simInput{active: s.inLevels[l.Role], edges: make(chan Edge, edgeBuffer)}
	s.inputs[l.Role] = in
	s.mu.Unlock()
	return in, nil
}

// Close implements driver.
func (s *Sim) Close() error { return nil }

type simOutput struct {
	s    *Sim
	role string
}

func (o simOutput) Set(active bool) error {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fails[o.role]; err != nil {
		return fmt.Errorf("sim %s: %w", o.role, err)
	}
	if s.levels[o.role] == active {
		return nil
	}
	s.levels[o.role] = active
	if o.role == "relay" {
		now := s.clock.Now()
		if active {
			s.pulses = append(s.pulses, SimPulse{Start: now})
		} else if n := len(s.pulses); n > 0 && s.pulses[n-1].End.IsZero() {
			s.pulses[n-1].End = now
		}
	}
	s.log.Info("sim output", "role", o.role, "active", active)
	return nil
}

type simInput struct {
	mu     sync.Mutex
	active bool
	closed bool
	edges  chan Edge
}

func (i *simInput) set(active bool, t time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed || i.active == active {
		return
	}
	i.active = active
	pushEdge(i.edges, Edge{Active: active, Time: t})
}

func (i *simInput) Active() (bool, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.active, nil
}

func (i *simInput) Edges() <-chan Edge { return i.edges }

func (i *simInput) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		i.closed = true
		close(i.edges)
	}
	return nil
}
