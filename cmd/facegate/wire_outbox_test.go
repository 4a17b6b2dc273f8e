package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/outbox"
)

// TestRunAlertsOnADamagedOutbox: a bit flipped in one queued event (left by
// an earlier run) costs only that event: the daemon starts, delivers the
// others and raises the outbox_corrupt alert saying how many were lost.
func TestRunAlertsOnADamagedOutbox(t *testing.T) {
	r := newRig(t, 0)
	path := filepath.Join(filepath.Dir(r.cfgPath), "state", "mqtt-outbox.log")
	writeDamagedOutbox(t, path, "old-2", func(i int) []byte {
		return fmt.Appendf(nil, `{"event_id":"old-%d","seq":%d,"ts":"2026-01-01T00:00:00.000Z","site":"test","gate":"door1","decision":"denied","reason":["timeout"],"age_ms":0,"latency_ms":{"capture":0,"api":0,"total":0}}`, i, i)
	})

	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		alerted := false
		for _, a := range r.bl.alerts {
			alerted = alerted || (a.Code == kiosk.AlertOutboxCorrupt && strings.HasPrefix(a.Message, "1 records lost"))
		}
		ids := map[string]bool{}
		for _, ev := range r.bl.events {
			ids[ev.EventID] = true
		}
		return alerted && ids["old-1"] && ids["old-3"] && !ids["old-2"]
	}, 10*time.Second, 20*time.Millisecond, "the outbox_corrupt alert and the two intact events")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
}

// TestRunAlertsOnADamagedCommandOutbox: damage in the site command queue
// (a gate's own cmd/evacuate) raises outbox_corrupt like the event
// outbox's: a lost record is an evacuation start or end the peers never get.
func TestRunAlertsOnADamagedCommandOutbox(t *testing.T) {
	r := newRig(t, 0)
	r.writeConfig(strings.Replace(r.cfgYAML, "  enabled: true\n  urls:", "  enabled: true\n  commands:\n    open:\n      secret: site-secret-0123456789\n  urls:", 1) + `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
`)
	path := filepath.Join(filepath.Dir(r.cfgPath), "state", mqtt.SiteCommandsFileName)
	writeDamagedOutbox(t, path, "evac-old-2", func(i int) []byte {
		return fmt.Appendf(nil, `{"action":"end","id":"evac-old-%d","by":"marshal","issued":1}`, i)
	})

	r.start()
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		for _, a := range r.bl.alerts {
			if a.Code == kiosk.AlertOutboxCorrupt && strings.HasPrefix(a.Message, "site command queue "+mqtt.SiteCommandsFileName+": 1 records lost") {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the outbox_corrupt alert for the command queue")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
}

// writeDamagedOutbox leaves an outbox at path with records 1..3 from rec,
// one bit flipped in the one containing mark: it no longer matches its
// checksum, as after a torn write or a bad sector.
func writeDamagedOutbox(t *testing.T, path, mark string, rec func(i int) []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := box.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	box.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), mark)
	if i < 0 {
		t.Fatalf("%q not in the outbox", mark)
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
