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
		{"checker error, approved: still granted", LivenessResult{}, errLivenessUnavailable, approved(), "granted", false, livenessError, []string{"error"}},
		{"NaN score: recorded as unavailable", LivenessResult{Live: true, Score: math.NaN(), Method: "challenge"}, nil, approved(),
			"granted", false, livenessError, []string{"error"}},
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
		if !strings.Contains(scrape(t, r.k), `facegate_liveness_shadow_total{decision="granted",outcome="error"} 1`) {
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
		ev := r.events()[0]
		if ev.Decision != "denied" || !slices.Equal(ev.Reason, []string{ReasonLivenessUnavailable}) || r.relay.count() != 0 {
			t.Errorf("%s %v, %d pulses: want denied liveness_unavailable", ev.Decision, ev.Reason, r.relay.count())
		}
		if ev.Liveness == nil || ev.Liveness.Shadow || ev.Liveness.Method != LivenessChallenge {
			t.Errorf("event liveness %+v", ev.Liveness)
		}
	})
}

// Off and shadow both warn at start that a photo can open the gate; a
// mode that needs a checker the daemon lacks says so too.
func TestLivenessStartWarnings(t *testing.T) {
	const photo = "a photo or a phone screen of a worker can open this gate"
	const noChecker = "the daemon has no checker"
	for _, tc := range []struct {
		mode    string
		checker bool
		want    []string
		not     []string
	}{
		{LivenessOff, true, []string{"liveness is off", photo}, []string{noChecker}},
		{LivenessShadow, true, []string{"liveness is in shadow mode", photo}, []string{noChecker}},
		{LivenessShadow, false, []string{"liveness is in shadow mode", noChecker}, nil},
		{LivenessChallenge, true, nil, []string{photo, noChecker}},
		{LivenessChallenge, false, []string{noChecker}, []string{photo}},
	} {
		var logs bytes.Buffer
		cfg := testConfig(t)
		cfg.Policy.Liveness = tc.mode
		d := Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{},
			Broker: &fakeBroker{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		if tc.checker {
			d.Liveness = &fakeLiveness{}
		}
		if _, err := New(*cfg, d); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(logs.String(), w) {
				t.Errorf("mode %s (checker %v): start log lacks %q:\n%s", tc.mode, tc.checker, w, logs.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(logs.String(), w) {
				t.Errorf("mode %s (checker %v): start log has %q:\n%s", tc.mode, tc.checker, w, logs.String())
			}
		}
	}
}

// A reload that stops enforcing the check (to shadow or off) is a
// warning, like the same mode at start.
func TestLivenessReloadWarnings(t *testing.T) {
	var logs bytes.Buffer
	cfg := testConfig(t)
	cfg.Policy.Liveness = LivenessChallenge
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{},
		Broker: &fakeBroker{}, Liveness: &fakeLiveness{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		mode string
		want []string
	}{
		{LivenessShadow, []string{"liveness no longer enforced after the reload", "liveness is in shadow mode"}},
		{LivenessShadow, nil}, // unchanged: nothing new
		{LivenessOff, []string{"liveness is off"}},
		{LivenessChallenge, nil},
		{LivenessOff, []string{"liveness no longer enforced after the reload", "liveness is off"}},
	} {
		logs.Reset()
		next := *cfg
		next.Policy.Liveness = step.mode
		if err := k.Reload(next); err != nil {
			t.Fatal(err)
		}
		for _, w := range step.want {
			if !strings.Contains(logs.String(), w) {
				t.Errorf("reload to %s: log lacks %q:\n%s", step.mode, w, logs.String())
			}
		}
		if step.want == nil && strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("reload to %s: unexpected warning:\n%s", step.mode, logs.String())
		}
	}
}

// A reload during a session leaves it under the mode it started with: a
// challenge session reloaded to shadow still denies a photo (and counts
// it towards the lockout), a shadow session reloaded to challenge still
// only records.
func TestLivenessReloadMidSessionKeepsItsMode(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		decision string
		fails    int
	}{
		{LivenessChallenge, LivenessShadow, "denied", 1},
		{LivenessShadow, LivenessChallenge, "granted", 0},
	} {
		t.Run(tc.from+"->"+tc.to, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := shadowConfig(t)
				cfg.Policy.Liveness = tc.from
				lc := &fakeLiveness{res: padFail, delay: 2 * time.Second}
				r := livenessRig(t, cfg, lc)
				stop := r.start(t)
				if err := r.k.Identify(worker); err != nil {
					t.Fatal(err)
				}
				require.Eventually(t, func() bool { return r.k.Status().State == StateChallenge }, time.Minute, 10*time.Millisecond)
				next := *cfg
				next.Policy.Liveness = tc.to
				if err := r.k.Reload(next); err != nil {
					t.Fatal(err)
				}
				require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
				stop()
				ev := r.events()[0]
				if string(ev.Decision) != tc.decision || ev.Liveness == nil || ev.Liveness.Shadow != (tc.from == LivenessShadow) {
					t.Fatalf("%s %v liveness %+v: want %s as under %s", ev.Decision, ev.Reason, ev.Liveness, tc.decision, tc.from)
				}
				if got := len(r.k.pad.fails[lockoutKey(worker.SubmissionID)]); got != tc.fails {
					t.Errorf("%d lockout failures recorded, want %d", got, tc.fails)
				}
			})
		})
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

// A max_age too short for the check's window is a warning at start and
// at a reload (the age is taken again when the check ends).
func TestLivenessMaxAgeWarning(t *testing.T) {
	const want = "policy.max_age is shorter than a liveness check can take"
	for _, tc := range []struct {
		mode   string
		maxAge time.Duration
		warn   bool
	}{
		{LivenessChallenge, 5 * time.Second, false},
		{LivenessChallenge, 3 * time.Second, true},
		{LivenessShadow, 3 * time.Second, true},
		{LivenessOff, time.Second, false},
	} {
		var logs bytes.Buffer
		cfg := testConfig(t)
		cfg.Policy.Liveness, cfg.Policy.MaxAge = tc.mode, tc.maxAge
		k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{},
			Broker: &fakeBroker{}, Liveness: &fakeLiveness{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), want); got != tc.warn {
			t.Errorf("%s, max_age %s: warned %v, want %v", tc.mode, tc.maxAge, got, tc.warn)
		}
		if tc.mode == LivenessOff {
			continue
		}
		logs.Reset()
		next := *cfg
		next.Policy.MaxAge = 8*time.Second - tc.maxAge // 5 s <-> 3 s
		if err := k.Reload(next); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), want); got == tc.warn {
			t.Errorf("%s, reload to max_age %s: warned %v", tc.mode, next.Policy.MaxAge, got)
		}
	}
}
