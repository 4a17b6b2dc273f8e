package kiosk

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
)

// replayAttacker is a LivenessChecker standing for what is in front of
// the camera: the worker's recorded video that turns right only (a replay
// that turns the asked way passes, docs/liveness.md "Threat model"; pulled
// away when the arrow asks left: face_lost, not counted), or the
// attacker's own live head (passes the check, rejected by FaceAuth).
type replayAttacker struct {
	mu        sync.Mutex
	presenter string // "replay" or "self"
	asked     []string
}

func (a *replayAttacker) set(p string) {
	a.mu.Lock()
	a.presenter = p
	a.mu.Unlock()
}

func (a *replayAttacker) CheckLiveness(ctx context.Context, req LivenessRequest) (LivenessResult, error) {
	a.mu.Lock()
	p := a.presenter
	a.asked = append(a.asked, req.Challenge)
	a.mu.Unlock()
	if err := sleepCtx(ctx, time.Second); err != nil {
		return LivenessResult{}, err
	}
	if p == "self" || req.Challenge == "right" {
		return livePass, nil
	}
	return LivenessResult{Method: "challenge", Reasons: []string{"face_lost"}, Unavailable: true, FaceAway: true}, nil
}

// A live pass of someone the API rejects does not redraw the challenge
// (docs/liveness.md "Threat model"). Until it did, an attacker with the
// worker's badge and a one-way replay pulled it away when the arrow asked
// the other way, showed his own face once (live; rejected by the API: no
// lockout count, the memory forgotten), and the next challenge was drawn
// anew: the replay got its 1 in 2 again and again, without one failure
// counted towards the lockout, until the gate opened.
func TestLiveStrangerDoesNotRedrawTheChallenge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Policy.Liveness = LivenessChallenge
		cfg.Policy.Attempts.Max = 0 // or 5 per 5 minutes: it only slows the attack
		lc := &replayAttacker{}
		r := &rig{cfg: cfg, sel: &fakeSelector{window: 600 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 800 * time.Millisecond},
			relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
		k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk,
			Liveness: lc, Logger: quietLogger()})
		require.NoError(t, err)
		k.pad.pick = alternate() // left, right, left, …
		r.k = k
		stop := r.start(t)
		session := func(i int, presenter string) {
			lc.set(presenter)
			r.auth.mu.Lock()
			if presenter == "self" {
				r.auth.res = rejected(faceauth.FailFaceCompare)
			} else {
				r.auth.res = approved() // the worker's own face, replayed
			}
			r.auth.mu.Unlock()
			require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
			r.identify(t, worker, i)
		}
		session(1, "replay") // asked left: pulled away
		session(2, "self")   // asked left again: his own head passes, the API rejects him
		session(3, "replay") // must still be asked left
		stop()
		assert.Zero(t, r.relay.count(), "a one-way replay opened the gate without one counted liveness failure: %s %v",
			r.events()[2].Decision, r.events()[2].Reason)
		assert.Equal(t, "left", lc.asked[2], "the arrow was drawn anew for the replay after a stranger's live pass (asked %v)", lc.asked)
	})
}
