package kiosk

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestSelfTestChecksCarryTheirNumbers: each measured check has its number
// and unit beside the text, for dashboards that cannot parse "497ms per
// frame" or "outbox 4".
func TestSelfTestChecksCarryTheirNumbers(t *testing.T) {
	cam := &fakeCamera{h: CameraHealth{FPS: 14.46, LastChange: time.Now(), DetectorTime: 497 * time.Millisecond}}
	brk := &fakeBroker{connected: false, depth: 4}
	k := webRig(t, nil, func(d *Deps) { d.Camera = cam; d.Broker = brk; d.Pinger = fakePinger{} })
	h := k.selfTest(context.Background())
	for _, tc := range []struct {
		check string
		value float64
		unit  string
	}{{"camera", 14.5, "fps"}, {"detector", 497, "ms"}, {"broker", 4, "events"}} {
		c := h.Checks[tc.check]
		if c.Value == nil || *c.Value != tc.value || c.Unit != tc.unit {
			got := "nil"
			if c.Value != nil {
				got = ftoa(*c.Value)
			}
			t.Errorf("%s check = %q value %s %q, want %v %s", tc.check, c.Detail, got, c.Unit, tc.value, tc.unit)
		}
	}
	if c := h.Checks["api"]; c.Value != nil {
		t.Errorf("api check has a value: %+v", c)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
