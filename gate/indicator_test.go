package gate_test

import (
	"slices"
	"testing"
	"time"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/gate/gatetest"
)

func TestIndicatorPatterns(t *testing.T) {
	type levels struct{ green, red, buzzer bool }
	tests := []struct {
		p     gate.Pattern
		steps []time.Duration // advance by these...
		want  []levels        // ...and see these (want[0] at once)
	}{
		{gate.PatternGranted,
			[]time.Duration{100 * time.Millisecond, 1900 * time.Millisecond},
			[]levels{{true, false, true}, {true, false, false}, {false, false, false}}},
		{gate.PatternDenied,
			[]time.Duration{150 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 1600 * time.Millisecond},
			[]levels{{false, true, true}, {false, true, false}, {false, true, true}, {false, true, false}, {false, false, false}}},
		{gate.PatternError,
			[]time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond},
			[]levels{{false, true, true}, {false, false, true}, {false, true, true}, {false, true, false}, {false, false, false}, {false, true, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			clk := gatetest.NewClock()
			g, r, b := &gatetest.Output{}, &gatetest.Output{}, &gatetest.Output{}
			ind := gate.NewIndicator(g, r, b, clk)
			if err := ind.Show(tt.p); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if i > 0 {
					clk.Advance(tt.steps[i-1])
				}
				got := levels{g.Active(), r.Active(), b.Active()}
				if got != want {
					t.Fatalf("step %d: %+v, want %+v", i, got, want)
				}
			}
			if err := ind.Close(); err != nil {
				t.Fatal(err)
			}
			if g.Active() || r.Active() || b.Active() || clk.Pending() != 0 {
				t.Fatal("Close left something on")
			}
		})
	}
}

func TestIndicatorNewPatternReplacesOld(t *testing.T) {
	clk := gatetest.NewClock()
	g, r := &gatetest.Output{}, &gatetest.Output{}
	ind := gate.NewIndicator(g, r, nil, clk) // no buzzer fitted
	ind.Show(gate.PatternGranted)
	clk.Advance(time.Second)
	ind.Show(gate.PatternDenied)
	if g.Active() || !r.Active() {
		t.Fatalf("green %v red %v", g.Active(), r.Active())
	}
	clk.Advance(1500 * time.Millisecond) // the granted pattern's end must not touch anything now
	if !r.Active() || !slices.Equal(g.History(), []bool{false, true, false}) {
		t.Fatalf("green history %v, red %v", g.History(), r.Active())
	}
}

// The kiosk's outcome methods play the outcome's pattern.
func TestIndicatorOutcomeMethods(t *testing.T) {
	trace := func(show func(*gate.Indicator) error) []bool {
		clk := gatetest.NewClock()
		g, r, b := &gatetest.Output{}, &gatetest.Output{}, &gatetest.Output{}
		ind := gate.NewIndicator(g, r, b, clk)
		if err := show(ind); err != nil {
			t.Fatal(err)
		}
		var levels []bool
		for range 12 {
			levels = append(levels, g.Active(), r.Active(), b.Active())
			clk.Advance(50 * time.Millisecond)
		}
		return levels
	}
	for _, tc := range []struct {
		p    gate.Pattern
		show func(*gate.Indicator) error
	}{
		{gate.PatternGranted, (*gate.Indicator).ShowGranted},
		{gate.PatternDenied, (*gate.Indicator).ShowDenied},
		{gate.PatternError, (*gate.Indicator).ShowError},
	} {
		want := trace(func(in *gate.Indicator) error { return in.Show(tc.p) })
		if got := trace(tc.show); !slices.Equal(got, want) {
			t.Errorf("%s: method plays %v, Show(%s) plays %v", tc.p, got, tc.p, want)
		}
	}
}
