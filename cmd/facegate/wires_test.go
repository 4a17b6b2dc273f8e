package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
)

// An exit press whose pulse energised the relay and then could not drive
// it inactive leaves the door unlocked (the line stuck energised). A grant's
// pulse that ends so raises relay_fault ("relay line could not be driven
// inactive"); the exit button's raises only relay_failed with the message
// "the relay could not be pulsed for the exit button: nobody was let out",
// the opposite of what happened: somebody was let out and the door stays
// unlocked. An operator (or a pager rule keyed on relay_fault) reads it as a
// locked door.
func TestExitPulseLeftStuckEnergisedRaisesRelayFault(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 500ms}\n  leds:\n", 1))
	r.start()
	r.waitOnlineAndIdle(t)
	sim := r.d.p.gate.Sim()
	require.NoError(t, sim.SetInput("exit_button", true))
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Contains(r.bl.relayTopic, "open")
	}, 10*time.Second, 5*time.Millisecond, "the exit pulse")
	// The line is lost while energised: the pulse's end cannot drive it.
	sim.FailOutput("relay", errors.New("line lost"))
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.alerts) > 0
	}, 10*time.Second, 20*time.Millisecond, "an alert about the stuck relay")
	time.Sleep(500 * time.Millisecond)
	require.True(t, sim.Level("relay"), "the relay line is still energised (the door unlocked)")
	r.bl.mu.Lock()
	alerts := slices.Clone(r.bl.alerts)
	r.bl.mu.Unlock()
	sim.FailOutput("relay", nil)
	var codes []string
	for _, a := range alerts {
		codes = append(codes, a.Code+": "+a.Message)
	}
	if !slices.ContainsFunc(alerts, func(a mqtt.Alert) bool { return a.Code == kiosk.AlertRelayFault }) {
		t.Errorf("no %s alert for a relay line left energised by an exit pulse; alerts: %q", kiosk.AlertRelayFault, codes)
	}
	for _, a := range alerts {
		if strings.Contains(a.Message, "nobody was let out") {
			t.Errorf("alert %s says nobody was let out, but the exit pulse energised the relay and left it energised: %q", a.Code, a.Message)
		}
	}
	require.Equal(t, exitOK, r.stop(), r.logs.String())
}

// A tamper switch that flaps (a worn micro-switch on a vibrating
// enclosure, or one somebody toggles on purpose) wrote one audit record
// and raised one alert per alarm, without bound: the size rotation of the
// audit log then deleted the oldest files, and with them the grants made
// before the flapping (with the defaults, 10 MB x 5 files and up to 10
// alarms a second, within a day). The daemon's records of it are now the
// first alarm and, at the end of each minute (or at the stop), one line
// with the count of the others (kiosk's TestChatteringDoorContact... shows
// the grants kept).
func TestFlappingTamperIsRecordedOnce(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  tamper: {line: GPIO8}\n  leds:\n", 1))
	r.start()
	r.waitOnlineAndIdle(t)
	sim := r.d.p.gate.Sim()
	const flaps = 300
	for range flaps {
		// Each level held long enough for the monitor to take it (the sim
		// keeps only the newest 64 edges, like a driver's buffer).
		require.NoError(t, sim.SetInput("tamper", true))
		time.Sleep(300 * time.Microsecond)
		require.NoError(t, sim.SetInput("tamper", false))
		time.Sleep(300 * time.Microsecond)
	}
	require.Equal(t, exitOK, r.stop(), "stop")
	b, err := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
	require.NoError(t, err)
	var lines, counted int
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Input    string
			Repeated int
		}
		require.NoError(t, json.Unmarshal([]byte(l), &rec))
		if rec.Input == "tamper-alarm" {
			lines++
			counted += 1 + rec.Repeated
		}
	}
	require.LessOrEqual(t, lines, 2, "tamper alarm lines in the audit log: want the first and one count")
	require.Greater(t, counted, 1, "the flaps are counted")
}

// The fire alarm starts the evacuation on the site wire's loop, and that
// loop also holds the relay open for it (release_relay). Before it gets to
// the hold, the start is saved to disk three times on the same loop (the
// trusted ids, the presence, the site command queue when MQTT is on), each
// fsync'd. A hung card (the reason exit presses and hold records are
// written off the loops that drive the relay) then keeps every door of the
// evacuation locked for as long as it hangs: a fail-secure strike lets
// nobody out during a fire.
func TestFireAlarmHoldsTheRelayWhileTheStateDiskHangs(t *testing.T) {
	_, g, hang, release := fireAlarmSiteWire(t)

	hang() // the card hangs
	require.NoError(t, g.Sim().SetInput("fire_alarm", true))
	held := false
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !held; time.Sleep(10 * time.Millisecond) {
		held = g.Relay.Held()
	}
	release()
	if !held {
		t.Error("fire alarm active for 3 s with the state disk hung: the relay was not held open for the evacuation (doors stay locked)")
	}
	require.Eventually(t, g.Relay.Held, 10*time.Second, 10*time.Millisecond, "held once the disk moves")
}

// The other way: an operator ends the evacuation while the state disk
// hangs. The end is in the presence at once, but the site wire's loop
// first forgets the ended evacuation's trust on disk (forgetEnded, an
// fsync'd file) and only then releases the relay: every door stays
// unlocked, held open, for as long as the card hangs after the operator
// ended the evacuation.
func TestEvacuationEndReleasesTheRelayWhileTheStateDiskHangs(t *testing.T) {
	w, g, hang, release := fireAlarmSiteWire(t)

	require.NoError(t, g.Sim().SetInput("fire_alarm", true))
	require.Eventually(t, g.Relay.Held, 10*time.Second, 10*time.Millisecond, "held for the evacuation")
	require.NoError(t, g.Sim().SetInput("fire_alarm", false))

	hang() // the card hangs
	ended := make(chan struct{})
	go func() { defer close(ended); _, _ = w.Evacuate(false, "marshal", "all clear") }()
	require.Eventually(t, func() bool { return !w.Evacuation().Active }, 5*time.Second, 10*time.Millisecond, "the end in the presence")
	held := true
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && held; time.Sleep(10 * time.Millisecond) {
		held = g.Relay.Held()
	}
	release()
	<-ended
	if held {
		t.Error("evacuation ended by the operator 3 s ago with the state disk hung: the relay is still held (every door unlocked)")
	}
	require.Eventually(t, func() bool { return !g.Relay.Held() }, 10*time.Second, 10*time.Millisecond, "released once the disk moves")
}

// fireAlarmSiteWire runs a site wire with a sim gate whose fire alarm
// evacuates (release_relay), its side records and a kiosk; hang makes its
// state_dir hang (hangDir), release lets it go. Cleanup stops it all.
func fireAlarmSiteWire(t *testing.T) (w *siteWire, g *gate.Gate, hang, release func()) {
	t.Helper()
	cfg := siteTestConfig(t, releaseYAML+"io:\n  relay: {driver: sim}\n  fire_alarm: {line: GPIO9}\n")
	g, err := gate.Open(gateIO(cfg.IO), gate.Options{})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err = newSiteWire(cfg, log, g)
	require.NoError(t, err)
	k, err := kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{}, Publisher: &alertLog{},
		Site: w, SiteBoard: w, Logger: log})
	require.NoError(t, err)
	require.NoError(t, w.start(k, nil))
	side := newSideRecords(log)
	w.sideRecord = side.add
	ctx, cancel := context.WithCancel(context.Background())
	go side.run(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	hang, release = hangDir(t, cfg.StateDir)
	t.Cleanup(func() { release(); cancel(); <-done; g.Close() })
	return w, g, hang, release
}

// A save of the trusted evacuations hung on the card must not block the
// question every hold and release asks (which evacuation this gate
// trusts): the list's lock was held across the fsync.
func TestHungTrustSaveDoesNotBlockTheRelay(t *testing.T) {
	w, _, hang, release := fireAlarmSiteWire(t)
	hang() // the card hangs
	saving := make(chan struct{})
	go func() { defer close(saving); w.trust("evac-hung") }()
	time.Sleep(200 * time.Millisecond) // the save is under way, hung
	asked := make(chan struct{})
	go func() { defer close(asked); _ = w.trustedActive(); _ = w.isTrusted("evac-hung") }()
	select {
	case <-asked:
	case <-time.After(3 * time.Second):
		release()
		<-asked
		t.Fatal("which evacuation is trusted waited for a trust save hung on the card")
	}
	release()
	<-saving
}
