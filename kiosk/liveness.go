package kiosk

import (
	"context"
	"errors"
	"image"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/facegate/facegate/record"
)

// LivenessChecker is presentation-attack detection on the camera's frames
// (the daemon adapts the liveness package; docs/liveness.md).
type LivenessChecker interface {
	// CheckLiveness watches the camera from the moment it is called (the
	// challenge is on the screen) and returns the verdict. It is called
	// from the session goroutine while the FaceAuth call runs in another
	// one, at most once at a time. It returns when ctx ends with an error
	// wrapping ctx.Err(); any error means the check could not run, which
	// denies.
	CheckLiveness(ctx context.Context, req LivenessRequest) (LivenessResult, error)
}

// LivenessRequest is one check.
type LivenessRequest struct {
	// Mode is "passive" or "challenge".
	Mode string
	// Challenge is "left" or "right", the person's own side (challenge mode).
	Challenge string
	// Box is the chosen face in frame coordinates; Frame the frame size.
	Box   image.Rectangle
	Frame image.Point
	// Detail is the chosen face's (Face.Detail), 0 when unknown.
	Detail float64
	// Signature is the chosen face's (Face.Signature), nil when unknown.
	Signature []float32
	// OnTurn, set for a challenge, shows the worker how far the head has
	// turned: the checker calls it after each frame it measures, with the
	// turn the asked way (face widths, negative the other way) and the
	// turn its verdict needs. It returns at once; calls after
	// CheckLiveness returned are ignored.
	OnTurn func(yaw, need float64)
}

// LivenessResult is a check's verdict.
type LivenessResult struct {
	// Live is a pass only with no Reasons, a Score of at least 0.5, not
	// NoTurn, MovedEarly or FaceAway, and Method the mode asked for: the kiosk
	// counts any other live verdict as the checker's error (denied).
	Live bool
	// Score is 0..1, higher = more likely a live person.
	Score float64
	// Method is the mode that ran.
	Method string
	// Reasons are the check's codes ("planar_motion", "wrong_direction", …).
	Reasons []string
	// Unavailable: the check could not run (face lost, too few frames).
	Unavailable bool
	// NoTurn: the head did not turn the asked way in time (no response,
	// late, wrong direction) and nothing flat was seen.
	NoTurn bool
	// MovedEarly: the check could not run because the challenge began on
	// a face much blurrier than the chosen one (the worker moved before
	// the prompt).
	MovedEarly bool
	// FaceAway: the check could not run because the chosen face was not
	// where the challenge began (the worker stepped aside, or out of the
	// picture, before the prompt).
	FaceAway bool
	// Yaw is the largest turn the asked way before the check decided
	// (face widths, the check's cue) when a challenge ran and measured
	// one, nil otherwise; Landmarks: YuNet's landmarks measured it.
	Yaw       *float64
	Landmarks bool
}

// The measures of a challenge's turn (facegate_liveness_turn_face_widths).
const (
	turnLandmarks = "landmarks"
	turnTracked   = "tracked"
)

// Liveness modes (policy.liveness).
const (
	LivenessOff       = "off"
	LivenessPassive   = "passive"
	LivenessChallenge = "challenge"
	// LivenessShadow runs the challenge and records its verdict (event,
	// audit, facegate_liveness_shadow_total, saved clips) but never decides:
	// a trial that measures at a real gate how often the check would refuse
	// the site's own workers before it is turned on.
	LivenessShadow = "shadow"
)

// Operator alert for an identity locked out after liveness failures.
const AlertLivenessLockout = "liveness_lockout"

// Outcomes of facegate_liveness_total (and facegate_liveness_shadow_total).
const (
	livenessLive        = "live"
	livenessFailed      = "failed"
	livenessUnavailable = "unavailable"
	livenessLocked      = "locked"
	// livenessError (shadow only): the check failed as software or
	// hardware (no checker, a camera error, a timeout).
	livenessError = "error"
)

// The kiosk's turn meter (Status.Turn).
const (
	// TurnMeterFull: the meter is full at this many times the turn the
	// check needs. Of the real turns the lab's check refused with YuNet,
	// all but a 10 fps GIF's had turned less than twice the need, and
	// none refused with Haar had turned 1.5 times it (docs/liveness.md,
	// "The turn meter"): the meter asks for the turn the check seldom
	// refuses, while the check itself still stops at its own need.
	TurnMeterFull = 2.0
	// turnMeterSteps: the share is rounded down to 1/20 (full only at
	// TurnMeterFull times the need) so that landmark jitter does not
	// send a message per frame.
	turnMeterSteps = 20
	// turnMeterEvery: at most one meter update per this.
	turnMeterEvery = 100 * time.Millisecond
)

// turnShare is the meter's reading for a turn: yaw over TurnMeterFull
// times need, within 0..1, rounded down to 1/turnMeterSteps; false for a
// turn or a need that is no number.
func turnShare(yaw, need float64) (float64, bool) {
	if math.IsNaN(yaw) || math.IsInf(yaw, 0) || !(need > 0) || math.IsInf(need, 0) {
		return 0, false
	}
	s := math.Max(0, math.Min(1, yaw/(TurnMeterFull*need)))
	return math.Floor(s*turnMeterSteps) / turnMeterSteps, true
}

// turnMeter feeds one challenge's meter to the page.
type turnMeter struct {
	k      *Kiosk
	mu     sync.Mutex
	done   bool // the check returned: later calls are ignored
	shown  bool
	last   float64
	lastAt time.Time
}

// show is LivenessRequest.OnTurn.
func (m *turnMeter) show(yaw, need float64) {
	share, ok := turnShare(yaw, need)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.k.now()
	// A clock stepped back (Deps.Now without a monotonic reading) must not
	// freeze the meter: only a time since the last update in [0, every)
	// holds one back.
	since := now.Sub(m.lastAt)
	if m.done || (m.shown && (share == m.last || (since >= 0 && since < turnMeterEvery))) {
		return
	}
	m.k.updateStatusIf(func(st *Status) bool {
		if st.State != StateChallenge {
			return false
		}
		st.Turn = &share
		return true
	})
	m.shown, m.last, m.lastAt = true, share, now
}

// stop ignores the calls from now on.
func (m *turnMeter) stop() {
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
}

// Challenge messages: exact texts the kiosk page shows with its arrow.
var challengeMessage = map[string]string{
	"left":  "Turn your head a little to the left",
	"right": "Turn your head a little to the right",
}

func (k *Kiosk) warnLiveness(mode string) {
	switch {
	case mode == LivenessOff:
		k.log.Warn("liveness is off: a photo or a phone screen of a worker can open this gate", "key", "policy.liveness")
		return
	case mode == LivenessShadow:
		k.log.Warn("liveness is in shadow mode: challenges are recorded but never deny; a photo or a phone screen of a worker can open this gate", "key", "policy.liveness")
	}
	if k.deps.Liveness == nil {
		k.log.Warn("liveness configured but the daemon has no checker (it is built at start: restart it): sessions are denied, or in shadow mode their check is recorded as an error", "mode", mode)
	}
}

// minLivenessMaxAge is the least policy.max_age that leaves room for a
// check: its 2.5 s window plus the capture and a margin (the age is taken
// again when the check ends, stillFresh).
const minLivenessMaxAge = 3500 * time.Millisecond

// warnMaxAge says when policy.max_age is too short for the liveness check,
// which would deny normal sessions as stale_approval.
func (k *Kiosk) warnMaxAge(p PolicyOptions) {
	if p.Liveness != LivenessOff && p.Liveness != "" && p.MaxAge < minLivenessMaxAge {
		k.log.Warn("policy.max_age is shorter than a liveness check can take: sessions may be denied stale_approval",
			"max_age", p.MaxAge, "at_least", minLivenessMaxAge, "liveness", p.Liveness)
	}
}

// enforced reports whether a liveness mode can deny.
func enforced(mode string) bool { return mode == LivenessPassive || mode == LivenessChallenge }

type padDone struct {
	r   LivenessResult
	err error
}

// authenticateLive is authenticate with the liveness check overlapped:
// the challenge is shown and checked while the API call runs; the session
// is granted only when both pass. A liveness failure denies whatever the
// API said, and counts towards the identity's lockout. In shadow mode the
// same challenge runs, but its verdict is only recorded.
func (k *Kiosk) authenticateLive(ctx context.Context, s *session) outcome {
	mode := s.policy.Liveness
	lc := k.deps.Liveness
	if mode == LivenessOff || mode == "" {
		return k.authenticate(ctx, s)
	}
	shadow := mode == LivenessShadow
	method := mode
	if shadow {
		method = LivenessChallenge
	}
	if lc == nil {
		// Asked for (a reload turned it on) but no checker was built: a
		// check that cannot run denies, it is never skipped.
		k.log.Error("policy.liveness is on but the daemon started without a liveness checker: restart it", "liveness", mode)
		noCheck := k.judgePad(s, mode, padDone{r: LivenessResult{Method: method}, err: errLivenessUnavailable})
		if shadow {
			return k.combineLiveness(s, mode, k.authenticate(ctx, s), noCheck)
		}
		return k.combineLiveness(s, mode, outcome{}, noCheck) // denied without an API call
	}
	id := s.id.SubmissionID
	max, per := s.policy.LivenessLockout.Max, s.policy.LivenessLockout.Per
	if !shadow && k.pad.locked(id, k.now(), max, per) {
		k.metrics.liveness.WithLabelValues(livenessLocked).Inc()
		return denied(ReasonLivenessLocked)
	}
	req := LivenessRequest{Mode: method, Box: s.face.Box, Frame: s.face.Frame, Detail: s.face.Detail, Signature: s.face.Signature}
	var meter *turnMeter
	if method == LivenessChallenge {
		meter = &turnMeter{k: k}
		req.OnTurn = meter.show
		req.Challenge = k.pad.challengeFor(id, k.now(), undecidedKeep(per))
		k.pad.showing.Store(true)
		k.setState(StateChallenge, challengeMessage[req.Challenge], func(st *Status) {
			st.Challenge, st.Name = req.Challenge, s.id.DisplayName
		})
	}
	// A camera that stops delivering must not hold the session: past this
	// the check could not run (and the approval would be stale anyway).
	padCtx, cancel := context.WithTimeout(ctx, livenessTimeout)
	defer cancel()
	padCh := make(chan padDone, 1)
	go func() {
		r, err := lc.CheckLiveness(padCtx, req)
		if meter != nil {
			meter.stop() // its calls from now on are ignored
		}
		padCh <- padDone{r, err}
	}()
	apiCh := make(chan outcome, 1)
	go func() { apiCh <- k.authenticate(ctx, s) }()

	var api outcome
	var judged padJudged
	for got := 0; got < 2; got++ {
		select {
		case api = <-apiCh:
			apiCh = nil
		case pad := <-padCh:
			padCh = nil
			if k.pad.showing.Swap(false) && apiCh != nil {
				k.setState(StateAuthenticating, msgChecking, nil)
			}
			if pad.r.Method == "" {
				pad.r.Method = method
			}
			// A failure counts (and is saved) now, not after the API's
			// answer: a session ended meanwhile (a stop, kill -9, a power
			// cut) would have given the attempt for free.
			judged = k.judgePad(s, mode, pad)
		}
	}
	k.pad.showing.Store(false)
	// The arrow is drawn anew only after a check that decided for this
	// identity's worker: a counted failure, or a pass of a face the API
	// approved. A pass of someone the API rejected (an attacker's own
	// head, between two tries of a one-way replay) must not redraw it.
	if judged.verdict == livenessFailed || (judged.verdict == livenessLive && api.decision == record.DecisionGranted) {
		k.pad.undecided.decided(id)
	}
	if ctx.Err() != nil && judged.verdict != livenessFailed {
		return failed(ReasonShutdown)
	}
	return k.combineLiveness(s, mode, api, judged)
}

// recordTurn puts the challenge's turn in the event and the histogram,
// when a challenge that ran measured one (a checker error is the event's
// "error" reason).
func (k *Kiosk) recordTurn(ev *record.Liveness, pad padDone, mode string) {
	y := pad.r.Yaw
	if y == nil || math.IsNaN(*y) || math.IsInf(*y, 0) || pad.r.Unavailable ||
		pad.r.Method != LivenessChallenge || slices.Contains(ev.Reasons, "error") {
		return
	}
	ev.Yaw, ev.Landmarks = y, pad.r.Landmarks
	measure := turnTracked
	if ev.Landmarks {
		measure = turnLandmarks
	}
	k.metrics.livenessTurn.WithLabelValues(measure, mode).Observe(*y)
}

// undecidedKeep is how long a challenge that could not decide is asked
// again the same way: the lockout's per (10 minutes without one).
func undecidedKeep(per time.Duration) time.Duration {
	if per <= 0 {
		return 10 * time.Minute
	}
	return per
}

// padJudged is the check's result as the gate takes it (judgePad).
type padJudged struct {
	pad     padDone
	ev      *record.Liveness // for the event
	verdict string           // livenessLive, livenessFailed or livenessUnavailable
	// lockedOut: counting this failure locked the identity out.
	lockedOut bool
}

// judgePad judges the check's result for the session: a result that is
// not a clean pass or a clean refusal could not run. Outside shadow mode
// a failure is counted towards the lockout here, once.
func (k *Kiosk) judgePad(s *session, mode string, pad padDone) padJudged {
	ev := &record.Liveness{Method: pad.r.Method, Score: pad.r.Score, Live: pad.r.Live, Reasons: pad.r.Reasons}
	if ev.Reasons == nil {
		ev.Reasons = []string{}
	}
	if !(ev.Score >= 0 && ev.Score <= 1) { // NaN too: an unknown score is no pass, and could not be recorded
		pad.r.Unavailable, ev.Score = true, 0
		ev.Reasons = append(ev.Reasons, "error")
	}
	asked := mode
	if mode == LivenessShadow {
		asked = LivenessChallenge
	}
	if pad.err == nil && !pad.r.Unavailable && pad.r.Live && !consistentPass(pad.r, asked) {
		// Only the checker's bug says live beside a refusal: the gate
		// must not open on the flag alone.
		k.log.Error("liveness checker said live with a refusal, a failing score or another method: counted as an error",
			"reasons", pad.r.Reasons, "score", pad.r.Score, "no_turn", pad.r.NoTurn, "method", pad.r.Method, "asked", asked)
		pad.r.Unavailable = true
		ev.Reasons = append(ev.Reasons, "error")
	}
	verdict := livenessLive
	switch {
	case pad.err != nil || pad.r.Unavailable:
		if pad.err != nil {
			k.log.Warn("liveness check could not run", "err", pad.err)
			ev.Score, ev.Reasons = 0, append(ev.Reasons, "error")
		}
		ev.Live = false // a check that did not run is no pass, whatever it said
		verdict = livenessUnavailable
	case !pad.r.Live:
		verdict = livenessFailed
	}
	j := padJudged{pad: pad, ev: ev, verdict: verdict}
	if verdict == livenessFailed && mode != LivenessShadow {
		max, per := s.policy.LivenessLockout.Max, s.policy.LivenessLockout.Per
		var err error
		j.lockedOut, err = k.pad.fail(s.id.SubmissionID, k.now(), max, per)
		if err != nil {
			// The failure still counts in memory: only a restart before
			// the next successful save would forget it.
			k.lockoutNotSaved(err, "forget this failure")
		}
	}
	return j
}

// combineLiveness decides from the API's outcome and the check's verdict.
func (k *Kiosk) combineLiveness(s *session, mode string, api outcome, j padJudged) outcome {
	pad, ev, verdict := j.pad, j.ev, j.verdict
	k.recordTurn(ev, pad, mode)
	if mode == LivenessShadow {
		// Recorded, never enforced: no denial, no lockout, no alert.
		ev.Shadow = true
		api = k.stillFresh(s, api)
		if slices.Contains(ev.Reasons, "error") {
			verdict = livenessError // a fault of the gate, not a measurement of the person
		}
		k.metrics.livenessShadow.WithLabelValues(verdict, string(api.decision)).Inc()
		api.liveness = ev
		return api
	}
	k.metrics.liveness.WithLabelValues(verdict).Inc()
	var o outcome
	switch verdict {
	case livenessUnavailable:
		o = denied(ReasonLivenessUnavailable)
		switch {
		case pad.r.MovedEarly:
			o.message = msgHoldStill
		case pad.r.FaceAway:
			o.message = msgStayInView
		}
	case livenessFailed:
		o = denied(ReasonLivenessFailed)
		if pad.r.NoTurn {
			o = denied(ReasonLivenessNoTurn)
		}
		if j.lockedOut {
			max, per := s.policy.LivenessLockout.Max, s.policy.LivenessLockout.Per
			o.alert = AlertLivenessLockout
			o.alertMsg = lockoutAlertMessage(max, per, s.id.UserID, "")
		}
	default:
		o = k.stillFresh(s, api)
	}
	if o.decision != api.decision || o.message != api.message {
		o.auth, o.err = api.auth, api.err
	}
	o.liveness = ev
	return o
}

// consistentPass reports whether a result that says live says nothing
// else against it: no reason, not NoTurn, MovedEarly or FaceAway, a
// score of at least 0.5 (the liveness package's pass mark) and the method
// asked.
func consistentPass(r LivenessResult, asked string) bool {
	return len(r.Reasons) == 0 && !r.NoTurn && !r.MovedEarly && !r.FaceAway && r.Score >= 0.5 && r.Method == asked
}

// stillFresh denies a grant whose frame is older than policy.max_age now
// that the check is done too: authenticate judged the age when the API
// answered, but the gate opens only after the slower of the two.
func (k *Kiosk) stillFresh(s *session, o outcome) outcome {
	if o.decision != record.DecisionGranted || !k.stale(s, k.now()) {
		return o
	}
	d := denied(ReasonStaleApproval)
	d.auth, d.err = o.auth, o.err
	return d
}

// stale reports whether the session's approval is older than
// policy.max_age at now: the one freshness rule, judged when the API
// answers, when the liveness check ends and just before the relay moves.
func (k *Kiosk) stale(s *session, now time.Time) bool {
	return !(approvalAge(s, now) <= s.policy.MaxAge)
}

// approvalAge is how old the session's approval is at now: from its
// frame's capture, or for a remote open, which has no picture, from its
// session's start (the command's own time was checked when it arrived).
func approvalAge(s *session, now time.Time) time.Duration {
	if s.face == nil {
		return now.Sub(s.start)
	}
	return now.Sub(s.face.CapturedAt)
}

// livenessTimeout bounds one check: its window is 2.5 s of frames
// (docs/liveness.md); a camera that delivers none for this long makes the
// check unavailable.
const livenessTimeout = 10 * time.Second

// errLivenessUnavailable is for fakes and adapters that cannot run.
var errLivenessUnavailable = errors.New("kiosk: liveness check unavailable")
