package config

import "time"

// GateIO is the relay and the optional inputs and outputs.
type GateIO struct {
	Relay Relay `yaml:"relay"`
}

// Relay is the output that opens the gate.
type Relay struct {
	// Driver is gpiocdev, sim or none.
	Driver string `yaml:"driver"`
	// Chip is a name (gpiochip0), a label (pinctrl-bcm2711) or a path.
	Chip string `yaml:"chip"`
	// Line is an offset ("17") or a name ("GPIO17").
	Line      string        `yaml:"line"`
	ActiveLow bool          `yaml:"active_low"`
	Pulse     time.Duration `yaml:"pulse"`
	MaxPulse  time.Duration `yaml:"max_pulse"`
}

func (g *GateIO) setDefaults() {
	g.Relay.Driver = "sim"
	g.Relay.Chip = "gpiochip0"
	g.Relay.Line = "GPIO17"
	g.Relay.Pulse = time.Second
	g.Relay.MaxPulse = 10 * time.Second
}

func (g *GateIO) validate() error {
	switch g.Relay.Driver {
	case "gpiocdev", "sim", "none":
	default:
		return fieldError("io.relay.driver", "%q is not gpiocdev, sim or none", g.Relay.Driver)
	}
	if g.Relay.MaxPulse <= 0 || g.Relay.MaxPulse > time.Minute {
		return fieldError("io.relay.max_pulse", "%s must be between 1ms and 60s", g.Relay.MaxPulse)
	}
	if g.Relay.Pulse <= 0 || g.Relay.Pulse > g.Relay.MaxPulse {
		return fieldError("io.relay.pulse", "%s must be between 1ms and max_pulse (%s)", g.Relay.Pulse, g.Relay.MaxPulse)
	}
	return nil
}
