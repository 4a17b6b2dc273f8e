package kiosk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

var worker = Identity{SubmissionID: "sub-123", UserID: "u-1", Source: SourceHTTP}

func TestSessionOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(r *rig)
		cfg       func(c *Options)
		decision  record.Decision
		reason    string // must be among the event's reasons
		message   string
		apiCalls  int
		alert     string
		wantError string // event.error.class
		relay     string // the relay result of a grant; pulsed when empty
	}{
		{name: "granted pulses once", decision: record.DecisionGranted, reason: ReasonApproved, message: "Welcome", apiCalls: 1},
		{name: "not recognised", setup: func(r *rig) { r.auth.res = rejected(faceauth.FailFaceCompare) },
			decision: record.DecisionDenied, reason: "face_compare_underscore", message: "Not recognised", apiCalls: 1},
		{name: "hard hat missing wins over similarity", setup: func(r *rig) { r.auth.res = rejected(faceauth.FailFaceCompare, "HEAD_COVER_FAIL") },
			decision: record.DecisionDenied, reason: "head_cover_fail", message: "Put on your hard hat", apiCalls: 1},
		{name: "occluded", setup: func(r *rig) { r.auth.res = rejected(faceauth.FailOccluded) },
			decision: record.DecisionDenied, reason: "face_occluded_fail", message: "Uncover your face", apiCalls: 1},
		{name: "unknown fail code", setup: func(r *rig) { r.auth.res = rejected("brand_new_fail") },
			decision: record.DecisionDenied, reason: "brand_new_fail", message: "Not recognised", apiCalls: 1},
		{name: "rejected without code", setup: func(r *rig) { r.auth.res = rejected() },
			decision: record.DecisionDenied, reason: ReasonRejected, message: "Not recognised", apiCalls: 1},
		{name: "submission not approved", setup: func(r *rig) {
			r.auth.err = apiErr(faceauth.CodeInvalidSubmissionStatus, faceauth.ClassIdentity)
		}, decision: record.DecisionDenied, reason: "api_identity", message: "Your registration is not approved — see the site office", apiCalls: 1, wantError: "identity"},
		{name: "unknown submission", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeInvalidSubmissionID, faceauth.ClassIdentity) },
			decision: record.DecisionDenied, reason: "api_identity", message: "Your badge is not registered — see the site office", apiCalls: 1, wantError: "identity"},
		{name: "wrong key alerts the operator", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeInvalidProjectID, faceauth.ClassConfig) },
			decision: record.DecisionError, reason: "api_config", message: "Gate not set up — see the site office", apiCalls: 1, alert: "api_config", wantError: "config"},
		{name: "client bug alerts the operator", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeInvalidDataFormat, faceauth.ClassClient) },
			decision: record.DecisionError, reason: "api_client", message: "Gate error — see the site office", apiCalls: 1, alert: "api_client", wantError: "client"},
		{name: "recapture twice", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeNoFace, faceauth.ClassRecapture) },
			decision: record.DecisionError, reason: "api_recapture", message: "Look at the camera", apiCalls: 2, wantError: "recapture"},
		{name: "recapture then approved", setup: func(r *rig) { r.auth.first = []error{apiErr(faceauth.CodeImageProcessing, faceauth.ClassRecapture)} },
			decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 2},
		{name: "transient", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeDetectionServer, faceauth.ClassTransient) },
			decision: record.DecisionError, reason: "api_transient", message: "Service unavailable — try again", apiCalls: 1, wantError: "transient"},
		{name: "foreign error is transient", setup: func(r *rig) { r.auth.err = errors.New("boom") },
			decision: record.DecisionError, reason: "api_transient", message: "Service unavailable — try again", apiCalls: 1, wantError: "transient"},
		{name: "status neither approved nor rejected", setup: func(r *rig) { r.auth.res = &faceauth.Result{Status: "pending"} },
			decision: record.DecisionError, reason: ReasonInvalidResult, message: "Service unavailable — try again", apiCalls: 1},
		{name: "nil result", setup: func(r *rig) { r.auth.res = nil },
			decision: record.DecisionError, reason: ReasonInvalidResult, apiCalls: 1},
		{name: "no face shown in time", setup: func(r *rig) { r.sel.hangBefore = true; r.sel.reasons = []string{"too_small"} },
			decision: record.DecisionError, reason: ReasonTimeout, message: "No face seen — scan your badge again"},
		{name: "capture never ends", setup: func(r *rig) { r.sel.hangAfter = true },
			decision: record.DecisionError, reason: ReasonCaptureTimeout},
		{name: "camera lost", setup: func(r *rig) { r.sel.err = errCamera },
			decision: record.DecisionError, reason: ReasonCameraError, message: "Camera unavailable — see the site office"},
		{name: "window without usable face", setup: func(r *rig) { r.sel.err = ErrNoFace },
			decision: record.DecisionError, reason: ReasonNoFace},
		{name: "stale approval does not open", setup: func(r *rig) { r.auth.delay = 6 * time.Second },
			decision: record.DecisionDenied, reason: ReasonStaleApproval, message: "Too slow — try again", apiCalls: 1},
		{name: "tailgating denies without calling the API", setup: func(r *rig) { r.sel.faces = 2 },
			decision: record.DecisionDenied, reason: ReasonTailgating, message: "One person at a time"},
		{name: "tailgating guard off", setup: func(r *rig) { r.sel.faces = 3 }, cfg: func(c *Options) { c.Policy.MaxFaces = 0 },
			decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 1},
		{name: "head cover below local minimum", cfg: func(c *Options) { c.Policy.MinScores.HeadCover = 90 },
			decision: record.DecisionDenied, reason: "head_cover_below_minimum", message: "Put on your hard hat", apiCalls: 1},
		{name: "required score absent", setup: func(r *rig) { r.auth.res.Scores.HeadCover = nil }, cfg: func(c *Options) { c.Policy.MinScores.HeadCover = 50 },
			decision: record.DecisionDenied, reason: "head_cover_missing", apiCalls: 1},
		{name: "broker required and down", setup: func(r *rig) { r.brk.connected = false }, cfg: func(c *Options) {
			c.Policy.RequireBroker = true
		},
			decision: record.DecisionDenied, reason: ReasonBrokerDown, apiCalls: 1},
		// The grant is recorded before the relay moves; its relay result says
		// it never energised, and the screen shows the failure.
		{name: "relay failure is an error and an alert", setup: func(r *rig) { r.relay.err = errors.New("gpio busy") },
			decision: record.DecisionGranted, reason: ReasonApproved, apiCalls: 1, alert: ReasonRelayFailed, relay: record.RelayNotEnergised},
		// Fail closed on doubt: a malformed answer never opens.
		{name: "NaN score from the authenticator", setup: func(r *rig) { r.auth.res.Scores.FaceSimilarity = f64(math.NaN()) },
			decision: record.DecisionError, reason: ReasonInvalidResult, apiCalls: 1, alert: AlertAPIInvalidResponse},
		{name: "infinite score from the authenticator", setup: func(r *rig) { r.auth.res.Scores.HeadCover = f64(math.Inf(1)) },
			decision: record.DecisionError, reason: ReasonInvalidResult, apiCalls: 1, alert: AlertAPIInvalidResponse},
		{name: "approval with a fail code", setup: func(r *rig) { r.auth.res.FailCodes = []faceauth.FailCode{faceauth.FailHeadCover} },
			decision: record.DecisionError, reason: ReasonInvalidResult, apiCalls: 1, alert: AlertAPIInvalidResponse},
		{name: "malformed answer alerts the operator", setup: func(r *rig) { r.auth.err = apiErr(faceauth.CodeInvalidResponse, faceauth.ClassTransient) },
			decision: record.DecisionError, reason: "api_transient", apiCalls: 1, alert: AlertAPIInvalidResponse, wantError: "transient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				if tc.cfg != nil {
					tc.cfg(cfg)
				}
				r := newRig(t, cfg)
				if tc.setup != nil {
					tc.setup(r)
				}
				decisions := r.k.hub.subscribe()
				stop := r.start(t)
				if err := r.k.Identify(worker); err != nil {
					t.Fatal(err)
				}
				require.Eventually(t, func() bool { return len(r.events()) > 0 }, time.Minute, 100*time.Millisecond)
				time.Sleep(time.Minute) // anything late would show now
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs, _, alerts := r.pub.snapshot()
				if len(evs) != 1 {
					t.Fatalf("%d events, want exactly 1: %+v", len(evs), evs)
				}
				ev := evs[0]
				if ev.Decision != tc.decision || !slices.Contains(ev.Reason, tc.reason) {
					t.Errorf("decision %s %v, want %s with %s", ev.Decision, ev.Reason, tc.decision, tc.reason)
				}
				if tc.message != "" && ev.Message != tc.message {
					t.Errorf("message %q, want %q", ev.Message, tc.message)
				}
				wantPulses, wantRelay, results := 0, 0, r.pub.relayResults()
				if tc.decision == record.DecisionGranted {
					wantRelay = 1
					if tc.relay == "" {
						wantPulses = 1
						tc.relay = record.RelayPulsed
					}
					if ev.Relay != record.RelayPending {
						t.Errorf("relay %q, want pending (the event is written before the relay moves)", ev.Relay)
					}
					if len(results) != 1 || results[0].EventID != ev.EventID || results[0].Relay != tc.relay {
						t.Errorf("relay results %+v, want one %s for %s", results, tc.relay, ev.EventID)
					}
				} else if ev.Relay != "" || len(results) != 0 {
					t.Errorf("relay %q and results %+v on a %s", ev.Relay, results, ev.Decision)
				}
				if got := r.relay.count(); got != wantPulses {
					t.Errorf("%d relay pulses, want %d", got, wantPulses)
				}
				if n := auditRelayLines(t, cfg.StateDir); n != wantRelay {
					t.Errorf("%d relay results in the audit log, want %d", n, wantRelay)
				}
				if got := r.auth.calls(); got != tc.apiCalls {
					t.Errorf("%d API calls, want %d", got, tc.apiCalls)
				}
				if tc.alert == "" && len(alerts) != 0 {
					t.Errorf("unexpected alerts %+v", alerts)
				}
				if tc.alert != "" && (len(alerts) != 1 || alerts[0].Code != tc.alert || alerts[0].EventID != ev.EventID) {
					t.Errorf("alerts %+v, want one %s for %s", alerts, tc.alert, ev.EventID)
				}
				if tc.wantError != "" && (ev.Error == nil || ev.Error.Class != tc.wantError) {
					t.Errorf("event error %+v, want class %s", ev.Error, tc.wantError)
				}
				if ev.SubmissionID != worker.SubmissionID || ev.UserID != worker.UserID || ev.IdentitySource != SourceHTTP {
					t.Errorf("identity fields %q %q %q", ev.SubmissionID, ev.UserID, ev.IdentitySource)
				}
				if ev.Seq != 1 || !uuidRE.MatchString(ev.EventID) || ev.Site != cfg.Site || ev.Gate != cfg.Gate {
					t.Errorf("numbering: seq %d id %q site %q gate %q", ev.Seq, ev.EventID, ev.Site, ev.Gate)
				}
				if _, err := time.Parse(time.RFC3339Nano, ev.TS); err != nil {
					t.Errorf("ts %q: %v", ev.TS, err)
				}
				if n := auditLines(t, cfg.StateDir); n != 1 {
					t.Errorf("%d audit lines, want 1", n)
				}
				if n := countSSE(decisions, "decision"); n != 1 {
					t.Errorf("%d decision events on the page, want 1", n)
				}
			})
		})
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// auditLines counts the decision records of the audit log (relay results
// are counted by auditRelayLines).
func auditLines(t *testing.T, stateDir string) int {
	events, _ := auditRecords(t, stateDir)
	return events
}

func auditRelayLines(t *testing.T, stateDir string) int {
	_, relays := auditRecords(t, stateDir)
	return relays
}

func auditRecords(t *testing.T, stateDir string) (events, relays int) {
	t.Helper()
	f, err := os.Open(filepath.Join(stateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"kind":"relay"`) {
			relays++
		} else {
			events++
		}
	}
	return events, relays
}

// countSSE drains a hub channel (closed by Run's end) and counts one event name.
func countSSE(c chan []byte, event string) int {
	n := 0
	for msg := range c {
		if strings.HasPrefix(string(msg), "event: "+event+"\n") {
			n++
		}
	}
	return n
}

func TestGrantedEventCarriesScoresAndLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		stop := r.start(t)
		start := time.Now()
		if err := r.k.Identify(worker); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { return len(r.events()) > 0 }, time.Minute, 100*time.Millisecond)
		stop()
		ev := r.events()[0]
		if ev.Auth == nil || ev.Auth.AuthenticationID != "auth-1" || ev.Auth.AuthStatus != "approved" ||
			ev.Auth.Score.HeadCover == nil || *ev.Auth.Score.HeadCover != 87 || ev.Auth.CreateTime != "2026-01-02T03:04:05.000Z" {
			t.Errorf("auth %+v", ev.Auth)
		}
		// fake time: 600 ms window, 800 ms API, chosen frame in the middle of the window
		if ev.LatencyMS.API != 800 || ev.LatencyMS.Capture != 600 || ev.LatencyMS.Total != 1400 || ev.AgeMS != 1100 || ev.Faces != 1 {
			t.Errorf("latency %+v age %d faces %d", ev.LatencyMS, ev.AgeMS, ev.Faces)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("decision took %s of fake time", time.Since(start))
		}
		req := r.auth.reqs[0]
		if req.SubmissionID != "sub-123" || req.UserID != "u-1" || len(req.Image) == 0 {
			t.Errorf("request %+v", req)
		}
	})
}

func TestStatesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		stop := r.start(t)
		r.k.Identify(worker)
		require.Eventually(t, func() bool { return len(r.events()) > 0 }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		stop()
		_, states, _ := r.pub.snapshot()
		want := []State{StateIdle, StateIdentified, StateCapturing, StateAuthenticating, StateGranted, StateCooldown, StateIdle, StateStopped}
		if !slices.Equal(states, want) {
			t.Errorf("states %v, want %v", states, want)
		}
	})
}

func TestOneSessionAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		if err := r.k.Identify(worker); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("before Run: %v, want ErrNotRunning", err)
		}
		stop := r.start(t)
		if err := r.k.Identify(worker); err != nil {
			t.Fatal(err)
		}
		other := Identity{SubmissionID: "other", Source: SourceMQTT}
		if err := r.k.Identify(other); !errors.Is(err, ErrBusy) {
			t.Fatalf("second identify right away: %v, want ErrBusy", err)
		}
		require.Eventually(t, func() bool { return r.k.Status().State == StateAuthenticating }, time.Minute, 100*time.Millisecond)
		if err := r.k.Identify(other); !errors.Is(err, ErrBusy) {
			t.Fatalf("during authentication: %v, want ErrBusy", err)
		}
		require.Eventually(t, func() bool { return r.k.Status().State == StateCooldown }, time.Minute, 100*time.Millisecond)
		if err := r.k.Identify(other); !errors.Is(err, ErrBusy) {
			t.Fatalf("during cooldown: %v, want ErrBusy", err)
		}
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
		if err := r.k.Identify(other); err != nil {
			t.Fatalf("after cooldown: %v", err)
		}
		require.Eventually(t, func() bool { return len(r.events()) == 2 }, time.Minute, 100*time.Millisecond)
		stop()
		if err := r.k.Identify(worker); !errors.Is(err, ErrNotRunning) {
			t.Fatalf("after Run: %v, want ErrNotRunning", err)
		}
		evs := r.events()
		if len(evs) != 2 || evs[1].SubmissionID != "other" || evs[1].Seq != 2 || r.relay.count() != 2 {
			t.Fatalf("events %+v, pulses %d", evs, r.relay.count())
		}
		if err := r.k.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
			t.Errorf("second Run: %v", err)
		}
	})
}

func TestShutdownMidSessionFailsClosed(t *testing.T) {
	for _, at := range []State{StateIdentified, StateCapturing, StateAuthenticating} {
		t.Run(string(at), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, nil)
				switch at {
				case StateIdentified:
					r.sel.hangBefore = true
				case StateCapturing:
					r.sel.hangAfter = true
				case StateAuthenticating:
					r.auth.block = true
				}
				stop := r.start(t)
				r.k.Identify(worker)
				require.Eventually(t, func() bool { return r.k.Status().State == at }, time.Minute, 100*time.Millisecond)
				time.Sleep(500 * time.Millisecond)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs := r.events()
				if len(evs) != 1 || evs[0].Decision != record.DecisionError || !slices.Equal(evs[0].Reason, []string{ReasonShutdown}) {
					t.Fatalf("events %+v, want one error/shutdown", evs)
				}
				if r.relay.count() != 0 {
					t.Fatal("relay pulsed during shutdown")
				}
				if s := r.k.Status(); s.State != StateStopped {
					t.Errorf("state %s after Run, want stopped", s.State)
				}
			})
		})
	}
}

func TestAntiPassback(t *testing.T) {
	tests := []struct {
		mode      string
		wait      time.Duration
		decision  record.Decision
		reason    string
		wantPulse int
	}{
		{"hard", 10 * time.Second, record.DecisionDenied, ReasonAntiPassback, 1},
		{"soft", 10 * time.Second, record.DecisionGranted, ReasonAntiPassbackSoft, 2},
		{"hard", 2 * time.Minute, record.DecisionGranted, ReasonApproved, 2}, // window passed
		{"off", 10 * time.Second, record.DecisionGranted, ReasonApproved, 2},
	}
	for _, tc := range tests {
		t.Run(tc.mode+"/"+tc.wait.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Policy.AntiPassback = AntiPassback{Mode: tc.mode, Window: time.Minute}
				r := newRig(t, cfg)
				stop := r.start(t)
				r.k.Identify(worker)
				require.Eventually(t, func() bool { return r.k.Status().State == StateIdle && len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
				time.Sleep(tc.wait)
				r.identify(t, worker, 2)
				stop()
				ev := r.events()[1]
				if ev.Decision != tc.decision || !slices.Contains(ev.Reason, tc.reason) || r.relay.count() != tc.wantPulse {
					t.Errorf("second: %s %v, %d pulses; want %s %s %d", ev.Decision, ev.Reason, r.relay.count(), tc.decision, tc.reason, tc.wantPulse)
				}
			})
		})
	}
}

func TestAttemptsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Attempts = Limit{Max: 2, Per: time.Minute}
		r := newRig(t, cfg)
		r.auth.res = rejected(faceauth.FailFaceCompare)
		stop := r.start(t)
		for i := 1; i <= 3; i++ {
			if err := r.k.Identify(worker); err != nil {
				t.Fatal(err)
			}
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle && len(r.events()) == i }, time.Minute, 100*time.Millisecond)
		}
		if ev := r.events()[2]; ev.Decision != record.DecisionDenied || !slices.Equal(ev.Reason, []string{ReasonRateLimited}) {
			t.Errorf("third attempt: %s %v", ev.Decision, ev.Reason)
		}
		if r.auth.calls() != 2 || r.sel.calls != 2 {
			t.Errorf("%d API calls, %d selections; want 2 and 2", r.auth.calls(), r.sel.calls)
		}
		// another worker is not limited; the first is free again after the window
		r.k.Identify(Identity{SubmissionID: "other", Source: SourceHTTP})
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle && len(r.events()) == 4 }, time.Minute, 100*time.Millisecond)
		time.Sleep(time.Minute)
		r.k.Identify(worker)
		require.Eventually(t, func() bool { return r.k.Status().State == StateIdle && len(r.events()) == 5 }, time.Minute, 100*time.Millisecond)
		stop()
		if r.auth.calls() != 4 {
			t.Errorf("%d API calls, want 4", r.auth.calls())
		}
	})
}

func TestFixedIdentityStartsOnAFace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Identity.Fixed = FixedIdentity{SubmissionID: "solo", UserID: "me", DisplayName: "Ana"}
		r := newRig(t, cfg)
		r.sel.reasons = []string{"no_face", "no_face", "too_small", "too_small", "too_small"}
		stop := r.start(t)
		if m := r.k.Status().Message; m != msgIdleFixed {
			t.Errorf("idle message %q", m)
		}
		require.Eventually(t, func() bool { return r.k.Status().Message == "Come closer" }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { return len(r.events()) >= 1 }, time.Minute, 100*time.Millisecond)
		stop()
		ev := r.events()[0]
		if ev.Decision != record.DecisionGranted || ev.SubmissionID != "solo" || ev.IdentitySource != SourceFixed || ev.UserID != "me" {
			t.Errorf("event %+v", ev)
		}
	})
}

func TestRemoteOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		stop := r.start(t)
		if err := r.k.RemoteOpen(RemoteOpen{Source: SourceMQTT, By: "ops", Reason: "delivery"}); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
		stop()
		ev := r.events()[0]
		if ev.Decision != record.DecisionGranted || !slices.Equal(ev.Reason, []string{ReasonRemoteOpen}) || ev.UserID != "ops" || ev.Relay != record.RelayPending || r.relay.count() != 1 {
			t.Errorf("event %+v pulses %d", ev, r.relay.count())
		}
		if r.auth.calls() != 0 || r.sel.calls != 0 {
			t.Error("remote open ran a face check")
		}
	})
}

func TestSeqPersistsAcrossRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		ids := map[string]bool{}
		var seqs []uint64
		for run := 0; run < 2; run++ {
			r := newRig(t, cfg)
			stop := r.start(t)
			for i := 1; i <= 2; i++ {
				r.k.Identify(worker)
				require.Eventually(t, func() bool { return r.k.Status().State == StateIdle && len(r.events()) == i }, time.Minute, 100*time.Millisecond)
			}
			stop()
			for _, ev := range r.events() {
				ids[ev.EventID] = true
				seqs = append(seqs, ev.Seq)
			}
		}
		if !slices.Equal(seqs, []uint64{1, 2, 3, 4}) || len(ids) != 4 {
			t.Errorf("seqs %v, %d distinct ids", seqs, len(ids))
		}
		if n := auditLines(t, cfg.StateDir); n != 4 {
			t.Errorf("%d audit lines, want 4", n)
		}
	})
}

func TestCorruptSeqFileRefusesToStart(t *testing.T) {
	cfg := testConfig(t)
	os.MkdirAll(filepath.Join(cfg.StateDir, "kiosk"), 0o750)
	os.WriteFile(filepath.Join(cfg.StateDir, "kiosk", "seq"), []byte("12x"), 0o640)
	_, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err %v, want a corrupt-sequence error", err)
	}
}

func TestCoachingWhileLooking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.sel.reasons = []string{"too_small"}
		r.sel.hangBefore = true
		stop := r.start(t)
		named := worker
		named.DisplayName = "Ana"
		r.k.Identify(named)
		require.Eventually(t, func() bool { return r.k.Status().Message == "Come closer" }, time.Minute, 100*time.Millisecond)
		if n := r.k.Status().Name; n != "Ana" {
			t.Errorf("name %q while identified", n)
		}
		if b := r.k.Status().Box; b == nil || b.X <= 0 || b.W <= 0 || b.X+b.W > 1 {
			t.Errorf("box %+v", b)
		}
		stop()
	})
}

func TestFixedIdentityWaitsOutTheRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Identity.Fixed = FixedIdentity{SubmissionID: "solo"}
		cfg.Policy.Attempts = Limit{Max: 2, Per: time.Minute}
		r := newRig(t, cfg)
		r.auth.res = rejected(faceauth.FailFaceCompare)
		stop := r.start(t)
		require.Eventually(t, func() bool { return len(r.events()) == 2 }, time.Minute, 100*time.Millisecond)
		require.Eventually(t, func() bool { return r.k.Status().Message == coaching[ReasonRateLimited] }, time.Minute, 100*time.Millisecond)
		time.Sleep(20 * time.Second)
		if n := len(r.events()); n != 2 {
			t.Fatalf("%d events while rate limited, want 2 (no denial spam)", n)
		}
		require.Eventually(t, func() bool { return len(r.events()) == 3 }, time.Minute, 100*time.Millisecond)
		stop()
		for _, ev := range r.events() {
			if slices.Contains(ev.Reason, ReasonRateLimited) {
				t.Errorf("fixed identity produced a rate_limited event: %+v", ev)
			}
		}
	})
}

func TestAuditAndEventsHashSubmissionIDByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Privacy = record.PrivacyHash // the default
		r := newRig(t, cfg)
		stop := r.start(t)
		r.k.Identify(worker)
		require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
		stop()
		b, err := os.ReadFile(filepath.Join(cfg.StateDir, "audit", auditName))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), worker.SubmissionID) || !strings.Contains(string(b), `"submission_id":"sha256:`) {
			t.Errorf("audit line: %s", b)
		}
		if ev := r.events()[0]; !strings.HasPrefix(ev.SubmissionID, "sha256:") {
			t.Errorf("event submission id %q", ev.SubmissionID)
		}
		if strings.Contains(string(b), "jpeg") {
			t.Error("image bytes in the audit log")
		}
	})
}

func TestHealthLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		var got []Health
		pub := &fakePublisher{}
		k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub,
			Pinger: fakePinger{err: apiErr(faceauth.CodeInvalidProjectID, faceauth.ClassConfig)}, Logger: quietLogger(),
			OnHealth: func(h Health) { got = append(got, h) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx) }()
		time.Sleep(cfg.Page.HealthInterval*2 + time.Second)
		cancel()
		<-done
		if len(got) != 3 || len(pub.health) != 3 {
			t.Fatalf("%d self-tests, %d published; want 3 in two intervals", len(got), len(pub.health))
		}
		h := got[0]
		if h.Status != HealthDown || h.Checks["api"].Status != HealthDown || !strings.HasPrefix(h.Checks["api"].Detail, "configuration:") || h.Checks["camera"].Status != "absent" {
			t.Errorf("health %+v", h)
		}
		if k.Status().Health != HealthDown {
			t.Errorf("status health %q", k.Status().Health)
		}
	})
}

// A wake signal whose identity was already claimed (an identity that raced
// with a fixed-identity face) must not end Run.
func TestStaleWakeIsIgnored(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(map[bool]string{false: "badge", true: "fixed"}[fixed], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				r := newRig(t, cfg)
				if fixed {
					cfg.Identity.Fixed.SubmissionID = "solo"
					r.k.Reload(*cfg)
					r.sel.hangBefore = true
				}
				r.k.wake <- struct{}{}
				stop := r.start(t)
				time.Sleep(5 * time.Second)
				if err := r.k.Identify(worker); err != nil {
					t.Fatalf("identify after a stale wake: %v", err)
				}
				require.Eventually(t, func() bool { return len(r.events()) == 1 }, time.Minute, 100*time.Millisecond)
				stop()
				if ev := r.events()[0]; ev.SubmissionID != worker.SubmissionID {
					t.Errorf("event for %q", ev.SubmissionID)
				}
			})
		})
	}
}

// A pulse that energised the line and was then cut or left stuck still
// unlocked the gate: the grant stands and the passback is recorded; the
// relay result that follows the event says how the pulse ended.
func TestRelayEnergisedThenCutOrFault(t *testing.T) {
	tests := []struct {
		name  string
		after error
		relay string
		alert string
	}{
		{name: "whole pulse", relay: record.RelayPulsed},
		{name: "cancelled mid-pulse", after: context.Canceled, relay: record.RelayCut},
		{name: "halted", after: errors.New("relay halted"), relay: record.RelayCut},
		{name: "cancelled and stuck", after: errors.Join(context.Canceled, fmt.Errorf("gpio: %w", ErrRelayFault)), relay: record.RelayFault, alert: AlertRelayFault},
		{name: "stuck", after: fmt.Errorf("gpio: %w", ErrRelayFault), relay: record.RelayFault, alert: AlertRelayFault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Policy.AntiPassback.Mode = "hard"
				cfg.Policy.AntiPassback.Window = time.Hour
				cfg.Policy.Cooldown = 0
				r := newRig(t, cfg)
				r.relay.after = tc.after
				stop := r.start(t)
				r.identify(t, worker, 1)
				// The passback was recorded: the same worker is now refused.
				require.Eventually(t, func() bool { return r.k.Identify(worker) == nil }, time.Minute, 100*time.Millisecond)
				require.Eventually(t, func() bool { return len(r.events()) == 2 }, time.Minute, 100*time.Millisecond)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs, _, alerts := r.pub.snapshot()
				ev := evs[0]
				if ev.Decision != record.DecisionGranted || !slices.Contains(ev.Reason, ReasonApproved) || ev.Relay != record.RelayPending {
					t.Errorf("event %s %v relay %q, want granted approved relay pending", ev.Decision, ev.Reason, ev.Relay)
				}
				res := r.pub.relayResults()
				if len(res) != 1 || res[0].EventID != ev.EventID || res[0].Relay != tc.relay || res[0].EnergisedAt == "" {
					t.Errorf("relay results %+v, want one %q for %s", res, tc.relay, ev.EventID)
				}
				if !slices.Contains(evs[1].Reason, ReasonAntiPassback) {
					t.Errorf("second event %s %v, want anti_passback", evs[1].Decision, evs[1].Reason)
				}
				var codes []string
				for _, a := range alerts {
					codes = append(codes, a.Code)
				}
				if tc.alert == "" && len(codes) != 0 || tc.alert != "" && !slices.Equal(codes, []string{tc.alert}) {
					t.Errorf("alerts %v, want %q", codes, tc.alert)
				}
				if slices.Contains(codes, ReasonRelayFailed) {
					t.Error("relay_failed alert for a gate that opened")
				}
			})
		})
	}
}

// The grant is shown (screen, state topic) when the line energises, not
// after the pulse, and never for a relay that did not energise; the event
// is recorded before the relay moves.
func TestGrantedShownWhenEnergised(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("relay fails %v", fail), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, nil)
				var during State
				recordedBefore := false
				r.relay.during = func() {
					during = r.k.Status().State
					recordedBefore = len(r.events()) == 1
				}
				if fail {
					r.relay.err = errors.New("gpio busy")
				}
				stop := r.start(t)
				r.identify(t, worker, 1)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				_, states, alerts := r.pub.snapshot()
				granted := slices.Contains(states, StateGranted)
				res := r.pub.relayResults()
				if fail {
					if granted {
						t.Errorf("states %v: granted shown for a gate that did not open", states)
					}
					if len(res) != 1 || res[0].Relay != record.RelayNotEnergised || res[0].Reason != ReasonRelayFailed {
						t.Errorf("relay results %+v, want not_energised relay_failed", res)
					}
					if len(alerts) != 1 || alerts[0].Code != ReasonRelayFailed {
						t.Errorf("alerts %+v, want relay_failed", alerts)
					}
					return
				}
				if during != StateGranted || !recordedBefore {
					t.Errorf("during the pulse: state %s, event recorded %v; want granted and recorded", during, recordedBefore)
				}
			})
		})
	}
}

// A Reload that removes or changes the fixed identity is seen while the
// kiosk waits for a face: no session starts under the old submission id.
func TestReloadRevokesFixedIdentity(t *testing.T) {
	for _, next := range []string{"", "other"} {
		t.Run("fixed "+next, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Identity.Fixed = FixedIdentity{SubmissionID: "solo"}
				r := newRig(t, cfg)
				r.sel.reasons = slices.Repeat([]string{"no_face"}, 10)
				stop := r.start(t)
				time.Sleep(300 * time.Millisecond) // the selection for "solo" is running
				next2 := *cfg
				next2.Identity.Fixed = FixedIdentity{SubmissionID: next}
				if err := r.k.Reload(next2); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				if next == "" {
					if m := r.k.Status().Message; m != msgIdle {
						t.Errorf("idle message %q, want %q", m, msgIdle)
					}
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				evs := r.events()
				if next == "" && len(evs) != 0 {
					t.Errorf("%d events after the fixed identity was removed: %+v", len(evs), evs)
				}
				if next != "" && len(evs) == 0 {
					t.Error("no session for the new fixed identity")
				}
				for _, ev := range evs {
					if ev.SubmissionID != next {
						t.Errorf("event for %q, want only %q", ev.SubmissionID, next)
					}
				}
				r.auth.mu.Lock()
				defer r.auth.mu.Unlock()
				for _, req := range r.auth.reqs {
					if req.SubmissionID == "solo" {
						t.Error("the revoked submission id was sent to the API")
					}
				}
			})
		})
	}
}

// monitoredRelay is a fakeRelay that also reports its fault state.
type monitoredRelay struct {
	fakeRelay
	fault bool
}

func (m *monitoredRelay) RelayFault() bool { return m.fault }

// A relay line left stuck (seen by a pulse or reported by the relay) makes
// the self-test's "relay" check, and so the whole health, down.
func TestSelfTestRelayFault(t *testing.T) {
	t.Run("stuck after a pulse", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, nil)
			if h := r.k.selfTest(context.Background()); h.Checks["relay"].Status != HealthOK {
				t.Fatalf("relay check %+v before any fault", h.Checks["relay"])
			}
			r.relay.after = fmt.Errorf("gpio: %w", ErrRelayFault)
			stop := r.start(t)
			r.identify(t, worker, 1)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			h := r.k.selfTest(context.Background())
			if h.Checks["relay"].Status != HealthDown || h.Status != HealthDown {
				t.Errorf("health %s, relay check %+v; want both down", h.Status, h.Checks["relay"])
			}
		})
	})
	t.Run("stuck after a pulse, then driven inactive by the relay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, nil)
			rel := &monitoredRelay{fault: true}
			rel.after = fmt.Errorf("gpio: %w", ErrRelayFault)
			k, err := New(*r.cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: rel, Publisher: r.pub, Broker: r.brk, Logger: quietLogger()})
			require.NoError(t, err)
			r.k = k
			stop := r.start(t)
			r.identify(t, worker, 1)
			require.NoError(t, stop())
			require.Equal(t, HealthDown, k.selfTest(context.Background()).Checks["relay"].Status, "while the line is stuck")
			rel.fault = false // gate.PulseRelay tried the line again, and it went inactive
			require.Equal(t, HealthOK, k.selfTest(context.Background()).Checks["relay"].Status, "once the relay says its line is inactive")
		})
	})
	for _, fault := range []bool{false, true} {
		t.Run(fmt.Sprintf("monitor says fault %v", fault), func(t *testing.T) {
			rel := &monitoredRelay{fault: fault}
			k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: rel, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			h := k.selfTest(context.Background())
			want := HealthOK
			if fault {
				want = HealthDown
			}
			if h.Checks["relay"].Status != want || (fault && h.Status != HealthDown) {
				t.Errorf("health %s, relay check %+v; want relay %s", h.Status, h.Checks["relay"], want)
			}
		})
	}
}

// Drain finishes the session in flight (its pulse included) and starts no
// new one, not even for the fixed identity with no cooldown.
func TestDrainStopsNewSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Identity.Fixed = FixedIdentity{SubmissionID: "solo"}
		cfg.Policy.Cooldown = 0
		cfg.Policy.Attempts.Max = 0
		r := newRig(t, cfg)
		r.sel.reasons = []string{"no_face", "no_face", "no_face"}
		stop := r.start(t)
		require.Eventually(t, func() bool { return r.k.Status().State == StateAuthenticating }, time.Minute, 100*time.Millisecond)
		if err := r.k.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(r.events()); n != 1 || r.relay.count() != 1 {
			t.Fatalf("Drain returned with %d events, %d pulses; want the session finished", n, r.relay.count())
		}
		if err := r.k.Identify(worker); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Identify while draining: %v, want ErrNotRunning", err)
		}
		time.Sleep(time.Minute)
		if n := len(r.events()); n != 1 || r.relay.count() != 1 {
			t.Errorf("%d events, %d pulses after Drain; want no new session", n, r.relay.count())
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Drain gives up at its ctx; Run then ends the session failing closed.
func TestDrainLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.sel.hangAfter = true
		stop := r.start(t)
		if err := r.k.Identify(worker); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { return r.k.Status().State == StateCapturing }, time.Minute, 100*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := r.k.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Drain: %v, want the deadline", err)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		evs := r.events()
		if len(evs) != 1 || !slices.Contains(evs[0].Reason, ReasonShutdown) || r.relay.count() != 0 {
			t.Errorf("events %+v, %d pulses; want one shutdown event and no pulse", evs, r.relay.count())
		}
	})
}

// scoreChecks is written so that an unknown or malformed value denies,
// whichever side of the comparison it is on (the config refuses a NaN
// minimum and the client a NaN score; this is the last line).
func TestScoreChecksFailClosed(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		min   float64
		score *float64
		want  []string
	}{
		{"no minimum", 0, nil, nil},
		{"above", 50, f64(60), nil},
		{"equal", 50, f64(50), nil},
		{"below", 50, f64(40), []string{"face_similarity_below_minimum"}},
		{"absent", 50, nil, []string{"face_similarity_missing"}},
		{"NaN score", 50, &nan, []string{"face_similarity_below_minimum"}},
		{"infinite score", 50, &inf, []string{"face_similarity_below_minimum"}},
		{"score above 100", 50, f64(101), []string{"face_similarity_below_minimum"}},
		{"NaN minimum", nan, f64(99), []string{"face_similarity_below_minimum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scoreChecks(MinScores{FaceSimilarity: tc.min}, faceauth.Scores{FaceSimilarity: tc.score})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
