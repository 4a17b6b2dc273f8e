package kiosk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// turningLiveness is fakeLiveness that also drives OnTurn from its own
// goroutine while the check runs and after it returned (the contract says
// such late calls are ignored), and alternates pass and failure.
type turningLiveness struct {
	mu sync.Mutex
	n  int
}

func (f *turningLiveness) CheckLiveness(ctx context.Context, req LivenessRequest) (LivenessResult, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	stop := make(chan struct{})
	if req.OnTurn != nil {
		go func() {
			for i := 0; ; i++ {
				req.OnTurn(float64(i%40)/100, 0.2)
				select {
				case <-stop:
					// late calls, after the check returned
					for j := 0; j < 20; j++ {
						req.OnTurn(0.5, 0.2)
					}
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
	}
	defer close(stop)
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return LivenessResult{}, err
	}
	if n%3 == 0 {
		return LivenessResult{Score: 0.1, Method: req.Mode, Reasons: []string{"planar_motion"}}, nil
	}
	return LivenessResult{Live: true, Score: 0.9, Method: req.Mode, Reasons: []string{}}, nil
}

// TestRaceStressSessionsWithEverythingElse runs sessions (liveness
// challenge, a grant's pulse) while every other entry point is called from
// other goroutines: reloads that change the policy, the page's HTTP API and
// /metrics, the lockout list and a peer's, unlocks, gate inputs, door and
// relay reports, alerts. Under -race it reports any unsynchronised access.
func TestRaceStressSessionsWithEverythingElse(t *testing.T) {
	cfg := testConfig(t)
	cfg.Policy.Liveness = LivenessChallenge
	cfg.Policy.Cooldown = 50 * time.Millisecond
	cfg.Policy.Attempts = Limit{Max: 1000, Per: time.Minute}
	cfg.Policy.AntiPassback = AntiPassback{Mode: "soft", Window: time.Minute}
	lc := &turningLiveness{}
	r := &rig{cfg: cfg, sel: &fakeSelector{window: 50 * time.Millisecond}, auth: &fakeAuth{res: approved(), delay: 100 * time.Millisecond},
		relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
	k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: r.auth, Relay: r.relay, Publisher: r.pub, Broker: r.brk,
		Liveness: lc, Logger: quietLogger(), Camera: &fakeCamera{h: CameraHealth{FPS: 15, LastChange: time.Now()}}, Pinger: fakePinger{}})
	require.NoError(t, err)
	r.k = k
	stop := r.start(t)
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()

	deadline := time.Now().Add(8 * time.Second)
	var wg sync.WaitGroup
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				f(i)
				time.Sleep(3 * time.Millisecond)
			}
		}()
	}
	loop(func(i int) { // identities
		_ = k.Identify(Identity{SubmissionID: []string{"sub-a", "sub-b", "SUB-c"}[i%3], Source: SourceHTTP})
	})
	loop(func(i int) { // reloads changing the policy
		o := *cfg
		o.Policy.Liveness = []string{LivenessChallenge, LivenessShadow, LivenessPassive}[i%3]
		o.Policy.LivenessLockout = Limit{Max: 2 + i%3, Per: time.Duration(1+i%2) * time.Minute}
		o.Policy.MaxAge = time.Duration(4+i%3) * time.Second
		_ = k.Reload(o)
		time.Sleep(20 * time.Millisecond)
	})
	loop(func(i int) {
		for _, p := range []string{"/api/status", "/metrics", "/healthz", "/api/liveness/lockouts"} {
			if resp, err := http.Get(srv.URL + p); err == nil {
				resp.Body.Close()
			}
		}
	})
	loop(func(i int) { // the page's event stream, opened and dropped
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	loop(func(i int) {
		l := k.LockoutList()
		_, _ = k.PeerFailures("gate2", l)
		_ = k.SharedUnlocks()
		_, _ = k.Unlock(UnlockRequest{SubmissionID: "sub-a", By: "ops", Reason: "test"})
	})
	loop(func(i int) {
		k.SetDoor(i%2 == 0)
		k.SetRelay(i%2 == 1)
		_ = k.Status()
		_ = k.Health()
		k.ObserveDetection(time.Millisecond)
		if i%20 == 0 {
			k.GateInput(InputDoorForced, "x", time.Now())
			k.ExitPressed(time.Now())
			k.RaiseAlert("test", "m")
		}
	})
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = k.Drain(dctx)
	require.NoError(t, stop())
	// Under all of that the decisions stay whole: sessions ran, and the
	// relay pulsed for granted events only (remote opens are not sent).
	events, granted := r.events(), 0
	for _, ev := range events {
		if ev.Decision == record.DecisionGranted {
			granted++
		}
	}
	require.NotEmpty(t, events, "no session ran")
	require.LessOrEqual(t, r.relay.count(), granted, "relay pulses without a granted event")
	t.Logf("%d events, %d pulses, %d checks", len(events), r.relay.count(), lc.n)
}
