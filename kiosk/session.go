package kiosk

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/kiosk/config"
	"github.com/facegate/facegate/record"
)

// selection is one running FaceSelector.SelectFace call.
type selection struct {
	cancel context.CancelFunc
	done   chan struct{}
	notify chan struct{} // a new Progress is available
	face   Face          // valid after done
	err    error

	mu          sync.Mutex
	last        Progress
	capturing   bool
	capturingAt time.Time
}

func (k *Kiosk) startSelection(parent context.Context) *selection {
	ctx, cancel := context.WithCancel(parent)
	s := &selection{cancel: cancel, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(s.done)
		s.face, s.err = k.deps.Selector.SelectFace(ctx, func(p Progress) {
			s.mu.Lock()
			s.last = p
			if p.Reason == "" && !s.capturing {
				s.capturing, s.capturingAt = true, k.now()
			}
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		})
	}()
	return s
}

func (s *selection) progress() (Progress, bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.capturing, s.capturingAt
}

// stop cancels the selection and waits for SelectFace to return.
func (s *selection) stop() {
	s.cancel()
	<-s.done
}

// box converts a face rectangle to fractions of the frame.
func box(p Progress) *Box {
	if p.Box.Empty() || p.Frame.X <= 0 || p.Frame.Y <= 0 {
		return nil
	}
	fx, fy := float64(p.Frame.X), float64(p.Frame.Y)
	return &Box{X: float64(p.Box.Min.X) / fx, Y: float64(p.Box.Min.Y) / fy, W: float64(p.Box.Dx()) / fx, H: float64(p.Box.Dy()) / fy}
}

func equalBox(a, b *Box) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// waitForIdentity blocks in idle until an identity arrives (or, with a
// fixed identity, until an acceptable face is in view: the returned
// selection is then already running). nil when ctx ended first. The fixed
// identity is read again after every Reload: a removed or changed one never
// starts a session under its old submission id.
func (k *Kiosk) waitForIdentity(ctx context.Context) (*Identity, *selection) {
	id, sel := k.watchForIdentity(ctx)
	if id == nil {
		<-ctx.Done() // draining: no session starts before Run ends
	}
	return id, sel
}

// watchForIdentity is waitForIdentity; nil also when Drain was called.
func (k *Kiosk) watchForIdentity(ctx context.Context) (*Identity, *selection) {
	retry, waited := time.Duration(0), false
	for {
		fixed := k.settings().identity.Fixed
		if fixed.SubmissionID == "" {
			select {
			case <-ctx.Done():
				return nil, nil
			case <-k.drainCh:
				return nil, nil
			case <-k.wake:
				// A wake whose identity was already claimed is stale.
				if id := k.claim(nil); id != nil {
					return id, nil
				}
			case <-k.reloaded:
				retry = 0
				k.setState(StateIdle, k.idleMessage(), nil)
			}
			continue
		}
		fid := &Identity{SubmissionID: fixed.SubmissionID, UserID: fixed.UserID, DisplayName: fixed.DisplayName, Source: SourceFixed}
		// stillFixed: the configuration still names fid (a Reload may have
		// revoked it since this iteration began).
		stillFixed := func() bool { return k.settings().identity.Fixed == fixed }
		if retry > 0 {
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, nil
			case <-k.drainCh:
				t.Stop()
				return nil, nil
			case <-k.wake:
				t.Stop()
				if id := k.claim(nil); id != nil {
					return id, nil
				}
				continue
			case <-k.reloaded:
				t.Stop()
				retry = 0
				k.setState(StateIdle, k.idleMessage(), nil)
				continue
			case <-t.C:
			}
			retry, waited = 0, true
		}
		p := k.settings().policy
		if wait := k.attempts.wait(fid.SubmissionID, k.now(), p.Attempts.Max, p.Attempts.Per); wait > 0 {
			// A single-user kiosk would otherwise deny "rate_limited" after
			// every cooldown while the worker stands there.
			k.setState(StateIdle, coaching[ReasonRateLimited], nil)
			retry = wait
			continue
		}
		if waited {
			k.setState(StateIdle, msgIdleFixed, nil)
			waited = false
		}
		sel := k.startSelection(ctx)
		// take returns fid with its selection unless an explicit identity
		// came first or fid was revoked (then nil, nil: look again).
		take := func() (*Identity, *selection, bool) {
			if !stillFixed() {
				sel.stop()
				k.setState(StateIdle, k.idleMessage(), nil)
				return nil, nil, false
			}
			if id := k.claim(fid); id != fid {
				sel.stop()
				return id, nil, true
			}
			return fid, sel, true
		}
		lastMsg, lastBox := msgIdleFixed, (*Box)(nil)
		for watching := true; watching; {
			select {
			case <-ctx.Done():
				sel.stop()
				return nil, nil
			case <-k.drainCh:
				sel.stop()
				return nil, nil
			case <-k.wake:
				if id := k.claim(nil); id != nil {
					sel.stop()
					return id, nil
				}
			case <-k.reloaded:
				if !stillFixed() {
					sel.stop()
					k.setState(StateIdle, k.idleMessage(), nil)
					watching = false
				}
			case <-sel.notify:
				p, capturing, _ := sel.progress()
				if capturing {
					if id, sel, ok := take(); ok {
						return id, sel
					}
					watching = false
					continue
				}
				b, msg := box(p), coachCapture(p.Reason)
				if msg == lastMsg && equalBox(b, lastBox) {
					continue
				}
				lastMsg, lastBox = msg, b
				k.updateStatus(func(s *Status) { s.Box, s.Message = b, msg })
			case <-sel.done:
				if sel.err == nil {
					if id, sel, ok := take(); ok {
						return id, sel
					}
					watching = false
					continue
				}
				if !errors.Is(sel.err, ErrNoFace) {
					k.log.Warn("camera failed while waiting for a face", "err", sel.err)
					k.setState(StateIdle, coaching[ReasonCameraError], nil)
					retry = 2 * time.Second
				} else {
					retry = 200 * time.Millisecond // no spinning on a selector that gives up at once
				}
				watching = false
			}
		}
	}
}

// claim takes the pending identity (or, when none is pending, fallback)
// and marks the kiosk busy in the same step, so that no second identity
// slips in between. While draining it claims nothing (a pending identity
// is left for Run's shutdown path).
func (k *Kiosk) claim(fallback *Identity) *Identity {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.draining {
		return nil
	}
	id := k.pending
	k.pending = nil
	if id == nil {
		id = fallback
	}
	if id != nil {
		k.inSession = true
		k.sessionDone = make(chan struct{})
	}
	return id
}

// session is one worker's attempt, from identified to its event.
type session struct {
	id          Identity
	policy      config.Policy
	identity    config.Identity
	start       time.Time
	capturingAt time.Time // zero until an acceptable face was in view
	// firstCapture is the first attempt's capturingAt when the API asked
	// for another picture (the total latency counts from it).
	firstCapture time.Time
	face         *Face
	faceAt       time.Time // when the selector handed the face over
	apiStart     time.Time
	apiDur       time.Duration
	decidedAt    time.Time
}

// outcome is how a session ended.
type outcome struct {
	decision record.Decision
	reasons  []string
	message  string
	auth     *record.Auth
	err      *record.Error
	alert    string // operator alert code, "" for none
	alertMsg string // the alert's text when not the event's message
	// liveness: the PAD verdict for the event (kiosk/liveness.go)
	liveness *record.Liveness
}

func denied(reasons ...string) outcome {
	return outcome{decision: record.DecisionDenied, reasons: reasons, message: coachReasons(reasons, fallbackDenied)}
}

func failed(reasons ...string) outcome {
	return outcome{decision: record.DecisionError, reasons: reasons, message: coachReasons(reasons, fallbackError)}
}

// runSession drives one session to exactly one event. sel is a selection
// already running (fixed identity), or nil.
func (k *Kiosk) runSession(ctx context.Context, id Identity, sel *selection) {
	set := k.settings()
	s := &session{id: id, policy: set.policy, identity: set.identity, start: k.now()}
	if id.remote != nil {
		k.remoteOpen(ctx, s)
		return
	}
	k.setState(StateIdentified, msgIdentified, func(st *Status) { st.Name = id.DisplayName })
	k.warmAPI(ctx)
	if sel != nil {
		defer sel.stop()
	}
	if ctx.Err() != nil {
		k.finish(ctx, s, failed(ReasonShutdown))
		return
	}
	if !k.attempts.allow(id.SubmissionID, s.start, s.policy.Attempts.Max, s.policy.Attempts.Per) {
		k.finish(ctx, s, denied(ReasonRateLimited))
		return
	}
	for attempt := 1; ; attempt++ {
		if sel == nil {
			sel = k.startSelection(ctx)
			defer sel.stop()
		}
		o, ok := k.awaitFace(ctx, s, sel)
		if !ok {
			k.finish(ctx, s, o)
			return
		}
		o = k.authenticateLive(ctx, s) // liveness: k.authenticate overlapped with the challenge (kiosk/liveness.go)
		if attempt > 1 || !slices.Equal(o.reasons, []string{ReasonAPIPrefix + string(faceauth.ClassRecapture)}) || ctx.Err() != nil {
			k.finish(ctx, s, o)
			return
		}
		// The API could not use the picture (no face, bad image): take
		// another one once, within the same session and its one event.
		k.log.Info("API asked for another picture; capturing again")
		if s.firstCapture.IsZero() {
			s.firstCapture = s.capturingAt
		}
		sel, s.face, s.capturingAt = nil, nil, time.Time{}
		k.setState(StateIdentified, o.message, func(st *Status) { st.Name = id.DisplayName })
	}
}

// remoteOpen is the session of a remote unlock.
func (k *Kiosk) remoteOpen(ctx context.Context, s *session) {
	if ctx.Err() != nil {
		k.finish(ctx, s, failed(ReasonShutdown))
		return
	}
	k.log.Info("remote open", "source", s.id.Source, "by", s.id.UserID, "reason", clip(s.id.remote.Reason))
	k.finish(ctx, s, outcome{decision: record.DecisionGranted, reasons: []string{ReasonRemoteOpen}, message: coaching[ReasonRemoteOpen]})
}

// awaitFace waits for the selection under the identity and capture
// timeouts; ok is false with the outcome when there is no face to send.
func (k *Kiosk) awaitFace(ctx context.Context, s *session, sel *selection) (outcome, bool) {
	timer := time.NewTimer(s.identity.Timeout)
	defer timer.Stop()
	capturing := false
	timeoutReason := ReasonTimeout
	onCapturing := func(at time.Time) {
		capturing = true
		s.capturingAt = at
		timer.Reset(s.identity.CaptureTimeout)
		timeoutReason = ReasonCaptureTimeout
		k.setState(StateCapturing, msgCapturing, nil)
	}
	if _, c, at := sel.progress(); c {
		onCapturing(at)
	}
	lastMsg, lastBox := "", (*Box)(nil)
	for {
		select {
		case <-ctx.Done():
			sel.stop()
			return failed(ReasonShutdown), false
		case <-timer.C:
			sel.stop()
			return failed(timeoutReason), false
		case <-sel.notify:
			p, c, at := sel.progress()
			if c && !capturing {
				onCapturing(at)
			}
			b := box(p)
			msg := coachCapture(p.Reason)
			if c {
				msg = msgCapturing
			}
			if msg == lastMsg && equalBox(b, lastBox) {
				continue // nothing new for the page
			}
			lastMsg, lastBox = msg, b
			k.updateStatus(func(st *Status) { st.Box, st.Message = b, msg })
		case <-sel.done:
			if ctx.Err() != nil {
				return failed(ReasonShutdown), false
			}
			if sel.err != nil {
				if errors.Is(sel.err, ErrNoFace) {
					return failed(ReasonNoFace), false
				}
				k.log.Warn("face selection failed", "err", sel.err)
				return failed(ReasonCameraError), false
			}
			f := sel.face
			if len(f.JPEG) == 0 || f.CapturedAt.IsZero() {
				k.log.Error("face selector returned an empty face")
				return failed(ReasonCameraError), false
			}
			if s.capturingAt.IsZero() {
				s.capturingAt = f.CapturedAt
			}
			s.face, s.faceAt = &f, k.now()
			return outcome{}, true
		}
	}
}

// authenticate applies the tailgating guard, calls the API and applies the
// local policy to its answer.
func (k *Kiosk) authenticate(ctx context.Context, s *session) outcome {
	p := s.policy
	if p.MaxFaces > 0 && s.face.Faces > p.MaxFaces {
		return denied(ReasonTailgating)
	}
	// liveness: the challenge stays on the screen while the API works (kiosk/liveness.go).
	if !k.pad.showing.Load() {
		k.setState(StateAuthenticating, msgChecking, nil)
	}
	actx, cancel := context.WithTimeout(ctx, k.apiTimeout+time.Second)
	defer cancel()
	s.apiStart = k.now()
	res, err := k.deps.Authenticator.Authenticate(actx, faceauth.Request{
		SubmissionID: s.id.SubmissionID,
		UserID:       s.id.UserID,
		Image:        s.face.JPEG,
	})
	s.apiDur = k.now().Sub(s.apiStart)
	k.metrics.apiLatency.Observe(s.apiDur.Seconds())
	if ctx.Err() != nil {
		return failed(ReasonShutdown)
	}
	if err != nil {
		return k.apiFailure(err)
	}
	if res == nil {
		return failed(ReasonInvalidResult)
	}
	if err := res.Consistent(); err != nil {
		// The client refuses these already; a result that gets here anyway
		// (another Authenticator) must not open either, nor be encoded.
		k.log.Error("FaceAuth API answer is malformed", "err", err, "auth_status", clip(res.Status))
		f := failed(ReasonInvalidResult)
		f.alert, f.alertMsg = AlertAPIInvalidResponse, "FaceAuth answer refused: "+clip(err.Error())
		return f
	}
	o := outcome{auth: authOf(res)}
	switch res.Status {
	case faceauth.StatusApproved:
	case faceauth.StatusRejected:
		for _, fc := range res.FailCodes {
			k.metrics.failCode(fc)
			o.reasons = append(o.reasons, failReason(fc))
		}
		if len(o.reasons) == 0 {
			o.reasons = []string{ReasonRejected}
		}
		o.decision, o.message = record.DecisionDenied, coachReasons(o.reasons, fallbackDenied)
		return o
	default:
		k.log.Warn("API answered neither approved nor rejected", "auth_status", clip(res.Status))
		f := failed(ReasonInvalidResult)
		f.auth = o.auth
		return f
	}
	if !res.Approved() {
		f := failed(ReasonInvalidResult)
		f.auth = o.auth
		return f
	}
	// Approved by the API: the local policy may still say no.
	var reasons []string
	reasons = append(reasons, scoreChecks(p.MinScores, res.Scores)...)
	now := k.now()
	if age := now.Sub(s.face.CapturedAt); !(age <= p.MaxAge) {
		reasons = append(reasons, ReasonStaleApproval)
	}
	if p.RequireBroker && k.deps.Broker != nil && !k.deps.Broker.Connected() {
		reasons = append(reasons, ReasonBrokerDown)
	}
	soft := false
	if p.AntiPassback.Mode != "off" && k.passback.check(s.id.SubmissionID, now, p.AntiPassback.Window) {
		if p.AntiPassback.Mode == "hard" {
			reasons = append(reasons, ReasonAntiPassback)
		} else {
			soft = true
		}
	}
	if len(reasons) > 0 {
		o.decision, o.reasons, o.message = record.DecisionDenied, reasons, coachReasons(reasons, fallbackDenied)
		return o
	}
	o.decision, o.reasons = record.DecisionGranted, []string{ReasonApproved}
	if soft {
		o.reasons = append(o.reasons, ReasonAntiPassbackSoft)
	}
	o.message = coaching[ReasonApproved]
	return o
}

// apiFailure turns an Authenticate error into the session's outcome: an
// identity problem denies, everything else is an error; configuration and
// client problems also alert the operator.
func (k *Kiosk) apiFailure(err error) outcome {
	var ae *faceauth.APIError
	class := faceauth.ClassTransient
	me := &record.Error{Code: "unknown", Class: string(class), Message: clip(err.Error())}
	if errors.As(err, &ae) {
		class = ae.Class
		if class == "" {
			class = faceauth.ClassTransient
		}
		me = &record.Error{Code: ae.Code, Class: string(class), Message: ae.Message, HTTPStatus: ae.HTTPStatus, TraceID: ae.TraceID}
	}
	k.metrics.apiError(string(class))
	reason := ReasonAPIPrefix + string(class)
	o := outcome{decision: record.DecisionError, reasons: []string{reason}, err: me}
	// The code's own text is more precise than the class's when known.
	if m, ok := Coach(me.Code); ok && class != faceauth.ClassTransient {
		o.message = m
	} else {
		o.message = coachReasons(o.reasons, fallbackError)
	}
	switch class {
	case faceauth.ClassIdentity:
		o.decision = record.DecisionDenied
	case faceauth.ClassConfig, faceauth.ClassClient:
		o.alert = reason
		k.log.Error("FaceAuth API refused the gate's configuration or request", "code", me.Code, "class", me.Class, "http_status", me.HTTPStatus, "trace_id", me.TraceID, "err", err)
	case faceauth.ClassTransient:
		if me.Code != faceauth.CodeInvalidResponse {
			k.log.Warn("FaceAuth API call failed", "code", me.Code, "class", me.Class, "http_status", me.HTTPStatus, "err", err)
			break
		}
		// A malformed or self-contradictory answer (a NaN score, an
		// approval with a fail code): never a grant, and an operator
		// should know.
		o.alert = AlertAPIInvalidResponse
		k.log.Error("FaceAuth API answer is malformed", "code", me.Code, "http_status", me.HTTPStatus, "trace_id", me.TraceID, "err", err)
	default:
		k.log.Warn("FaceAuth API call failed", "code", me.Code, "class", me.Class, "http_status", me.HTTPStatus, "err", err)
	}
	return o
}

func authOf(r *faceauth.Result) *record.Auth {
	a := &record.Auth{
		AuthenticationID: r.AuthenticationID,
		AuthStatus:       r.Status,
		Score: record.Score{
			FaceSimilarity: r.Scores.FaceSimilarity,
			Occluded:       r.Scores.Occluded,
			FaceCover:      r.Scores.FaceCover,
			HeadCover:      r.Scores.HeadCover,
		},
		RejectedComment: r.Comments,
	}
	if !r.CreateTime.IsZero() {
		a.CreateTime = record.Timestamp(r.CreateTime)
	}
	for _, fc := range r.FailCodes {
		a.FailCode = append(a.FailCode, string(fc))
	}
	return a
}

// cooldown keeps the result on the screen and refuses identities for
// policy.cooldown.
func (k *Kiosk) cooldown(ctx context.Context) {
	d := k.settings().policy.Cooldown
	if d <= 0 {
		return
	}
	k.updateStatus(func(s *Status) { s.State, s.Since = StateCooldown, k.now().UTC() })
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
