package main

import (
	"strings"
	"testing"
	"time"
)

// TestStartClearsAStaleRetainedRelayOpen: <prefix>/relay is
// retained and published only on a change of the line (parts.relayChanged,
// the relay's OnChange). A daemon killed (kill -9, power loss, watchdog)
// while the line was energised — a grant's 4 s pulse, or an evacuation
// hold of many minutes — leaves "open" retained on the broker; the next
// start drives the line inactive but publishes nothing until the next
// pulse. Home Assistant's Relay binary_sensor (device_class lock, on =
// unlocked) then shows "Unlocked", available (status online), for hours
// while the gate is locked; a Node-RED dashboard the same.
func TestStartClearsAStaleRetainedRelayOpen(t *testing.T) {
	r := newRig(t, 0)
	// What the killed predecessor left retained.
	if err := r.broker.Publish(r.prefix+"/relay", []byte("open"), true); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.waitOnlineAndIdle(t)
	time.Sleep(1500 * time.Millisecond) // the retained topics go out at connect
	r.bl.mu.Lock()
	got := append([]string(nil), r.bl.relayTopic...)
	r.bl.mu.Unlock()
	if len(got) == 0 || got[len(got)-1] != "closed" {
		t.Errorf("<prefix>/relay after a start with the line inactive: %q, want the last value \"closed\" (the broker keeps the killed daemon's \"open\")", got)
	}
}

// TestStartClearsAStaleRetainedDoorOpen: the door contact the same way. A
// door that closed while the daemon was down stayed "open" retained, and
// on the kiosk's screen, until it next moved: the monitor reads the door
// at start but only its changes were published.
func TestStartClearsAStaleRetainedDoorOpen(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  leds:\n", "  door: {line: GPIO27}\n  leds:\n", 1))
	if err := r.broker.Publish(r.prefix+"/door", []byte("open"), true); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.waitOnlineAndIdle(t)
	time.Sleep(1500 * time.Millisecond) // the retained topics go out at connect
	r.bl.mu.Lock()
	got := append([]string(nil), r.bl.doorTopic...)
	r.bl.mu.Unlock()
	if len(got) == 0 || got[len(got)-1] != "closed" {
		t.Errorf("<prefix>/door after a start with the door closed: %q, want the last value \"closed\"", got)
	}
	if d := r.d.p.kiosk.Status().Door; d != "closed" {
		t.Errorf("the kiosk shows the door %q, want closed", d)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
