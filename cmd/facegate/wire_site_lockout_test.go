package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

// TestRunSiteGateSharesTheLivenessLockout: with zones on, the daemon
// counts another gate's liveness failures (its events on the site's MQTT)
// towards its own lockout. Two photo failures at door2 and one here (a
// still clip cannot turn its head) lock worker-1 out at this gate, which
// raises the alert on its own failure and refuses the next try without a
// check. An operator's unlock over the daemon's HTTP, with the id copied
// from the event, gives the worker a checked try again.
func TestRunSiteGateSharesTheLivenessLockout(t *testing.T) {
	r := newRig(t, 0)
	const token = "unlock-open-token-0123456789"
	r.env["FACEGATE_OPEN_TOKEN"] = token
	yml := strings.Replace(r.cfgYAML, "  liveness: off # a still test clip cannot turn its head\n",
		"  liveness: challenge\n  liveness_lockout: {max: 3, per: 10m}\n", 1)
	require.NotEqual(t, r.cfgYAML, yml)
	yml = strings.Replace(yml, "kiosk:\n  listen: 127.0.0.1:0\n", "kiosk:\n  listen: 127.0.0.1:0\n  open:\n    enabled: true\n", 1)
	require.Contains(t, yml, "  open:\n    enabled: true\n")
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
	saved := func() int { return savedFailures(filepath.Join(filepath.Dir(r.cfgPath), "state"), "sub-worker-1") }
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

	// A gate that joins the site now missed the events; it learns this
	// gate's own failure from its retained failure list (door2's events
	// were published by hand, so no list of door2's holds them).
	late := startLockoutGateAt(t, r.broker.URL(), "test", "late")
	lateSaved := func() int { return savedFailures(late.cfg.StateDir, "sub-worker-1") }
	require.Eventually(t, func() bool { return lateSaved() == 1 }, 10*time.Second, 20*time.Millisecond,
		"the late gate learns door1's failure from its list")

	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle again")
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 2 }, 30*time.Second, 20*time.Millisecond, "the second decision")
	if ev := events()[1]; !slices.Equal(ev.Reason, []string{kiosk.ReasonLivenessLocked}) || ev.Liveness != nil {
		t.Fatalf("the next try: %s %v liveness %+v, want liveness_locked without a check", ev.Decision, ev.Reason, ev.Liveness)
	}

	// The unlock, by the id copied from the event (sha256:<hex>, the
	// default mqtt.submission_id: hash).
	require.True(t, strings.HasPrefix(events()[1].SubmissionID, "sha256:"), events()[1].SubmissionID)
	// Who is locked out, over the daemon's HTTP.
	listed := callDaemon(t, r, "GET", "/api/liveness/lockouts", token, "")
	var lockouts struct{ Lockouts []kiosk.LockedOut }
	require.NoError(t, json.Unmarshal(listed, &lockouts))
	require.Len(t, lockouts.Lockouts, 1, "%s", listed)
	require.Equal(t, events()[1].SubmissionID, lockouts.Lockouts[0].SubmissionID)
	require.Equal(t, 3, lockouts.Lockouts[0].Failures)

	body := `{"submission_id":"` + events()[1].SubmissionID + `","by":"site-office","reason":"checked in person"}`
	answer := callDaemon(t, r, "POST", "/api/liveness/unlock", token, body)
	var u struct {
		WasLocked bool   `json:"was_locked"`
		Cleared   int    `json:"failures_cleared"`
		Broadcast bool   `json:"broadcast"`
		Detail    string `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(answer, &u))
	require.True(t, u.WasLocked && u.Cleared == 3 && !u.Broadcast, "%s", answer)
	require.Contains(t, u.Detail, "site commands are off", "zones on, no command secret: this gate only")
	require.Equal(t, 0, saved())
	// The list is published again without the failure: a gate that joins
	// after the unlock does not count it.
	require.Eventually(t, func() bool {
		var l struct{ Failures map[string][]string }
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return json.Unmarshal(r.bl.lockout, &l) == nil && l.Failures != nil && len(l.Failures) == 0
	}, 10*time.Second, 20*time.Millisecond, "door1's list emptied by the unlock")
	later := startLockoutGateAt(t, r.broker.URL(), "test", "later")
	require.Eventually(t, later.b.Connected, 10*time.Second, 10*time.Millisecond, "the later gate connected")
	time.Sleep(time.Second) // its window on the retained lists
	require.Zero(t, savedFailures(later.cfg.StateDir, "sub-worker-1"), "a gate that joined after the unlock")
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle again")
	r.identify()
	require.Eventually(t, func() bool { return len(events()) == 3 }, 30*time.Second, 20*time.Millisecond, "the third decision")
	if ev := events()[2]; slices.Contains(ev.Reason, kiosk.ReasonLivenessLocked) || ev.Liveness == nil {
		t.Fatalf("after the unlock: %s %v liveness %+v, want a checked try", ev.Decision, ev.Reason, ev.Liveness)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit code %d\n%s", code, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "liveness failure at another gate counted towards the lockout") {
		t.Errorf("the daemon's log does not say it counted door2's failures:\n%s", r.logs.String())
	}
}

// callDaemon sends a request with the bearer token to the daemon's HTTP
// listener and returns the body of its 200 answer.
func callDaemon(t *testing.T, r *rig, method, path, token, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.d.addrString()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, answer)
	return answer
}

// lockoutGate is a site gate with a kiosk (that runs no session) and a
// broker client: enough for the site-wide lockout.
type lockoutGate struct {
	w   *siteWire
	b   *mqtt.Client
	k   *kiosk.Kiosk
	cfg *config.Config
}

func startLockoutGate(t *testing.T, url, gate string, extraYAML ...string) lockoutGate {
	t.Helper()
	return startLockoutGateAt(t, url, "plant", gate, extraYAML...)
}

// startLockoutGateAt is startLockoutGate at site.
func startLockoutGateAt(t *testing.T, url, site, gate string, extraYAML ...string) lockoutGate {
	t.Helper()
	yml := strings.Replace(strings.Replace(entranceYAML, "gate: north", "gate: "+gate, 1), "site: plant", "site: "+site, 1) +
		"policy:\n  liveness: challenge\n  liveness_lockout: {max: 3, per: 10m}\nmqtt:\n  enabled: true\n  urls: [\"" + url + "\"]\n" +
		strings.Join(extraYAML, "")
	cfg := siteTestConfig(t, yml)
	var k *kiosk.Kiosk
	w, b := runSiteWire(t, cfg, func(mo *mqtt.Options) {
		mo.ReconnectMin, mo.ReconnectMax = 50*time.Millisecond, 200*time.Millisecond
	}, func(w *siteWire, b *mqtt.Client) {
		var err error
		k, err = kiosk.New(kioskOptions(cfg), kiosk.Deps{Selector: nopSelector{}, Authenticator: nopAuth{}, Relay: nopRelay{},
			Publisher: &alertLog{}, Site: w, SiteBoard: w, LockoutSite: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		require.NoError(t, w.start(k, b))
	})
	return lockoutGate{w: w, b: b, k: k, cfg: cfg}
}

// savedFailures is how many failures of submission id the lockout file in
// stateDir holds (0 without a readable file).
func savedFailures(stateDir, id string) int {
	var f struct{ Failures map[string][]time.Time }
	b, err := os.ReadFile(filepath.Join(stateDir, "kiosk", "liveness-lockout.json"))
	if err != nil || json.Unmarshal(b, &f) != nil {
		return 0
	}
	return len(f.Failures[strings.TrimPrefix(record.PrivacyHash.Apply(id), "sha256:")])
}

// TestSiteLockoutCatchesUpAfterAnOutage: on mosquitto, a gate cut off
// from the broker while another gate counts two liveness failures gets
// them when it is back (its persistent session) and counts them.
func TestSiteLockoutCatchesUpAfterAnOutage(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	cut := newCutProxy(t, mq.Addr())
	north := startLockoutGate(t, mq.URL(), "north")
	east := startLockoutGate(t, cut.url(), "east")
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() }, 10*time.Second, 10*time.Millisecond, "connected")

	failure := func(seq int, at time.Time) record.Event {
		return record.Event{EventID: "north-fail-" + strconv.Itoa(seq), Seq: uint64(seq), TS: record.Timestamp(at), Site: "plant", Gate: "north",
			Decision: record.DecisionDenied, Reason: []string{kiosk.ReasonLivenessFailed}, SubmissionID: record.PrivacyHash.Apply("sub-x"),
			UserID: "u-x", Liveness: &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}}}
	}
	require.NoError(t, north.b.PublishEvent(failure(1, time.Now().Add(-time.Minute))))
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 1 }, 10*time.Second, 10*time.Millisecond, "east counts north's failure")

	cut.setCut(true)
	require.Eventually(t, func() bool { return !east.b.Connected() }, 10*time.Second, 10*time.Millisecond, "east notices the outage")
	require.NoError(t, north.b.PublishEvent(failure(2, time.Now())))
	require.Eventually(t, func() bool { return north.b.OutboxDepth() == 0 }, 10*time.Second, 10*time.Millisecond, "north's event on the broker")
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, savedFailures(east.cfg.StateDir, "sub-x"), "east is cut off: the test does not cut it off")
	cut.setCut(false)
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 2 }, 15*time.Second, 10*time.Millisecond,
		"east, back, counts the failure north published while it was away")
}

// TestSiteUnlockReachesEveryGate: on mosquitto, an operator's unlock at
// one gate (POST /api/liveness/unlock) clears the identity's failures at
// that gate and, through the signed cmd/unlock, at the other; a failure
// from before the unlock that reaches the other gate late is not counted
// again, a later one is.
func TestSiteUnlockReachesEveryGate(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const token = "unlock-token-0123456789abcdef"
	extra := []string{"  commands:\n    open:\n      secret: site-secret-0123456789\n", "kiosk:\n  open:\n    enabled: true\n    token: " + token + "\n"}
	north := startLockoutGate(t, mq.URL(), "north", extra...)
	east := startLockoutGate(t, mq.URL(), "east", extra...)
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() }, 10*time.Second, 10*time.Millisecond, "connected")
	require.True(t, north.b.SiteCommands() && east.b.SiteCommands())

	failure := func(seq int, at time.Time) record.Event {
		return record.Event{EventID: "north-fail-" + strconv.Itoa(seq), Seq: uint64(seq), TS: record.Timestamp(at), Site: "plant", Gate: "north",
			Decision: record.DecisionDenied, Reason: []string{kiosk.ReasonLivenessFailed}, SubmissionID: record.PrivacyHash.Apply("sub-x"),
			UserID: "u-x", Liveness: &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}}}
	}
	before := time.Now().Add(-2 * time.Minute)
	for i := range 3 {
		require.NoError(t, north.b.PublishEvent(failure(i+1, before.Add(time.Duration(i)*time.Second))))
	}
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 3 }, 10*time.Second, 10*time.Millisecond, "east counts north's failures")
	// The replay memory refuses commands signed before its first start.
	time.Sleep(1100 * time.Millisecond)

	rec := postUnlockAt(t, north, token, "sub-x")
	require.JSONEq(t, `{"status":"unlocked","was_locked":false,"failures_cleared":0,"broadcast":true,"listed":true}`, rec.Body.String(),
		"north's own memory never held its own events")
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 0 }, 10*time.Second, 10*time.Millisecond,
		"east cleared the failures on north's unlock")

	require.NoError(t, north.b.PublishEvent(failure(9, before.Add(10*time.Second))))
	require.NoError(t, north.b.PublishEvent(failure(10, time.Now().Add(2*time.Second))))
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 1 }, 10*time.Second, 10*time.Millisecond, "the failure after the unlock counts")
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 1, savedFailures(east.cfg.StateDir, "sub-x"), "the one from before the unlock does not")
}

// postUnlockAt posts an unlock of submission id sub to gate g's kiosk
// and returns its 200 answer.
func postUnlockAt(t *testing.T, g lockoutGate, token, sub string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/liveness/unlock", strings.NewReader(`{"submission_id":"`+sub+`","by":"site-office","reason":"checked in person"}`))
	req.RemoteAddr, req.Host = "127.0.0.1:4000", "127.0.0.1"
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	g.k.Handler().ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code, "%s", rec.Body)
	return rec
}

// unlockAt is postUnlockAt's answer, decoded.
func unlockAt(t *testing.T, g lockoutGate, token, sub string) kiosk.Unlocked {
	t.Helper()
	rec := postUnlockAt(t, g, token, sub)
	var u kiosk.Unlocked
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &u))
	return u
}

// TestSiteUnlockReachesAGateThatWasAway: on mosquitto, a gate away from
// the broker for longer than max_skew while another gate unlocked an
// identity refuses the command its session kept (stale), and clears the
// failures all the same from that gate's retained unlock list once back;
// an unlock made while the unlocking gate itself was away reaches the
// others from its list once it is back.
func TestSiteUnlockReachesAGateThatWasAway(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	const token = "unlock-token-0123456789abcdef"
	extra := []string{"  commands:\n    open:\n      secret: site-secret-0123456789\n      max_skew: 1s\n", "kiosk:\n  open:\n    enabled: true\n    token: " + token + "\n"}
	northCut, eastCut := newCutProxy(t, mq.Addr()), newCutProxy(t, mq.Addr())
	north := startLockoutGate(t, northCut.url(), "north", extra...)
	east := startLockoutGate(t, eastCut.url(), "east", extra...)
	require.Eventually(t, func() bool { return north.b.Connected() && east.b.Connected() }, 10*time.Second, 10*time.Millisecond, "connected")

	failure := func(seq int, sub string, at time.Time) record.Event {
		return record.Event{EventID: "north-fail-" + strconv.Itoa(seq), Seq: uint64(seq), TS: record.Timestamp(at), Site: "plant", Gate: "north",
			Decision: record.DecisionDenied, Reason: []string{kiosk.ReasonLivenessFailed}, SubmissionID: record.PrivacyHash.Apply(sub),
			UserID: "u-" + sub, Liveness: &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}}}
	}
	before := time.Now().Add(-2 * time.Minute)
	for i := range 6 {
		sub := []string{"sub-x", "sub-y"}[i%2]
		require.NoError(t, north.b.PublishEvent(failure(i+1, sub, before.Add(time.Duration(i)*time.Second))))
	}
	require.Eventually(t, func() bool {
		return savedFailures(east.cfg.StateDir, "sub-x") == 3 && savedFailures(east.cfg.StateDir, "sub-y") == 3
	}, 10*time.Second, 10*time.Millisecond, "east counts north's failures")
	time.Sleep(1100 * time.Millisecond) // the replay memory refuses commands signed before its first start

	// East away for longer than max_skew while north unlocks sub-x.
	eastCut.setCut(true)
	require.Eventually(t, func() bool { return !east.b.Connected() }, 10*time.Second, 10*time.Millisecond, "east notices the outage")
	u := unlockAt(t, north, token, "sub-x")
	require.True(t, u.Broadcast && u.Listed, "%+v", u)
	time.Sleep(2500 * time.Millisecond)
	eastCut.setCut(false)
	require.Eventually(t, func() bool { return savedFailures(east.cfg.StateDir, "sub-x") == 0 }, 15*time.Second, 10*time.Millisecond,
		"east, back, clears sub-x from north's unlock list")
	require.Equal(t, 3, savedFailures(east.cfg.StateDir, "sub-y"))

	// North away while it unlocks sub-y: signed for its list only.
	northCut.setCut(true)
	require.Eventually(t, func() bool { return !north.b.Connected() }, 10*time.Second, 10*time.Millisecond, "north notices the outage")
	u = unlockAt(t, north, token, "sub-y")
	require.True(t, !u.Broadcast && u.Listed, "%+v", u)
	require.Contains(t, u.Detail, "they learn it from this gate's unlock list")
	northCut.setCut(false)
	require.Eventually(t, north.b.Connected, 10*time.Second, 10*time.Millisecond, "north back")
	// East reads the lists for a window after each connect, and at each
	// resync: reconnected until it has read north's list as published on
	// north's connect.
	require.Eventually(t, func() bool {
		if savedFailures(east.cfg.StateDir, "sub-y") == 0 {
			return true
		}
		eastCut.setCut(true)
		for end := time.Now().Add(5 * time.Second); east.b.Connected() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		eastCut.setCut(false)
		for end := time.Now().Add(5 * time.Second); !east.b.Connected() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		return savedFailures(east.cfg.StateDir, "sub-y") == 0
	}, 30*time.Second, 10*time.Millisecond, "east clears sub-y from north's unlock list")

	rec := httptest.NewRecorder()
	east.k.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Contains(t, rec.Body.String(), `facegate_liveness_unlocks_total{source="site_list"} 2`, "each applied once, however often read")
}
