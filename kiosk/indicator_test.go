package kiosk

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
)

// fakeIndicator records the signals shown; err fails every one.
type fakeIndicator struct {
	mu    sync.Mutex
	shown []string
	err   error
}

func (f *fakeIndicator) show(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shown = append(f.shown, s)
	return f.err
}
func (f *fakeIndicator) ShowGranted() error { return f.show("granted") }
func (f *fakeIndicator) ShowDenied() error  { return f.show("denied") }
func (f *fakeIndicator) ShowError() error   { return f.show("error") }

func (f *fakeIndicator) signals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.shown)
}

// Each end state shows its signal once, nothing else does, and a failing
// indicator does not change the session.
func TestIndicatorShowsTheOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*rig)
		failed bool
		want   string
	}{
		{"granted", nil, false, "granted"},
		{"denied", func(r *rig) { r.auth.res = rejected(faceauth.FailFaceCompare) }, false, "denied"},
		{"error", func(r *rig) { r.sel.err = errCamera }, false, "error"},
		{"indicator broken", nil, true, "granted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, nil)
				ind := &fakeIndicator{}
				if tc.failed {
					ind.err = errors.New("gpio write: EIO")
				}
				r.k.deps.Indicator = ind
				if tc.setup != nil {
					tc.setup(r)
				}
				stop := r.start(t)
				r.identify(t, worker, 1)
				// Back to idle: every state of the session has been entered.
				require.Eventually(t, func() bool { return r.k.Status().State == StateIdle }, time.Minute, 100*time.Millisecond)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if got := ind.signals(); !slices.Equal(got, []string{tc.want}) {
					t.Fatalf("signals %v, want [%s]", got, tc.want)
				}
				if tc.failed && r.relay.count() != 1 {
					t.Fatalf("%d pulses with a broken indicator, want 1", r.relay.count())
				}
			})
		})
	}
}
