package gate

import (
	"fmt"
	"time"
)

// lineSpec is one line as Open asks a driver for it.
type lineSpec struct {
	Role      string // "relay", "door", "leds.green", ...: for messages
	Chip      string
	Line      string
	ActiveLow bool
	Drive     string // push-pull ("" too), open-drain, open-source
	Bias      string // as-is ("" too), disabled, pull-up, pull-down
	Debounce  time.Duration
}

// driver opens lines. Outputs come back already inactive; the returned func
// releases the line.
type driver interface {
	Output(s lineSpec) (Output, func() error, error)
	Input(s lineSpec) (Input, error)
	// Close frees what the driver holds besides the lines.
	Close() error
}

// noneDriver is a gate without a relay: pulses only wait and log, which
// suits a kiosk that reports decisions and opens nothing.
type noneDriver struct{}

func (noneDriver) Output(lineSpec) (Output, func() error, error) {
	return nopOutput{}, func() error { return nil }, nil
}

func (noneDriver) Input(s lineSpec) (Input, error) {
	return nil, &LineError{Role: s.Role, Chip: s.Chip, Line: s.Line, Err: fmt.Errorf("%w: driver %q has no inputs", ErrNoLine, "none")}
}

func (noneDriver) Close() error { return nil }

type nopOutput struct{}

func (nopOutput) Set(bool) error { return nil }
