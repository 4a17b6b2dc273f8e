package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// journalLines are the daemon's log lines at info level or above (what
// journalctl -u facegate shows with the default log_level: info) that
// contain substr.
func journalLines(logs string, substr string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=DEBUG") || !strings.Contains(l, substr) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// TestLogChatteringDoorContactIsNotALineEachBounce: a door contact
// whose magnet came loose chatters (wind, a vibrating frame) for days.
// The kiosk already counts the repeats into one audit line and one alert
// a minute (79523ed), but the daemon's journal still gets a line per edge
// from the gate monitor ("door forced open") and two more from
// gateEvent ("door forced open", "door" event=closed): at a bounce a
// second that is ~10,000 lines an hour, ~250,000 a day, and the
// journal's size cap rotates away every line that matters (the grants'
// decision lines, the relay's faults) within days.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogChatteringDoorContactIsNotALineEachBounce(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  door: {line: GPIO7}\n  leds:\n", 1))
	r.start()
	r.waitOnlineAndIdle(t)
	sim := r.d.p.gate.Sim()
	before := len(journalLines(r.logs.String(), "door"))
	const bounces = 200
	for range bounces {
		require.NoError(t, sim.SetInput("door", true))
		time.Sleep(2 * time.Millisecond)
		require.NoError(t, sim.SetInput("door", false))
		time.Sleep(2 * time.Millisecond)
	}
	// The alert of the first forced opening says the gate saw them.
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.doorTopic) > bounces/2
	}, 10*time.Second, 20*time.Millisecond, "the door's edges handled")
	time.Sleep(500 * time.Millisecond)
	lines := journalLines(r.logs.String(), "door")[before:]
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	const budget = 20
	if len(lines) > budget {
		t.Fatalf("%d bounces of the door contact made %d journal lines (want at most %d: the first, a count now and then); the first few:\n%s",
			bounces, len(lines), budget, strings.Join(lines[:6], "\n"))
	}
}
