//go:build go1.25

package kiosk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// fakeLiveness answers every check with res (or err) after delay and
// records the requests and the kiosk state seen while it runs.
type fakeLiveness struct {
	mu     sync.Mutex
	res    LivenessResult
	err    error
	delay  time.Duration
	reqs   []LivenessRequest
	states []Status
	k      *Kiosk
}

func (f *fakeLiveness) CheckLiveness(ctx context.Context, req LivenessRequest) (LivenessResult, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	res, err, d, k := f.res, f.err, f.delay, f.k
	f.mu.Unlock()
	if err := sleepCtx(ctx, d/2); err != nil {
		return LivenessResult{}, err
	}
	if k != nil {
		f.mu.Lock()
		f.states = append(f.states, k.Status())
		f.mu.Unlock()
	}
	if err := sleepCtx(ctx, d-d/2); err != nil {
		return LivenessResult{}, err
	}
	return res, err
}

func livenessRig(t *testing.T, cfg *Options, lc *fakeLiveness) *rig {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t)
		cfg.Policy.Liveness = LivenessChallenge // off by default
	}
	r := &rig{cfg: cfg, sel: &fakeSelector{window: 600 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 800 * time.Millisecond},
		relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
	k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk,
		Liveness: lc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k.pad.pick = func() string { return "left" }
	lc.k = k
	r.k = k
	return r
}

var livePass = LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{}}

func TestLivenessDecisions(t *testing.T) {
	tests := []struct {
		name     string
		res      LivenessResult
		err      error
		apiRes   *faceauth.Result
		decision string
		reason   string
		message  string
		relay    int
	}{
		{"live and approved opens", livePass, nil, approved(), "granted", ReasonApproved, "Welcome", 1},
		{"photo denied though the API approved", LivenessResult{Score: 0.2, Method: "challenge", Reasons: []string{"planar_motion"}}, nil, approved(),
			"denied", ReasonLivenessFailed, "Photo or screen detected", 0},
		{"a challenge begun on another face than the chosen one is an attack", LivenessResult{Method: "challenge", Reasons: []string{"face_changed"}}, nil, approved(),
			"denied", ReasonLivenessFailed, "Photo or screen detected", 0},
		{"no turn denied", LivenessResult{Score: 0.3, Method: "challenge", Reasons: []string{"wrong_direction"}, NoTurn: true}, nil, approved(),
			"denied", ReasonLivenessNoTurn, "Please turn your head as shown", 0},
		{"check that cannot run denies", LivenessResult{Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"a blurred start asks the worker to hold still", LivenessResult{Method: "challenge", Reasons: []string{"blurred_start"}, Unavailable: true, MovedEarly: true}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Hold still, then turn your head as shown", 0},
		{"a face gone from where it was chosen asks the worker to stay in view", LivenessResult{Method: "challenge", Reasons: []string{"no_face"}, Unavailable: true, FaceAway: true}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Stay in front of the camera, then turn your head as shown", 0},
		{"checker error denies", LivenessResult{}, errLivenessUnavailable, approved(), "denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"live but rejected by the API stays rejected", livePass, nil, rejected(faceauth.FailFaceCompare), "denied", "", "", 0},
		// An unknown score is no pass (and NaN could not be recorded).
		{"live with a NaN score denies", LivenessResult{Live: true, Score: math.NaN(), Method: "challenge"}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"live with a score above 1 denies", LivenessResult{Live: true, Score: 1.5, Method: "challenge"}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		// A live flag beside anything that refuses is the checker's bug:
		// the gate does not open on the flag alone.
		{"live with a refusal reason denies", LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{"planar_motion"}}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"live with a failing score denies", LivenessResult{Live: true, Score: 0.1, Method: "challenge", Reasons: []string{}}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"live with no turn denies", LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{}, NoTurn: true}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
		{"live with the face away denies", LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{}, FaceAway: true}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Stay in front of the camera, then turn your head as shown", 0},
		{"a passive pass for a challenge denies", LivenessResult{Live: true, Score: 0.9, Method: "passive", Reasons: []string{}}, nil, approved(),
			"denied", ReasonLivenessUnavailable, "Please turn your head as shown", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lc := &fakeLiveness{res: tc.res, err: tc.err, delay: 1200 * time.Millisecond}
				r := livenessRig(t, nil, lc)
				r.auth.res = tc.apiRes
				stop := r.start(t)
				r.identify(t, worker, 1)
				stop()
				ev := r.events()[0]
				if string(ev.Decision) != tc.decision || (tc.reason != "" && !slices.Equal(ev.Reason, []string{tc.reason})) {
					t.Fatalf("decision %s %v, want %s %s", ev.Decision, ev.Reason, tc.decision, tc.reason)
				}
				if tc.message != "" && ev.Message != tc.message {
					t.Errorf("message %q, want %q", ev.Message, tc.message)
				}
				if got := r.relay.count(); got != tc.relay {
					t.Errorf("relay pulses %d, want %d", got, tc.relay)
				}
				wantLive := tc.relay == 1 || (tc.err == nil && tc.res.Live && tc.reason == "")
				if ev.Liveness == nil || ev.Liveness.Live != wantLive || (ev.Liveness.Method != "challenge" && ev.Liveness.Method != tc.res.Method) {
					t.Fatalf("event liveness %+v", ev.Liveness)
				}
				// The check judges its start against the chosen face's
				// sharpness and texture.
				if len(lc.reqs) != 1 || lc.reqs[0].Challenge != "left" || lc.reqs[0].Mode != LivenessChallenge || lc.reqs[0].Box.Empty() ||
					lc.reqs[0].Detail != fakeDetail || !slices.Equal(lc.reqs[0].Signature, fakeSignature) {
					t.Errorf("requests %+v", lc.reqs)
				}
			})
		})
	}
}

// TestLivenessEventCarriesTheTurn: the event records how far the head
// had turned the asked way when a challenge that ran decided (a turn of
// 0 too), so that a shadow trial's report can count the workers who turn
// too little, and Prometheus observes it by measure and mode; a turn
// that is not a number, a check that could not run or failed as
// software, and a passive check record none. The same under challenge
// and shadow.
func TestLivenessEventCarriesTheTurn(t *testing.T) {
	yaw := func(v float64) *float64 { return &v }
	tests := []struct {
		name      string
		res       LivenessResult
		err       error
		want      *float64
		landmarks bool
	}{
		{"a turn measured by landmarks", LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{}, Yaw: yaw(0.081), Landmarks: true}, nil, yaw(0.081), true},
		{"a small turn by tracked points", LivenessResult{Score: 0.3, Method: "challenge", Reasons: []string{"no_response"}, NoTurn: true, Yaw: yaw(0.012)}, nil, yaw(0.012), false},
		{"no turn at all, measured", LivenessResult{Score: 0.3, Method: "challenge", Reasons: []string{"no_response"}, NoTurn: true, Yaw: yaw(0)}, nil, yaw(0), false},
		{"no turn measured", LivenessResult{Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true}, nil, nil, false},
		{"a check that could not run", LivenessResult{Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true, Yaw: yaw(0.05)}, nil, nil, false},
		{"a turn that is no number", LivenessResult{Live: true, Score: 0.9, Method: "challenge", Reasons: []string{}, Yaw: yaw(math.NaN())}, nil, nil, false},
		{"a score that is no number (recorded as an error)", LivenessResult{Live: true, Score: math.NaN(), Method: "challenge", Reasons: []string{}, Yaw: yaw(0.05)}, nil, nil, false},
		{"a passive check", LivenessResult{Live: true, Score: 0.9, Method: "passive", Reasons: []string{}, Yaw: yaw(0.05)}, nil, nil, false},
		{"a checker error", LivenessResult{Yaw: yaw(0.05)}, errLivenessUnavailable, nil, false},
	}
	for _, tc := range tests {
		for _, mode := range []string{LivenessChallenge, LivenessShadow} {
			t.Run(tc.name+", "+mode, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					lc := &fakeLiveness{res: tc.res, err: tc.err, delay: 1200 * time.Millisecond}
					var cfg *Options
					if mode == LivenessShadow {
						cfg = shadowConfig(t)
					}
					r := livenessRig(t, cfg, lc)
					r.auth.res = approved()
					stop := r.start(t)
					r.identify(t, worker, 1)
					stop()
					l := r.events()[0].Liveness
					require.NotNil(t, l)
					assert.Equal(t, tc.want, l.Yaw)
					assert.Equal(t, tc.landmarks, l.Landmarks)
					b, err := json.Marshal(l)
					require.NoError(t, err)
					assert.Equal(t, tc.want != nil, strings.Contains(string(b), `"yaw":`), "%s", b)
					// Prometheus: one observation of the recorded turn, by measure and mode.
					m := scrape(t, r.k)
					for _, measure := range []string{"landmarks", "tracked"} {
						for _, m2 := range []string{LivenessChallenge, LivenessShadow} {
							n := 0
							if tc.want != nil && tc.landmarks == (measure == "landmarks") && m2 == mode {
								n = 1
							}
							assert.Contains(t, m, fmt.Sprintf(`facegate_liveness_turn_face_widths_count{measure=%q,mode=%q} %d`, measure, m2, n))
						}
					}
					if tc.want != nil {
						assert.Contains(t, m, fmt.Sprintf(`facegate_liveness_turn_face_widths_sum{measure=%q,mode=%q} %g`, map[bool]string{true: "landmarks", false: "tracked"}[tc.landmarks], mode, *tc.want))
					}
				})
			})
		}
	}
}

// TestLivenessOverlapsTheAPICall: the challenge is on the screen while the
// API works, and the session takes max(API, challenge), not their sum.
func TestLivenessOverlapsTheAPICall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := &fakeLiveness{res: livePass, delay: 1200 * time.Millisecond}
		r := livenessRig(t, nil, lc)
		stop := r.start(t)
		r.identify(t, worker, 1)
		stop()
		ev := r.events()[0]
		// 600 ms window, then API 800 ms and challenge 1200 ms side by side.
		if ev.LatencyMS.Total != 1800 {
			t.Errorf("total %d ms, want 1800 (600 selection + max(800, 1200))", ev.LatencyMS.Total)
		}
		if len(lc.states) != 1 || lc.states[0].State != StateChallenge || lc.states[0].Challenge != "left" ||
			lc.states[0].Message != "Turn your head a little to the left" {
			t.Fatalf("status during the check: %+v", lc.states)
		}
		if st := r.k.Status(); st.Challenge != "" {
			t.Errorf("challenge %q left on the status after the session", st.Challenge)
		}
		if ev.Liveness == nil || !ev.Liveness.Live || ev.Liveness.Score != 0.9 {
			t.Errorf("event liveness %+v", ev.Liveness)
		}
	})
}

// TestLivenessFailureCountsBeforeTheAPIAnswers: a failed check is counted
// and saved when its verdict arrives, not after the API's answer; a
// session ended in between (a stop here; kill -9 or a power cut at a
// site) still records the failure, and its event says why it was denied
// (the attempt was free, and the event said only "shutdown").
func TestLivenessFailureCountsBeforeTheAPIAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lc := &fakeLiveness{res: LivenessResult{Score: 0.2, Method: "challenge", Reasons: []string{"planar_motion"}}, delay: 1200 * time.Millisecond}
		r := livenessRig(t, nil, lc)
		r.auth.block = true // the API has not answered when the session ends
		stop := r.start(t)
		r.k.Identify(worker)
		time.Sleep(600*time.Millisecond + 1500*time.Millisecond) // the selection, then the check's verdict
		synctest.Wait()
		saved, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "kiosk", lockoutFileName))
		require.NoError(t, err, "the failure is saved while the API call runs")
		f, err := parseLockout(saved)
		require.NoError(t, err)
		require.Len(t, f.Failures[lockoutKey(worker.SubmissionID)], 1)
		stop()
		evs := r.events()
		require.Len(t, evs, 1)
		require.Equal(t, []string{ReasonLivenessFailed}, evs[0].Reason)
		require.NotNil(t, evs[0].Liveness)
		require.Equal(t, []string{"planar_motion"}, evs[0].Liveness.Reasons)
		require.Zero(t, r.relay.count())
	})
}

// TestUndecidedChallengeAsksTheSameWay: a check that could not run (the
// face taken away: not counted towards the lockout) leaves the next
// challenge of that identity asking the same way; a check that decided
// lets it be drawn anew. A replay that turns one way, pulled away
// whenever the arrow asked the other, was tried again until it matched.
func TestUndecidedChallengeAsksTheSameWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Attempts.Max = 0
		cfg.Policy.Liveness = LivenessChallenge
		lost := LivenessResult{Score: 0, Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true, FaceAway: true}
		lc := &fakeLiveness{res: lost, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		r.k.pad.pick = alternate()
		stop := r.start(t)
		session := func(i int, res LivenessResult) {
			lc.mu.Lock()
			lc.res = res
			lc.mu.Unlock()
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		session(1, lost)
		session(2, lost)
		session(3, LivenessResult{Score: 0.1, Method: "challenge", Reasons: []string{"wrong_direction"}})
		session(4, lost)
		stop()
		var asked []string
		for _, q := range lc.reqs {
			asked = append(asked, q.Challenge)
		}
		require.Equal(t, []string{"left", "left", "left", "right"}, asked,
			"the same way after each face_lost, drawn anew after the counted failure")
		require.Equal(t, []string{ReasonLivenessUnavailable}, r.events()[1].Reason)
	})
}

// TestLivenessLockout: the third failure within the window alerts; the
// fourth session is denied without a check; after the window it runs again.
func TestLivenessLockout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Attempts.Max = 0
		cfg.Policy.Liveness = LivenessChallenge
		cfg.Policy.LivenessLockout.Max, cfg.Policy.LivenessLockout.Per = 3, 10*time.Minute
		lc := &fakeLiveness{res: LivenessResult{Score: 0.1, Method: "challenge", Reasons: []string{"planar_motion"}}, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		stop := r.start(t)
		for i := 1; i <= 4; i++ {
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		_, _, alerts := r.pub.snapshot()
		evs := r.events()
		if got := evs[3].Reason; !slices.Equal(got, []string{ReasonLivenessLocked}) {
			t.Fatalf("fourth session %v, want liveness_locked", got)
		}
		if len(lc.reqs) != 3 {
			t.Errorf("%d checks, want 3 (the locked session runs none)", len(lc.reqs))
		}
		n := 0
		for _, a := range alerts {
			if a.Code == AlertLivenessLockout {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lockout alerts, want 1: %+v", n, alerts)
		}
		time.Sleep(11 * time.Minute)
		lc.mu.Lock()
		lc.res = livePass
		lc.mu.Unlock()
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		r.identify(t, worker, 5)
		stop()
		if got := r.events()[4]; got.Decision != "granted" {
			t.Errorf("after the lockout window: %s %v", got.Decision, got.Reason)
		}
	})
}

func TestLivenessOffOrAbsentIsTheOldSession(t *testing.T) {
	for _, mode := range []string{LivenessOff, ""} {
		synctest.Test(t, func(t *testing.T) {
			cfg := testConfig(t)
			lc := &fakeLiveness{res: LivenessResult{Reasons: []string{"planar_motion"}}, delay: time.Second}
			var r *rig
			if mode == "" {
				r = newRig(t, cfg) // no checker at all
			} else {
				cfg.Policy.Liveness = mode
				r = livenessRig(t, cfg, lc)
			}
			stop := r.start(t)
			r.identify(t, worker, 1)
			stop()
			ev := r.events()[0]
			if ev.Decision != "granted" || ev.Liveness != nil || len(lc.reqs) != 0 {
				t.Errorf("mode %q: %s %v liveness %+v checks %d", mode, ev.Decision, ev.Reason, ev.Liveness, len(lc.reqs))
			}
		})
	}
}

func TestPadStateWindow(t *testing.T) {
	var p padState
	fail := func(id string, now time.Time, max int, per time.Duration) bool {
		t.Helper()
		locked, err := p.fail(id, now, max, per)
		if err != nil {
			t.Fatalf("fail without a file: %v", err)
		}
		return locked
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if fail("a", t0, 2, time.Minute) || p.locked("a", t0, 2, time.Minute) {
		t.Fatal("one failure of two locks")
	}
	if !fail("a", t0.Add(30*time.Second), 2, time.Minute) || !p.locked("a", t0.Add(31*time.Second), 2, time.Minute) {
		t.Fatal("two failures within a minute do not lock")
	}
	if p.locked("a", t0.Add(2*time.Minute), 2, time.Minute) || p.locked("b", t0, 2, time.Minute) {
		t.Fatal("lock outlives its window or spreads to another identity")
	}
	if fail("", t0, 1, time.Minute) || fail("a", t0, 0, time.Minute) {
		t.Fatal("no identity or max 0 must never lock")
	}
}

// Liveness asked for with no checker (a reload turned it on; the daemon
// builds the checker at start) denies: a check that cannot run is never
// skipped.
func TestLivenessOnWithoutACheckerDenies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Liveness = LivenessChallenge
		r := newRig(t, cfg) // no Deps.Liveness
		stop := r.start(t)
		r.identify(t, worker, 1)
		stop()
		ev := r.events()[0]
		if ev.Decision != "denied" || !slices.Equal(ev.Reason, []string{ReasonLivenessUnavailable}) || r.relay.count() != 0 {
			t.Fatalf("%s %v, %d pulses: want denied liveness_unavailable", ev.Decision, ev.Reason, r.relay.count())
		}
	})
}

// meterLiveness is a checker that reports a scripted turn to the kiosk's
// meter, one script per check, then passes. From the second check on it
// first reports to the previous check's meter (a checker that calls
// OnTurn after its check returned: the kiosk must ignore it).
type meterLiveness struct {
	scripts [][]meterStep
	calls   int
	prev    func(yaw, need float64)
}

type meterStep struct {
	after     time.Duration // since the previous step
	yaw, need float64
}

func (m *meterLiveness) CheckLiveness(ctx context.Context, req LivenessRequest) (LivenessResult, error) {
	if m.prev != nil {
		m.prev(0.06, 0.035) // 0.85 of the meter, on the screen of another check
	}
	m.prev = req.OnTurn
	script := m.scripts[m.calls]
	m.calls++
	for _, s := range script {
		if err := sleepCtx(ctx, s.after); err != nil {
			return LivenessResult{}, err
		}
		req.OnTurn(s.yaw, s.need)
	}
	return livePass, nil
}

// TestChallengeMeterFollowsTheTurn: while the challenge is on the screen
// the page gets how far the head has turned the asked way, as a share of
// the meter (full at twice the check's need, rounded down to twentieths),
// at most every 100 ms; a turn the other way reads 0, a turn or a need
// that is no number is not shown, and a call for an earlier check is
// ignored.
func TestChallengeMeterFollowsTheTurn(t *testing.T) {
	ms := time.Millisecond
	first := []meterStep{
		{0, 0, 0.035},                 // the start: 0
		{33 * ms, 0.001, 0.035},       // still 0: not sent again
		{33 * ms, 0.01, 0.035},        // 0.1, 66 ms after the last: held back
		{67 * ms, 0.0133, 0.035},      // 0.19 of the meter: 0.15
		{33 * ms, -0.02, 0.035},       // the other way reads 0: held back
		{100 * ms, -0.02, 0.035},      // 0
		{34 * ms, math.NaN(), 0.035},  // no number: not shown
		{100 * ms, 0.0532, 0.035},     // 0.75
		{50 * ms, 0.08, 0.035},        // full, but 50 ms after the last: held back
		{60 * ms, 0.08, 0.035},        // 1
		{100 * ms, 0.069, 0.035},      // just short of full: 0.95
		{100 * ms, 0.01, 0},           // no need: not shown
		{100 * ms, 0.01, math.Inf(1)}, // not shown
		{100 * ms, 0.02, 0.02},        // tracked points: 0.5
		{1000 * ms, 0.0532, 0.035},    // 0.75 once more
	}
	second := []meterStep{{100 * ms, 0.02, 0.02}} // 0.5
	want := [][]float64{{0, 0.15, 0, 0.75, 1, 0.95, 0.5, 0.75}, {0.5}}
	synctest.Test(t, func(t *testing.T) {
		lc := &meterLiveness{scripts: [][]meterStep{first, second}}
		cfg := testConfig(t)
		cfg.Policy.Liveness = LivenessChallenge
		r := &rig{cfg: cfg, sel: &fakeSelector{window: 600 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 800 * time.Millisecond},
			relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
		k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk,
			Liveness: lc, Logger: quietLogger()})
		require.NoError(t, err)
		r.k = k
		page := k.hub.subscribe()
		require.NotNil(t, page)
		var got []Status
		read := make(chan struct{})
		go func() {
			defer close(read)
			for msg := range page {
				_, data, ok := bytes.Cut(msg, []byte("\ndata: "))
				require.True(t, ok, "%s", msg)
				var s Status
				require.NoError(t, json.Unmarshal(bytes.TrimSpace(data), &s))
				got = append(got, s)
			}
		}()
		stop := r.start(t)
		r.identify(t, worker, 1)
		time.Sleep(5 * time.Second) // past the cooldown
		r.identify(t, worker, 2)
		require.NoError(t, stop())
		k.hub.close()
		<-read
		// What the meter showed in each challenge: other updates (health,
		// the door) resend the status as it is.
		var turns [][]float64
		var since time.Time
		for _, s := range got {
			if s.Turn == nil {
				continue
			}
			require.Equal(t, StateChallenge, s.State, "a turn shown outside the challenge")
			if !s.Since.Equal(since) {
				since = s.Since
				turns = append(turns, nil)
			}
			if c := turns[len(turns)-1]; len(c) == 0 || c[len(c)-1] != *s.Turn {
				turns[len(turns)-1] = append(c, *s.Turn)
			}
		}
		assert.Equal(t, want, turns)
		for _, ev := range r.events() {
			assert.Equal(t, record.DecisionGranted, ev.Decision)
		}
	})
}

// TestTurnMeterShowsOnlyInTheChallenge: a meter reading that arrives when
// the challenge is not on the screen changes nothing.
func TestTurnMeterShowsOnlyInTheChallenge(t *testing.T) {
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{}, Logger: quietLogger()})
	require.NoError(t, err)
	for _, st := range []State{StateIdle, StateCapturing, StateAuthenticating, StateGranted} {
		k.setState(st, "", nil)
		(&turnMeter{k: k}).show(0.05, 0.035)
		assert.Nil(t, k.Status().Turn, "state %s", st)
	}
	k.setState(StateChallenge, challengeMessage["left"], nil)
	(&turnMeter{k: k}).show(0.05, 0.035)
	if assert.NotNil(t, k.Status().Turn) {
		assert.Equal(t, 0.7, *k.Status().Turn)
	}
}

// TestTurnMeterSurvivesAClockStep: a clock stepped back an hour between
// two readings does not hold the meter back for that hour.
func TestTurnMeterSurvivesAClockStep(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC) // no monotonic reading
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Logger: quietLogger(), Now: func() time.Time { return at }})
	require.NoError(t, err)
	k.setState(StateChallenge, challengeMessage["left"], nil)
	m := &turnMeter{k: k}
	m.show(0.035, 0.035)
	require.NotNil(t, k.Status().Turn)
	assert.Equal(t, 0.5, *k.Status().Turn)
	at = at.Add(-time.Hour)
	m.show(0.07, 0.035)
	if assert.NotNil(t, k.Status().Turn) {
		assert.Equal(t, 1.0, *k.Status().Turn, "the meter froze after the clock stepped back")
	}
}

// TestTurnMeterSendsOnlyChanges counts the page's messages: a reading
// that has not changed is not sent again, and a full one waits for the
// 100 ms limit like any other.
func TestTurnMeterSendsOnlyChanges(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{},
		Logger: quietLogger(), Now: func() time.Time { return at }})
	require.NoError(t, err)
	k.setState(StateChallenge, challengeMessage["left"], nil)
	page := k.hub.subscribe()
	require.NotNil(t, page)
	m := &turnMeter{k: k}
	for _, step := range []struct {
		after time.Duration
		yaw   float64
		sent  bool
	}{
		{0, 0.0532, true},                     // 0.75
		{50 * time.Millisecond, 0.08, false},  // full, 50 ms after: held back
		{60 * time.Millisecond, 0.08, true},   // full
		{200 * time.Millisecond, 0.08, false}, // unchanged: not sent again
		{200 * time.Millisecond, 0.09, false}, // still full
	} {
		at = at.Add(step.after)
		m.show(step.yaw, 0.035)
		assert.Equal(t, step.sent, len(page) == 1, "%+v: %d messages", step, len(page))
		for len(page) > 0 {
			<-page
		}
	}
}
