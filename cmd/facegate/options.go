package main

import (
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
)

// The one place where the configuration file becomes each part's options:
// the domain packages take plain values and never import config.

// gateIO is the io section. The line types convert field for field: a key
// added to config's line types without its gate twin fails to compile here.
func gateIO(c config.GateIO) gate.IO {
	return gate.IO{
		Relay: relayLine(c.Relay),
		Door: gate.Door{InputLine: gate.InputLine(c.Door.InputLine),
			HeldOpenAfter: c.Door.HeldOpenAfter, GrantGrace: c.Door.GrantGrace},
		ExitButton: gate.ExitButton{InputLine: gate.InputLine(c.ExitButton.InputLine), Pulse: c.ExitButton.Pulse},
		Tamper:     gate.InputLine(c.Tamper),
		Green:      gate.OutputLine(c.LEDs.Green),
		Red:        gate.OutputLine(c.LEDs.Red),
		Buzzer:     gate.OutputLine(c.Buzzer),
	}
}

// relayLine is io.relay.
func relayLine(c config.Relay) gate.RelayLine { return gate.RelayLine(c) }
