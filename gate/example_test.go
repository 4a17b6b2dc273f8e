package gate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// Open a simulated gate, pulse it for a grant and read the
// simulated door's events.
func ExampleOpen() {
	io := gate.IO{
		Relay: gate.RelayLine{Driver: "sim", Pulse: 300 * time.Millisecond},
		Door:  gate.Door{InputLine: gate.InputLine{Line: "door"}},
	}
	clock := gatetest.NewClock() // the pulse ends when the example says so, not on a busy machine's whim
	g, err := gate.Open(io, gate.Options{Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close() // halts the relay before releasing anything

	// A grant: the relay is energised for the configured pulse; PulseNotify
	// says when the line is energised.
	done := make(chan error, 1)
	energised := make(chan struct{})
	go func() { done <- g.Relay.PulseNotify(context.Background(), 0, func() { close(energised) }) }()

	// The door opens during the pulse: a granted opening, not a forced one.
	<-energised
	g.Sim().SetInput("door", true)
	fmt.Println((<-g.Events()).Kind)
	clock.Advance(io.Relay.Pulse) // the pulse ends
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Relay.State(), len(g.Sim().Pulses()))
	// Output:
	// door-opened
	// idle 1
}
