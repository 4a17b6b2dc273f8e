package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

// SetInput refuses a role no input answers to: a mistyped role in a test
// used to store a level that nothing ever read, and the test waited for an
// event that could not come.
func TestSimSetInputRoles(t *testing.T) {
	tests := []struct {
		role string
		ok   bool
	}{
		{"door", true},
		{"exit_button", true},
		{"tamper", true},
		{"fire_alarm", true},
		{"dor", false},
		{"Door", false},
		{"exit", false}, // the line's name in simConfig, not the role
		{"fire", false},
		{"relay", false}, // an output
		{"smoke", false}, // not opened (yet)
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			s := gate.NewSim(gatetest.NewClock(), nil)
			err := s.SetInput(tt.role, true)
			if tt.ok != (err == nil) {
				t.Fatalf("SetInput(%q): %v, want ok %v", tt.role, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), `"`+tt.role+`"`) {
				t.Fatalf("the error does not name the role: %v", err)
			}
		})
	}
}

// A role of its own given to Gate.OpenAlarm is an input of the Sim once
// opened; a refused role leaves the real inputs as they were.
func TestSimSetInputOpenedRole(t *testing.T) {
	g, err := gate.Open(simConfig(), gate.Options{Clock: gatetest.NewClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	a, err := g.OpenAlarm("smoke", gate.AlarmLine{Line: "smoke"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sim().SetInput("smok", true); err == nil {
		t.Fatal("a mistyped role was accepted")
	}
	if err := g.Sim().SetInput("smoke", true); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-a.Events():
		if e.Kind != gate.FireAlarm {
			t.Fatalf("%v, want fire-alarm", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the opened role")
	}
	select {
	case e := <-a.Events():
		t.Fatalf("the mistyped role reached the alarm: %v", e)
	case <-time.After(20 * time.Millisecond): // real time: lets the monitor goroutine run
	}
}
