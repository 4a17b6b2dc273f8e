//go:build go1.25

package kiosk

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
)

func shadowConfig(t *testing.T) *Options {
	cfg := testConfig(t)
	cfg.Policy.Attempts.Max = 0
	cfg.Policy.Liveness = LivenessShadow
	cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per = 3, 10*time.Minute
	return cfg
}

// TestLivenessShadowRecordsButNeverDecides: in shadow mode the worker sees
// the same challenge, the verdict reaches the event and its own counter,
// and the decision is the API's, whatever the check said.
func TestLivenessShadowRecordsButNeverDecides(t *testing.T) {
	tests := []struct {
		name     string
		res      LivenessResult
		err      error
		apiRes   *faceauth.Result
		decision string
		live     bool
		outcome  string // facegate_liveness_shadow_total's outcome label
		reasons  []string
	}{
		{"live and approved", livePass, nil, approved(), "granted", true, livenessLive, []string{}},
		{"a photo, approved: still granted", padFail, nil, approved(), "granted", false, livenessFailed, []string{"planar_motion"}},
		{"no turn, approved: still granted", LivenessResult{Score: 0.3, Method: "challenge", Reasons: []string{"wrong_direction"}, NoTurn: true}, nil, approved(),
			"granted", false, livenessFailed, []string{"wrong_direction"}},
		{"cannot run, approved: still granted", LivenessResult{Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true}, nil, approved(),
			"granted", false, livenessUnavailable, []string{"face_lost"}},
		{"checker error, approved: still granted", LivenessResult{}, errLivenessUnavailable, approved(), "granted", false, livenessUnavailable, []string{"error"}},
		{"NaN score: recorded as unavailable", LivenessResult{Live: true, Score: math.NaN(), Method: "challenge"}, nil, approved(),
			"granted", false, livenessUnavailable, []string{"error"}},
		{"live but rejected by the API: denied", livePass, nil, rejected(faceauth.FailFaceCompare), "denied", true, livenessLive, []string{}},
		{"a photo rejected by the API: denied for the API's reason", padFail, nil, rejected(faceauth.FailFaceCompare), "denied", false, livenessFailed, []string{"planar_motion"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lc := &fakeLiveness{res: tc.res, err: tc.err, delay: 1200 * time.Millisecond}
				r := livenessRig(t, shadowConfig(t), lc)
				r.auth.res = tc.apiRes
				stop := r.start(t)
				r.identify(t, worker, 1)
				stop()
				ev := r.events()[0]
				if string(ev.Decision) != tc.decision || slices.ContainsFunc(ev.Reason, func(c string) bool { return strings.HasPrefix(c, "liveness_") }) {
					t.Fatalf("decision %s %v, want %s for the API's reason", ev.Decision, ev.Reason, tc.decision)
				}
				if want := map[string]int{"granted": 1}[tc.decision]; r.relay.count() != want {
					t.Errorf("relay pulses %d, want %d", r.relay.count(), want)
				}
				l := ev.Liveness
				if l == nil || !l.Shadow || l.Method != LivenessChallenge || l.Live != tc.live ||
					!slices.Equal(l.Reasons, tc.reasons) {
					t.Fatalf("event liveness %+v, want shadow challenge live=%v reasons %v", l, tc.live, tc.reasons)
				}
				// The worker answered the real challenge.
				if len(lc.reqs) != 1 || lc.reqs[0].Mode != LivenessChallenge || lc.reqs[0].Challenge != "left" {
					t.Errorf("requests %+v", lc.reqs)
				}
				if len(lc.states) != 1 || lc.states[0].State != StateChallenge {
					t.Errorf("status during the check: %+v", lc.states)
				}
				m := scrape(t, r.k)
				want := `facegate_liveness_shadow_total{decision="` + tc.decision + `",outcome="` + tc.outcome + `"} 1`
				if !strings.Contains(m, want) {
					t.Errorf("scrape lacks %s", want)
				}
				for _, o := range []string{livenessLive, livenessFailed, livenessUnavailable, livenessLocked} {
					if s := `facegate_liveness_total{outcome="` + o + `"} 0`; !strings.Contains(m, s) {
						t.Errorf("an enforced-check counter moved in shadow mode: want %s", s)
					}
				}
			})
		})
	}
}

// TestLivenessShadowNeverLocksOut: failures in shadow mode are not
// counted towards the lockout (nothing is written, nobody is alerted),
// and an identity already locked out under challenge is not refused.
func TestLivenessShadowNeverLocksOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := shadowConfig(t)
		lc := &fakeLiveness{res: padFail, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		for range 3 { // locked out under challenge before the trial
			if _, err := r.k.pad.fail(worker.SubmissionID, r.k.now(), 3, 10*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		before, err := os.ReadFile(lockoutPath(cfg))
		if err != nil {
			t.Fatal(err)
		}
		stop := r.start(t)
		for i := 1; i <= 5; i++ {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		stop()
		for i, ev := range r.events() {
			if ev.Decision != "granted" || ev.Liveness == nil || ev.Liveness.Live || !ev.Liveness.Shadow {
				t.Errorf("session %d: %s %v liveness %+v", i+1, ev.Decision, ev.Reason, ev.Liveness)
			}
		}
		if len(lc.reqs) != 5 {
			t.Errorf("%d checks, want 5 (shadow never skips one for a lockout)", len(lc.reqs))
		}
		if n := countAlerts(r, AlertLivenessLockout); n != 0 {
			t.Errorf("%d lockout alerts in shadow mode", n)
		}
		after, err := os.ReadFile(lockoutPath(cfg))
		if err != nil || !bytes.Equal(before, after) {
			t.Errorf("lockout file changed in shadow mode (%v)", err)
		}
	})
}

// Shadow mode with no checker (a reload from off): the API decides, the
// event says the check could not run.
func TestLivenessShadowWithoutACheckerGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, shadowConfig(t)) // no Deps.Liveness
		stop := r.start(t)
		r.identify(t, worker, 1)
		stop()
		ev := r.events()[0]
		if ev.Decision != "granted" || r.relay.count() != 1 || ev.Liveness == nil || !ev.Liveness.Shadow || ev.Liveness.Live ||
			!slices.Equal(ev.Liveness.Reasons, []string{"error"}) {
			t.Fatalf("%s %v, %d pulses, liveness %+v: want granted, the check recorded as not run", ev.Decision, ev.Reason, r.relay.count(), ev.Liveness)
		}
		if !strings.Contains(scrape(t, r.k), `facegate_liveness_shadow_total{decision="granted",outcome="unavailable"} 1`) {
			t.Error("shadow counter not moved")
		}
	})
}

// The enforced mode without a checker denies without calling the API (a
// call whose answer cannot change the denial).
func TestLivenessOnWithoutACheckerSkipsTheAPI(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Liveness = LivenessChallenge
		r := newRig(t, cfg)
		stop := r.start(t)
		r.identify(t, worker, 1)
		stop()
		r.auth.mu.Lock()
		calls := len(r.auth.reqs)
		r.auth.mu.Unlock()
		if calls != 0 {
			t.Errorf("%d API calls for a session the missing checker denies", calls)
		}
		if ev := r.events()[0]; ev.Liveness == nil || ev.Liveness.Shadow || ev.Liveness.Method != LivenessChallenge {
			t.Errorf("event liveness %+v", ev.Liveness)
		}
	})
}

// Off and shadow both warn at start that a photo can open the gate.
func TestLivenessStartWarnings(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{LivenessOff, "liveness is off"},
		{LivenessShadow, "liveness is in shadow mode"},
		{LivenessChallenge, ""},
	} {
		var logs bytes.Buffer
		cfg := testConfig(t)
		cfg.Policy.Liveness = tc.mode
		_, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{},
			Broker: &fakeBroker{}, Liveness: &fakeLiveness{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(logs.String(), "a photo or a phone screen of a worker can open this gate")
		if got != (tc.want != "") || tc.want != "" && !strings.Contains(logs.String(), tc.want) {
			t.Errorf("mode %s: start log %q, want %q", tc.mode, logs.String(), tc.want)
		}
	}
}

// TestLivenessSlowCheckCannotOpenOnAStaleApproval: the API's approval was
// fresh when it came, but the gate opens only once the check is done; a
// check that outlasts policy.max_age must not open on it, and a check
// whose camera delivers nothing ends at livenessTimeout.
func TestLivenessSlowCheckCannotOpenOnAStaleApproval(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		delay    time.Duration
		reason   string
		liveness string // the recorded check's reason
	}{
		{LivenessChallenge, 8 * time.Second, ReasonStaleApproval, ""},
		{LivenessShadow, 8 * time.Second, ReasonStaleApproval, ""},
		{LivenessChallenge, time.Minute, ReasonLivenessUnavailable, "error"},
		{LivenessShadow, time.Minute, ReasonStaleApproval, "error"},
	} {
		t.Run(tc.mode+"/"+tc.delay.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := shadowConfig(t)
				cfg.Policy.Liveness = tc.mode
				cfg.Policy.MaxAge = 5 * time.Second
				lc := &fakeLiveness{res: livePass, delay: tc.delay}
				r := livenessRig(t, cfg, lc)
				stop := r.start(t)
				r.identify(t, worker, 1)
				stop()
				ev := r.events()[0]
				if ev.Decision != "denied" || !slices.Equal(ev.Reason, []string{tc.reason}) || r.relay.count() != 0 {
					t.Fatalf("%s %v, %d pulses: want denied %s", ev.Decision, ev.Reason, r.relay.count(), tc.reason)
				}
				if ev.Auth == nil {
					t.Error("the API's answer is missing from the event")
				}
				if tc.liveness != "" && (ev.Liveness == nil || !slices.Contains(ev.Liveness.Reasons, tc.liveness)) {
					t.Errorf("liveness %+v, want reason %s", ev.Liveness, tc.liveness)
				}
				// 600 ms selection, then the check, cut at livenessTimeout.
				if want := 600 + min(tc.delay, livenessTimeout).Milliseconds(); ev.LatencyMS.Total != want {
					t.Errorf("session %d ms, want %d", ev.LatencyMS.Total, want)
				}
			})
		})
	}
}
