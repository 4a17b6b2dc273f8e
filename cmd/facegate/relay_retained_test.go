package main

import (
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
