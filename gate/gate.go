// Package gate drives the gate's I/O: the relay that unlocks it, the optional
// door contact, exit button, tamper and fire alarm inputs, and the optional
// green/red LEDs and buzzer. It knows how to open the gate safely, never why.
//
// Safety contract: the relay line is requested once, as an output at its
// inactive level, and held until Close. Every pulse ends with the line
// inactive: when its time is up, when the caller's context is cancelled, on
// Halt and on Close. Wiring must make "not driven" mean "locked" (docs/gate.md)
// because the kernel may return a released line to its default state.
//
// Drivers: "gpiocdev" (Linux GPIO character device), "sim" (in memory, logs
// and records pulses) and "none" (no relay). Fakes for tests are in gatetest.
package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Relay is the output that unlocks the gate.
type Relay interface {
	// Pulse energises the relay for d (DefaultPulse when d <= 0, clamped to
	// the configured maximum) and returns once it is de-energised. A Pulse
	// during a pulse extends it to end no earlier than now+d; it never stacks
	// or toggles the line. A cancelled ctx ends the pulse at once (fail
	// closed) and Pulse returns ctx.Err().
	Pulse(ctx context.Context, d time.Duration) error
	// Halt ends any pulse (its Pulse returns ErrHalted), drives the line
	// inactive and refuses further pulses (ErrHalted). Safe to call more
	// than once.
	Halt() error
	// State is what the relay is doing now.
	State() RelayState
}

// Output is one driven line (relay coil, LED, buzzer) as a driver exposes it:
// Set(true) drives it active, whatever its polarity.
type Output interface {
	Set(active bool) error
}

// RelayState is what the relay is doing.
type RelayState int

// Relay states.
const (
	RelayIdle   RelayState = iota // inactive, accepting pulses
	RelayActive                   // energised, the gate is unlocked
	RelayHalted                   // inactive for good (after Halt or Close)
	RelayFault                    // the line could not be driven inactive: check the wiring
)

func (s RelayState) String() string {
	switch s {
	case RelayIdle:
		return "idle"
	case RelayActive:
		return "active"
	case RelayHalted:
		return "halted"
	case RelayFault:
		return "fault"
	}
	return fmt.Sprintf("RelayState(%d)", int(s))
}

// Pulse limits.
const (
	DefaultPulse    = time.Second
	DefaultMaxPulse = 10 * time.Second
	// PulseCeiling is the hard limit: no configuration pulses longer.
	PulseCeiling = time.Minute
)

// Errors. Callers use errors.Is; a *LineError carries the details.
var (
	// ErrNoChip: the configured GPIO chip does not exist.
	ErrNoChip = errors.New("no such GPIO chip")
	// ErrNoLine: the chip has no line with that offset or name.
	ErrNoLine = errors.New("no such GPIO line")
	// ErrPermission: the process may not open the chip (join the gpio group).
	ErrPermission = errors.New("permission denied on the GPIO chip: run as a member of the gpio group")
	// ErrBusy: another consumer holds the line.
	ErrBusy = errors.New("GPIO line busy")
	// ErrHalted: the relay was halted or closed and pulses no more.
	ErrHalted = errors.New("relay halted")
	// ErrUnsupported: the gpiocdev driver needs Linux.
	ErrUnsupported = errors.New("gpiocdev driver is only available on Linux")
)

// LineError is a GPIO line that could not be opened, with what a user needs
// to fix it: the chips or lines that do exist, or who holds the line.
type LineError struct {
	Role     string   // "relay", "door", "leds.green", ...
	Chip     string   // as configured
	Line     string   // as configured ("" for chip errors)
	Consumer string   // who holds a busy line
	Have     []string // chips or line names that exist
	Err      error    // one of the sentinels above, or the driver's error
}

func (e *LineError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: chip %q", e.Role, e.Chip)
	if e.Line != "" {
		fmt.Fprintf(&b, " line %q", e.Line)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Consumer != "" {
		fmt.Fprintf(&b, " (held by %q)", e.Consumer)
	}
	if e.Have != nil {
		if len(e.Have) == 0 {
			b.WriteString(" (there are none)")
		} else {
			fmt.Fprintf(&b, " (have: %s)", strings.Join(e.Have, ", "))
		}
	}
	return b.String()
}

func (e *LineError) Unwrap() error { return e.Err }

// EventKind says what an input did.
type EventKind int

// Event kinds. Door events need io.door; ExitPressed io.exit_button;
// Tamper* io.tamper; FireAlarm* io.fire_alarm (Gate.OpenAlarm).
const (
	DoorOpened       EventKind = iota + 1 // opened during or just after a grant
	DoorForced                            // opened without a grant
	DoorClosed                            //
	DoorHeldOpen                          // still open after io.door.held_open_after
	ExitPressed                           // exit button: the gate pulses the relay locally
	TamperAlarm                           // tamper switch active
	TamperCleared                         // tamper switch back to normal
	InputFault                            // an input stopped reporting; Err says why
	FireAlarm                             // the fire panel's contact active
	FireAlarmCleared                      // the fire panel's contact back to normal
	ExitPulseFailed                       // the exit button's pulse failed (nobody let out); Err says why
)

var kindNames = map[EventKind]string{
	DoorOpened: "door-opened", DoorForced: "door-forced", DoorClosed: "door-closed",
	DoorHeldOpen: "door-held-open", ExitPressed: "exit-pressed",
	TamperAlarm: "tamper-alarm", TamperCleared: "tamper-cleared", InputFault: "input-fault",
	FireAlarm: "fire-alarm", FireAlarmCleared: "fire-alarm-cleared", ExitPulseFailed: "exit-pulse-failed",
}

func (k EventKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing the inputs reported.
type Event struct {
	Time time.Time
	Kind EventKind
	Err  error // InputFault only
}

func (e Event) String() string {
	s := e.Time.UTC().Format("2006-01-02T15:04:05.000Z") + " " + e.Kind.String()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
