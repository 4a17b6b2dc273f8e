package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/record"
)

// TestRunSiteGateSharesTheLivenessLockout: with zones on, the daemon
// counts another gate's liveness failures (its events on the site's MQTT)
// towards its own lockout. Two photo failures at door2 and one here (a
// still clip cannot turn its head) lock worker-1 out at this gate, which
// raises the alert on its own failure and refuses the next try without a
// check.
func TestRunSiteGateSharesTheLivenessLockout(t *testing.T) {
	r := newRig(t, 0)
	yml := strings.Replace(r.cfgYAML, "  liveness: off # a still test clip cannot turn its head\n",
		"  liveness: challenge\n  liveness_lockout: {max: 3, per: 10m}\n", 1)
	require.NotEqual(t, r.cfgYAML, yml)
	r.writeConfig(yml + `zones:
  enabled: true
  list: [{name: site}]
  door: {from: outside, to: site, direction: entry}
`)
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")

	// door2's two failures, as a gate with privacy: hash publishes them.
	now := time.Now().UTC()
	var peer []record.Event
	for i, reason := range []string{kiosk.ReasonLivenessFailed, kiosk.ReasonLivenessNoTurn} {
		peer = append(peer, record.Event{
			EventID: "door2-" + string(rune('a'+i)), Seq: uint64(i + 1),
			TS:   now.Add(time.Duration(i-2) * time.Minute).Format("2006-01-02T15:04:05.000Z07:00"),
			Site: "test", Gate: "door2", Decision: record.DecisionDenied, Reason: []string{reason},
			SubmissionID: record.PrivacyHash.Apply("sub-worker-1"), UserID: "worker-1", IdentitySource: "mqtt",
			Liveness: &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}},
		})
	}
	lockoutFile := filepath.Join(filepath.Dir(r.cfgPath), "state", "kiosk", "liveness-lockout.json")
	saved := func() int {
		var f struct{ Failures map[string][]time.Time }
		b, err := os.ReadFile(lockoutFile)
		if err != nil || json.Unmarshal(b, &f) != nil {
			return 0
		}
		return len(f.Failures[strings.TrimPrefix(record.PrivacyHash.Apply("sub-worker-1"), "sha256:")])
	}
	// Published until the daemon has them: MQTT keeps nothing for a
	// subscription not yet made, and a failure delivered again counts once.
	require.Eventually(t, func() bool {
		for _, ev := range peer {
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			require.NoError(t, r.broker.Publish("facegate/test/door2/event", b, false))
		}
		time.Sleep(50 * time.Millisecond)
		return saved() >= 2
	}, 10*time.Second, 100*time.Millisecond, "door2's failures in the lockout memory")
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 2, saved(), "each of door2's failures counts once however often it is delivered")

	events := func() []record.Event {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return slices.Clone(r.bl.events)
	}
	lockoutAlerts := func() int {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		n := 0
		for _, a := range r.bl.alerts {
			if a.Code == kiosk.AlertLivenessLockout {
				n++
			}
		}
		return n
	}
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 1 }, 30*time.Second, 20*time.Millisecond, "the first decision")
	ev := events()[0]
	require.Equal(t, record.DecisionDenied, ev.Decision)
	require.True(t, slices.Contains(ev.Reason, kiosk.ReasonLivenessFailed) || slices.Contains(ev.Reason, kiosk.ReasonLivenessNoTurn),
		"a still clip answering the challenge: %v %+v", ev.Reason, ev.Liveness)
	require.Eventually(t, func() bool { return lockoutAlerts() == 1 }, 10*time.Second, 20*time.Millisecond,
		"this gate's failure, the third at the site, raises the lockout alert")
	require.Equal(t, 3, saved())

	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle again")
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 2 }, 30*time.Second, 20*time.Millisecond, "the second decision")
	if ev := events()[1]; !slices.Equal(ev.Reason, []string{kiosk.ReasonLivenessLocked}) || ev.Liveness != nil {
		t.Fatalf("the next try: %s %v liveness %+v, want liveness_locked without a check", ev.Decision, ev.Reason, ev.Liveness)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "liveness failure at another gate counted towards the lockout") {
		t.Errorf("the daemon's log does not say it counted door2's failures:\n%s", r.logs.String())
	}
}
