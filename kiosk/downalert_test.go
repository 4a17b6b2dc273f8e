package kiosk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// switchPinger answers Ping with whatever err holds now.
type switchPinger struct {
	mu  sync.Mutex
	err error
}

func (p *switchPinger) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *switchPinger) Ping(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// A camera unplugged or the FaceAuth API unreachable refuses every worker;
// until 2026-12-08 it showed only in the health, which nobody is paged for.
// Down for downAlertAfter without a break, each raises its alert once per
// outage; a blip shorter than that raises nothing, and a clock stepped back
// does not make an outage look long.
func TestLongOutageOfTheCameraOrTheAPIIsAlerted(t *testing.T) {
	pub := &fakePublisher{}
	cam := &fakeCamera{}
	api := &switchPinger{}
	at := time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return at }
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{},
		Publisher: pub, Camera: cam, Pinger: api, Logger: quietLogger(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	unplugged := errors.New("open /dev/video0: no such file or directory")
	unreachable := errors.New("dial tcp 203.0.113.7:443: connect: network is unreachable")
	steps := []struct {
		after  time.Duration // since the previous step
		camera error         // nil: frames changing
		api    error
		alerts []string
	}{
		{after: 0},
		{after: 30 * time.Second, camera: unplugged},
		{after: time.Minute, camera: unplugged},
		{after: 20 * time.Second},                    // back before the limit: a blip
		{after: 30 * time.Second, camera: unplugged}, // a new outage starts
		{after: time.Minute, camera: unplugged},
		{after: 61 * time.Second, camera: unplugged, alerts: []string{AlertCameraDown}},
		{after: 10 * time.Minute, camera: unplugged, api: unreachable}, // once per outage
		{after: -time.Hour, camera: unplugged, api: unreachable},       // the clock stepped back
		{after: time.Minute, camera: unplugged, api: unreachable},
		{after: 90 * time.Second, api: unreachable, alerts: []string{AlertAPIDown}},
		{after: 30 * time.Second},
		{after: 30 * time.Second, camera: unplugged},
		{after: 2 * time.Minute, camera: unplugged, alerts: []string{AlertCameraDown}}, // the next outage alerts again
	}
	seen := 0
	for i, s := range steps {
		clock.Lock()
		at = at.Add(s.after)
		clock.Unlock()
		cam.mu.Lock()
		cam.h = CameraHealth{Err: s.camera, LastChange: now(), FPS: 15}
		cam.mu.Unlock()
		api.set(s.api)
		k.setHealth(k.selfTest(context.Background()))
		_, _, alerts := pub.snapshot()
		var codes []string
		for _, a := range alerts[seen:] {
			codes = append(codes, a.Code)
			want := map[string]string{AlertCameraDown: "open /dev/video0", AlertAPIDown: "network is unreachable"}[a.Code]
			if !strings.Contains(a.Message, want) || !strings.Contains(a.Message, "down for") {
				t.Errorf("step %d: alert %q does not say what is down and why", i, a.Message)
			}
		}
		seen = len(alerts)
		if fmt.Sprint(codes) != fmt.Sprint(s.alerts) {
			t.Errorf("step %d: alerts %v, want %v", i, codes, s.alerts)
		}
	}
}
