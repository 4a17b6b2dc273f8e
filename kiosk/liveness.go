package kiosk

import (
	"context"
	"errors"
	"image"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
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
}

// LivenessResult is a check's verdict.
type LivenessResult struct {
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
}

// Liveness modes (policy.liveness).
const (
	LivenessOff       = "off"
	LivenessPassive   = "passive"
	LivenessChallenge = "challenge"
)

// Operator alert for an identity locked out after liveness failures.
const AlertLivenessLockout = "liveness_lockout"

// Outcomes of facegate_liveness_total.
const (
	livenessLive        = "live"
	livenessFailed      = "failed"
	livenessUnavailable = "unavailable"
	livenessLocked      = "locked"
)

// Challenge messages: exact texts the kiosk page shows with its arrow.
var challengeMessage = map[string]string{
	"left":  "Turn your head a little to the left",
	"right": "Turn your head a little to the right",
}

// padState is the kiosk's liveness memory: whether the challenge is on
// the screen, and recent failures per identity (in memory: a restart
// forgets them, the rate limiter and the audit log do not).
type padState struct {
	showing atomic.Bool
	mu      sync.Mutex
	fails   map[string][]time.Time
	// pick chooses the challenge; nil uses math/rand/v2 (tests set it).
	pick func() string
}

func (p *padState) challenge() string {
	if p.pick != nil {
		return p.pick()
	}
	if rand.IntN(2) == 0 {
		return "left"
	}
	return "right"
}

// locked reports whether id has max failures within per of now.
func (p *padState) locked(id string, now time.Time, max int, per time.Duration) bool {
	if max <= 0 || id == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recent(id, now, per)) >= max
}

// fail records a failure and reports whether it makes max.
func (p *padState) fail(id string, now time.Time, max int, per time.Duration) bool {
	if max <= 0 || id == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails == nil {
		p.fails = map[string][]time.Time{}
	}
	p.fails[id] = append(p.recent(id, now, per), now)
	return len(p.fails[id]) >= max
}

// recent prunes id's failures older than per (called with mu held).
func (p *padState) recent(id string, now time.Time, per time.Duration) []time.Time {
	var keep []time.Time
	for _, t := range p.fails[id] {
		if now.Sub(t) < per {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(p.fails, id)
	} else {
		p.fails[id] = keep
	}
	return keep
}

func (k *Kiosk) warnLiveness(mode string) {
	switch {
	case mode == LivenessOff:
		k.log.Warn("liveness is off: a photo or a phone screen of a worker can open this gate", "key", "policy.liveness")
	case k.deps.Liveness == nil:
		k.log.Warn("liveness configured but no checker was provided: sessions run without it", "mode", mode)
	}
}

type padDone struct {
	r   LivenessResult
	err error
}

// authenticateLive is authenticate with the liveness check overlapped:
// the challenge is shown and checked while the API call runs; the session
// is granted only when both pass. A liveness failure denies whatever the
// API said, and counts towards the identity's lockout.
func (k *Kiosk) authenticateLive(ctx context.Context, s *session) outcome {
	mode := s.policy.Liveness
	lc := k.deps.Liveness
	if mode == LivenessOff || mode == "" {
		return k.authenticate(ctx, s)
	}
	if lc == nil {
		// Asked for (a reload turned it on) but no checker was built: a
		// check that cannot run denies, it is never skipped.
		k.log.Error("policy.liveness is on but the daemon started without a liveness checker: restart it", "liveness", mode)
		k.metrics.liveness.WithLabelValues(livenessUnavailable).Inc()
		o := denied(ReasonLivenessUnavailable)
		o.liveness = &record.Liveness{Method: mode, Reasons: []string{"error"}}
		return o
	}
	id := s.id.SubmissionID
	max, per := s.policy.LivenessLockout.Max, s.policy.LivenessLockout.Per
	if k.pad.locked(id, k.now(), max, per) {
		k.metrics.liveness.WithLabelValues(livenessLocked).Inc()
		return denied(ReasonLivenessLocked)
	}
	req := LivenessRequest{Mode: mode, Box: s.face.Box, Frame: s.face.Frame}
	if mode == LivenessChallenge {
		req.Challenge = k.pad.challenge()
		k.pad.showing.Store(true)
		k.setState(StateChallenge, challengeMessage[req.Challenge], func(st *Status) {
			st.Challenge, st.Name = req.Challenge, s.id.DisplayName
		})
	}
	padCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	padCh := make(chan padDone, 1)
	go func() {
		r, err := lc.CheckLiveness(padCtx, req)
		padCh <- padDone{r, err}
	}()
	apiCh := make(chan outcome, 1)
	go func() { apiCh <- k.authenticate(ctx, s) }()

	var api outcome
	var pad padDone
	for got := 0; got < 2; got++ {
		select {
		case api = <-apiCh:
			apiCh = nil
		case pad = <-padCh:
			padCh = nil
			if k.pad.showing.Swap(false) && apiCh != nil {
				k.setState(StateAuthenticating, msgChecking, nil)
			}
		}
	}
	k.pad.showing.Store(false)
	if ctx.Err() != nil {
		return failed(ReasonShutdown)
	}
	return k.combineLiveness(s, mode, api, pad)
}

// combineLiveness decides from the API's outcome and the check's verdict.
func (k *Kiosk) combineLiveness(s *session, mode string, api outcome, pad padDone) outcome {
	ev := &record.Liveness{Method: mode, Score: pad.r.Score, Live: pad.r.Live, Reasons: pad.r.Reasons}
	if pad.r.Method != "" {
		ev.Method = pad.r.Method
	}
	if ev.Reasons == nil {
		ev.Reasons = []string{}
	}
	if !(ev.Score >= 0 && ev.Score <= 1) { // NaN too: an unknown score is no pass, and could not be recorded
		pad.r.Unavailable, ev.Score = true, 0
		ev.Reasons = append(ev.Reasons, "error")
	}
	var o outcome
	switch {
	case pad.err != nil || pad.r.Unavailable:
		if pad.err != nil {
			k.log.Warn("liveness check could not run", "err", pad.err)
			ev.Live, ev.Score, ev.Reasons = false, 0, append(ev.Reasons, "error")
		}
		k.metrics.liveness.WithLabelValues(livenessUnavailable).Inc()
		o = denied(ReasonLivenessUnavailable)
	case !pad.r.Live:
		k.metrics.liveness.WithLabelValues(livenessFailed).Inc()
		o = denied(ReasonLivenessFailed)
		if pad.r.NoTurn {
			o = denied(ReasonLivenessNoTurn)
		}
		max, per := s.policy.LivenessLockout.Max, s.policy.LivenessLockout.Per
		if k.pad.fail(s.id.SubmissionID, k.now(), max, per) {
			o.alert = AlertLivenessLockout
			o.alertMsg = "identity locked out after " + strconv.Itoa(max) + " liveness failures within " + per.String() + " (user " + clip(s.id.UserID) + ")"
		}
	default:
		k.metrics.liveness.WithLabelValues(livenessLive).Inc()
		o = api
	}
	if o.decision != api.decision || o.message != api.message {
		o.auth, o.err = api.auth, api.err
	}
	o.liveness = ev
	return o
}

// errLivenessUnavailable is for fakes and adapters that cannot run.
var errLivenessUnavailable = errors.New("kiosk: liveness check unavailable")
