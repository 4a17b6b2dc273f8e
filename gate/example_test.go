package gate_test

import (
	"context"
	"fmt"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk/config"
)

// Open the gate from the io section, pulse it for a grant and read the
// simulated door's events.
func ExampleOpen() {
	io := config.Default().IO // driver sim
	io.Door.Line = "door"
	io.Relay.Pulse = 300 * time.Millisecond
	g, err := gate.Open(io, gate.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close() // halts the relay before releasing anything

	// A grant: the relay is energised for the configured pulse.
	done := make(chan error, 1)
	go func() { done <- g.Relay.Pulse(context.Background(), 0) }()

	// The door opens during the pulse: a granted opening, not a forced one.
	for g.Relay.State() != gate.RelayActive {
		time.Sleep(time.Millisecond)
	}
	g.Sim().SetInput("door", true)
	fmt.Println((<-g.Events()).Kind)
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Relay.State(), len(g.Sim().Pulses()))
	// Output:
	// door-opened
	// idle 1
}
