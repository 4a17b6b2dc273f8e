package kiosk

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/facegate/facegate/faceauth"
)

// warmingAuth is fakeAuth with Warm: it records the order of the calls.
type warmingAuth struct {
	*fakeAuth
	mu    sync.Mutex
	calls []string
	err   error
}

func (w *warmingAuth) Warm(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, "warm")
	return w.err
}

func (w *warmingAuth) Authenticate(ctx context.Context, req faceauth.Request) (*faceauth.Result, error) {
	w.mu.Lock()
	w.calls = append(w.calls, "authenticate")
	w.mu.Unlock()
	return w.fakeAuth.Authenticate(ctx, req)
}

func (w *warmingAuth) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// TestIdentificationWarmsTheAPI: the connection is warmed when the worker
// is identified, before the face is sent; a failed warm-up changes nothing.
func TestIdentificationWarmsTheAPI(t *testing.T) {
	for _, warmErr := range []error{nil, errors.New("no route to host")} {
		r := newRig(t, nil)
		auth := &warmingAuth{fakeAuth: r.auth, err: warmErr}
		r.k.deps.Authenticator = auth
		stop := r.start(t)
		r.identify(t, worker, 1)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := auth.snapshot()
		if len(got) != 2 || got[0] != "warm" || got[1] != "authenticate" {
			t.Fatalf("warm error %v: calls %v, want [warm authenticate]", warmErr, got)
		}
		if ev := r.events()[0]; ev.Decision != "granted" {
			t.Fatalf("warm error %v: decision %s", warmErr, ev.Decision)
		}
	}
}
