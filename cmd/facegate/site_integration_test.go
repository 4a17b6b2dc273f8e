package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/record"
)

// cutProxy stands between one gate and the broker: cut drops its
// connections and refuses new ones (the gate's uplink is down), restore
// lets them through again.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
	})
	return p
}

func (p *cutProxy) url() string { return "tcp://" + p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// eventLog is a persistent-session subscriber to every gate's decisions on
// the real broker: what a consumer of the site's events receives.
type eventLog struct {
	mu  sync.Mutex
	ids map[string]record.Event
}

func followEvents(t *testing.T, url, site string) *eventLog {
	t.Helper()
	l := &eventLog{ids: map[string]record.Event{}}
	mosquittotest.Observe(t, url, "site-observer-"+t.Name(), "facegate/"+site+"/+/event", func(_ string, payload []byte, _ bool) {
		var ev record.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Errorf("event on the broker: %v", err)
			return
		}
		l.mu.Lock()
		l.ids[ev.EventID] = ev
		l.mu.Unlock()
	})
	return l
}

func (l *eventLog) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.ids[id]
	return ok
}

// testLog sends the gates' errors to the test log (their reconnect
// warnings during the outages would drown it).
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// TestSiteGatesOnMosquitto is issue 15's multi-daemon test: five full gates
// (real daemon wiring, simulated cameras and relays, the FaceAuth emulator)
// share one real mosquitto. A worker who entered at A is denied at B;
// after leaving at C they enter again; a gate cut off from the broker for
// 50 decisions elsewhere converges once back; a broker restart loses no
// decision and no presence; an evacuation's missing are the present minus
// the mustered.
func TestSiteGatesOnMosquitto(t *testing.T) {
	images, err := demoscene.ImagesDir(os.Getenv)
	if err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	cutB := newCutProxy(t, mq.Addr())
	const siteName = "it"
	events := followEvents(t, mq.URL(), siteName)
	ctx := context.Background()
	r, err := startSite(ctx, siteOptions{
		Site: siteName, BrokerURL: mq.URL(), GateURLs: map[string]string{"b": cutB.url()},
		Dir: t.TempDir(), Images: images, Workers: demoSiteWorkers, ZoneBMax: demoSiteZoneBMax, Log: testLog(t),
		ReconnectMax: 200 * time.Millisecond,
		Gates: []siteGateSpec{
			{Name: "a", From: "outside", To: "site", Direction: "entry"},
			{Name: "b", From: "outside", To: "site", Direction: "entry"},
			{Name: "c", From: "site", To: "outside", Direction: "exit"},
			{Name: "zone-b-door", From: "site", To: "zone-b", Direction: "both"},
			{Name: "assembly", Muster: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	w := func(i int) string { return demoSiteWorkers[i].User }
	var made []record.Event
	pass := func(gate, user string, want record.Decision, reason string) record.Event {
		t.Helper()
		ev, err := r.pass(ctx, gate, user)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, ev)
		if ev.Decision != want || (reason != "" && !slices.Contains(ev.Reason, reason)) {
			t.Fatalf("%s at %s: %s %v, want %s %s", user, gate, ev.Decision, ev.Reason, want, reason)
		}
		return ev
	}
	agree := func(only ...string) siteOutcome {
		t.Helper()
		o, err := r.agree(ctx, only...)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}

	// Enter at A, enter again at B: denied (hard), on the site's view.
	ev := pass("a", w(0), record.DecisionGranted, "")
	if ev.ZoneTo != "site" || ev.SiteView != record.SiteViewSite {
		t.Errorf("entry at A: zone_to %q site_view %q, want site and site", ev.ZoneTo, ev.SiteView)
	}
	agree()
	ev = pass("b", w(0), record.DecisionDenied, "passback_same_zone")
	if ev.SiteView != record.SiteViewSite {
		t.Errorf("passback at B: site_view %q, want site", ev.SiteView)
	}
	// Exit at C, enter again: allowed.
	pass("c", w(0), record.DecisionGranted, "")
	agree()
	pass("b", w(0), record.DecisionGranted, "")
	if got := agree().Presence["site"]; !slices.Equal(got, []string{w(0)}) {
		t.Fatalf("site presence %v, want [%s]", got, w(0))
	}

	// B cut off from the broker during 50 decisions at A and C.
	cutB.setCut(true)
	require.Eventually(t, func() bool { return !r.gate("b").d.p.broker.Connected() }, 10*time.Second, 20*time.Millisecond, "gate b notices the outage")
	// B cut off from the broker during 50 decisions at A and C: three
	// workers in and out (17, 17 and 16 passages: two end inside).
	others := []string{"a", "c", "zone-b-door", "assembly"}
	inside := map[string]bool{}
	for i := 0; i < 50; i++ {
		person := w(1 + i%3)
		if inside[person] {
			pass("c", person, record.DecisionGranted, "")
		} else {
			pass("a", person, record.DecisionGranted, "")
		}
		inside[person] = !inside[person]
		agree(others...)
	}
	during := agree(others...)
	if reflect.DeepEqual(r.gate("b").view(), during) {
		t.Fatal("gate b, cut off, already agrees: the test does not cut it off")
	}
	cutB.setCut(false)
	restored := time.Now()
	if back := agree(); !reflect.DeepEqual(back, during) {
		t.Fatalf("after the outage the site agrees on %v, want %v", back, during)
	}
	t.Logf("gate b converged %s after its link came back (50 decisions missed)", time.Since(restored).Round(time.Millisecond))

	// A broker restart loses nothing: decisions made while it is down are
	// delivered, every gate applies them, and the presence is whole.
	mq.Stop()
	require.Eventually(t, func() bool { return !r.gate("a").d.p.broker.Connected() }, 10*time.Second, 20*time.Millisecond, "gate a notices the outage")
	before := agree()
	outsiders := slices.DeleteFunc(slices.Clone(demoSiteWorkers), func(sw siteWorker) bool {
		return slices.Contains(before.Presence["site"], sw.User)
	})
	if len(outsiders) < 2 {
		t.Fatalf("want two workers outside before the restart, presence %v", before.Presence)
	}
	for _, sw := range outsiders[:2] {
		ev := pass("a", sw.User, record.DecisionGranted, "")
		if ev.SiteView != record.SiteViewLocal {
			t.Errorf("entry while the broker is down: site_view %q, want local", ev.SiteView)
		}
	}
	mq.Restart()
	restarted := time.Now()
	after := agree()
	t.Logf("every gate had the 2 decisions made while mosquitto was down %s after its restart", time.Since(restarted).Round(time.Millisecond))
	for _, sw := range outsiders[:2] {
		if !slices.Contains(after.Presence["site"], sw.User) {
			t.Errorf("after the broker restart %s is not inside: %v", sw.User, after.Presence)
		}
	}
	require.Eventually(t, func() bool {
		for _, ev := range made {
			if !events.has(ev.EventID) {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "every decision on the broker")

	// Evacuation: missing = present − mustered.
	present := append(slices.Clone(after.Presence["site"]), after.Presence["zone-b"]...)
	if err := r.evacuate(ctx, true); err != nil {
		t.Fatal(err)
	}
	mustered := present[:len(present)/2]
	for _, u := range mustered {
		pass("assembly", u, record.DecisionGranted, "")
	}
	got := agree().Missing
	want := slices.DeleteFunc(slices.Clone(present), func(u string) bool { return slices.Contains(mustered, u) })
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("missing %v, want present %v − mustered %v = %v", got, present, mustered, want)
	}
	if err := r.evacuate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := agree().Missing; len(got) != 0 {
		t.Errorf("after the evacuation ended, missing %v", got)
	}
	t.Logf("%d decisions by %d gates; %d events on the broker", len(made), len(r.gates), len(events.ids))
}
