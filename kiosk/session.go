package kiosk

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// session is one worker's attempt, from identified to its event.
type session struct {
	id          Identity
	policy      PolicyOptions
	identity    IdentityOptions
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
	site         sessionSite // kiosk/site.go
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
	// noRelay: a grant that opens nothing (a muster check-in, kiosk/site.go)
	noRelay bool
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
	if o, ok := k.siteGate(s); !ok { // an evacuation; a muster kiosk outside one (kiosk/site.go)
		k.finish(ctx, s, o)
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
		if k.revoked(s) { // a reload while the worker came to the camera: nothing goes to the API
			k.finish(ctx, s, denied(ReasonIdentityRevoked))
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

// revoked reports whether the session's identity no longer holds under
// the settings of now: a reload took its badge out of the roster (or gave
// it to someone else), changed the fixed identity, or turned its source
// off. A session keeps the policy it started with, but not a credential
// the operator revoked while it ran.
func (k *Kiosk) revoked(s *session) bool {
	id, was, now := s.id, s.identity, k.settings().identity
	switch {
	case id.remote != nil:
		return false // a verified command, not an identity
	case id.badge != "":
		// The badge's own source too: until 2026-12-07 a badge that came
		// over identify or a QR code outlived that source turned off.
		e, ok := k.settings().roster.Lookup(id.badge)
		return !ok || e.SubmissionID != id.SubmissionID || sourceTurnedOff(id.via, false, was, now)
	case id.Source == SourceFixed:
		return now.Fixed.SubmissionID != id.SubmissionID
	}
	if _, ok := k.settings().roster.Binds(id.SubmissionID, id.UserID); !ok {
		return true // a reload gave the claimed user id to another submission
	}
	return sourceTurnedOff(id.Source, true, was, now)
}

// sourceTurnedOff reports whether a reload turned off what let an identity
// in from source (for a submission id, QR codes also need allow_submission).
func sourceTurnedOff(source string, submission bool, was, now IdentityOptions) bool {
	switch source {
	case SourceQR:
		on := func(o QROptions) bool { return o.Enabled && (!submission || o.AllowSubmission) }
		return on(was.QR) && !on(now.QR)
	case SourceHTTP:
		return was.HTTP.Enabled && !now.HTTP.Enabled
	}
	return false
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
	if k.stale(s, now) {
		reasons = append(reasons, ReasonStaleApproval)
	}
	if k.revoked(s) {
		reasons = append(reasons, ReasonIdentityRevoked)
	}
	// A muster check-in opens nothing: the broker and anti-passback rules
	// guard a door, and must never block a check-in at the assembly point
	// (a broker outage during an evacuation). The attempts limit still
	// applies: it bounds the API calls, which a check-in makes too.
	door := !k.sitest.muster
	if door && p.RequireBroker && k.deps.Broker != nil && !k.deps.Broker.Connected() {
		reasons = append(reasons, ReasonBrokerDown)
	}
	soft := false
	if door && p.AntiPassback.Mode != "off" && k.passback.check(s.id.SubmissionID, now, p.AntiPassback.Window) {
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
	if so, ok := k.sitePolicy(s, now); ok { // the site's verdict, or a muster check-in (kiosk/site.go)
		so.auth = o.auth
		if soft && so.decision == record.DecisionGranted {
			so.reasons = append(so.reasons, ReasonAntiPassbackSoft)
		}
		return so
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
