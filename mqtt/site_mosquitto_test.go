package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
	"github.com/facegate/facegate/record"
)

const testSite = "facegate/plant-a"

// siteGate is one gate of testSite with zones on.
type siteGate struct {
	c   *Client
	h   *siteRecorder
	src *fakeSource
	o   Options
}

func newSiteGate(t *testing.T, url, gate string, tune func(*Options)) *siteGate {
	t.Helper()
	g := &siteGate{h: &siteRecorder{}, src: &fakeSource{snapshot: []byte(`{"gate":"` + gate + `","n":0}`)}}
	o := testOptions(t, url)
	o.ClientID = "facegate-plant-a-" + gate + "-" + t.Name()
	o.Prefix, o.Site, o.Gate = testSite+"/"+gate, "plant-a", gate
	o.ConnectTimeout = time.Second
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: g.h, Source: g.src,
		SnapshotInterval: 50 * time.Millisecond, SnapshotWindow: 2 * time.Second}
	if tune != nil {
		tune(&o)
	}
	g.o = o
	g.c = newClient(t, o)
	runClient(t, g.c)
	return g
}

func siteEvent(gate string, i int) record.Event {
	return record.Event{EventID: fmt.Sprintf("%s-%04d", gate, i), Seq: uint64(i), TS: record.Timestamp(time.Now()),
		Decision: record.DecisionGranted, Reason: []string{"approved"}, UserID: fmt.Sprintf("w-%d", i),
		ZoneFrom: "outside", ZoneTo: "site", Direction: record.DirectionEntry, SiteView: record.SiteViewSite,
		Relay: record.RelayPending}
}

// Every gate gets every gate's events and relay results (its own
// included), and a gate that starts later gets the others' retained
// snapshots; the views are retained under the gate's prefix.
func TestSiteMosquittoEventsSnapshotsViews(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	b := newSiteGate(t, mq.URL(), "exit", nil)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	a.src.mu.Lock()
	a.src.views = SiteViews{Occupancy: OccupancyView{Zones: map[string]ZoneCount{"site": {Count: 1}}}}
	a.src.mu.Unlock()
	a.src.set(`{"gate":"entrance","n":1}`)
	a.c.SiteChanged()
	for i := range 5 {
		must(t, a.c.PublishEvent(siteEvent("entrance", i)))
		must(t, b.c.PublishEvent(siteEvent("exit", i)))
	}
	must(t, a.c.PublishPulse(record.PulseResult{EventID: "entrance-0000", Relay: record.RelayNotEnergised, Reason: "relay_failed"}))
	for _, g := range []*siteGate{a, b} {
		require.Eventually(t, func() bool { return len(g.h.eventIDs()) == 10 }, 5*time.Second, 5*time.Millisecond, g.o.Gate+" has all 10 events")
		require.Eventually(t, func() bool {
			g.h.mu.Lock()
			defer g.h.mu.Unlock()
			return len(g.h.relays) == 1 && g.h.relays[0].EventID == "entrance-0000" && g.h.relays[0].Gate == "entrance"
		}, 5*time.Second, 5*time.Millisecond, g.o.Gate+" has the relay result")

	}
	ev := b.h.events[0]
	if ev.ZoneTo != "site" || ev.Site != "plant-a" || ev.SubmissionID != "" {
		t.Errorf("decoded event %+v", ev)
	}

	// A third gate, started later, gets both retained snapshots.
	require.Eventually(t, func() bool { return a.c.retained.get(a.c.site.topics.Snapshot) != nil }, 5*time.Second, 5*time.Millisecond, "a's snapshot published")
	c := newSiteGate(t, mq.URL(), "zone-b-door", nil)
	require.Eventually(t, func() bool {
		return c.h.snapshot("entrance") == `{"gate":"entrance","n":1}` && c.h.snapshot("exit") == `{"gate":"exit","n":0}`
	}, 5*time.Second, 5*time.Millisecond, "c has the peers' snapshots")

	rec := newRecorder()
	observe(t, mq.URL(), testSite+"/entrance/site/#", rec)
	require.Eventually(t, func() bool {
		var occ OccupancyView
		return json.Unmarshal([]byte(rec.get(testSite+"/entrance/site/occupancy")), &occ) == nil && occ.Zones["site"].Count == 1 &&
			rec.get(testSite+"/entrance/site/presence") != ""
	}, 5*time.Second, 5*time.Millisecond, "views retained")

	if rec.get(testSite+"/entrance/site/muster") != "" {
		t.Error("a muster view was published without an evacuation")
	}
}

// A gate that starts later gets its peers' retained failure lists (and
// the newer one a peer publishes while it listens); a gate that omits
// submission ids from its events publishes none.
func TestSiteMosquittoLockoutListsReachALateGate(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	b := newSiteGate(t, mq.URL(), "exit", func(o *Options) { o.SubmissionID = record.PrivacyOmit })
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	a.src.mu.Lock()
	a.src.lockout = []byte(`{"gate":"entrance","n":1}`)
	a.src.mu.Unlock()
	b.src.mu.Lock()
	b.src.lockout = []byte(`{"gate":"exit","n":1}`)
	b.src.mu.Unlock()
	a.c.SiteChanged()
	b.c.SiteChanged()
	require.Eventually(t, func() bool { return a.c.retained.get(a.c.site.topics.Lockout) != nil }, 5*time.Second, 5*time.Millisecond, "a's list published")

	c := newSiteGate(t, mq.URL(), "zone-b-door", func(o *Options) { o.Zones.SnapshotWindow = 5 * time.Second })
	require.Eventually(t, func() bool { return c.h.lockout("entrance") == `{"gate":"entrance","n":1}` }, 5*time.Second, 5*time.Millisecond, "c has a's list")
	a.src.mu.Lock()
	a.src.lockout = []byte(`{"gate":"entrance","n":2}`)
	a.src.mu.Unlock()
	a.c.SiteChanged()
	require.Eventually(t, func() bool { return c.h.lockout("entrance") == `{"gate":"entrance","n":2}` }, 5*time.Second, 5*time.Millisecond, "and its newer one")
	require.Empty(t, c.h.lockout("exit"), "a gate with submission_id omit publishes no list")
	require.Equal(t, []byte{}, b.c.retained.get(b.c.site.topics.Lockout), "it deletes the one it may have published before")

	// A list the lockout no longer gives (turned off) is deleted at the
	// broker: a gate that starts later gets none.
	rec := newRecorder()
	observe(t, mq.URL(), testSite+"/entrance/site/lockout", rec)
	topic := testSite + "/entrance/site/lockout"
	require.Eventually(t, func() bool { return rec.get(topic) == `{"gate":"entrance","n":2}` }, 5*time.Second, 5*time.Millisecond, "the retained list")
	a.src.mu.Lock()
	a.src.lockout = nil
	a.src.mu.Unlock()
	a.c.SiteChanged()
	// The broker forwarded the empty payload, so it has deleted the list.
	require.Eventually(t, func() bool { return rec.get(topic) == "" }, 5*time.Second, 5*time.Millisecond, "a's list deleted")
	d := newSiteGate(t, mq.URL(), "zone-c-door", nil)
	require.Eventually(t, func() bool { return d.h.snapshot("entrance") != "" }, 5*time.Second, 5*time.Millisecond, "d read the retained site state")
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, d.h.lockout("entrance"), "no retained list left at the broker")
}

// A gate cut off from the broker gets, once back, the events published
// while it was away (its persistent session) and the peers' snapshots.
func TestSiteMosquittoCutOffGateCatchesUp(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	px := newProxy(t, mq.Addr())
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	b := newSiteGate(t, px.url(), "exit", func(o *Options) { o.KeepAlive = time.Second })
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	must(t, a.c.PublishEvent(siteEvent("entrance", 0)))
	require.Eventually(t, func() bool { return len(b.h.eventIDs()) == 1 }, 5*time.Second, 5*time.Millisecond, "first event at b")

	px.stalled.Store(true)
	px.cut()
	require.Eventually(t, func() bool { return !b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "b notices")
	for i := 1; i <= 50; i++ {
		must(t, a.c.PublishEvent(siteEvent("entrance", i)))
	}
	a.src.set(`{"gate":"entrance","n":50}`)
	a.c.SiteChanged()
	require.Eventually(t, func() bool { return a.c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "a's outbox delivered")
	time.Sleep(200 * time.Millisecond) // the snapshot's interval
	px.stalled.Store(false)
	require.Eventually(t, func() bool { return b.c.Connected() && len(b.h.eventIDs()) == 51 }, 15*time.Second, 5*time.Millisecond, "b back with all 51 events")
	require.Eventually(t, func() bool { return b.h.snapshot("entrance") == `{"gate":"entrance","n":50}` }, 5*time.Second, 5*time.Millisecond, "b has a's newest snapshot")
}

// A broker restart loses no retained snapshot: each gate publishes its
// retained values again on connect, also when the broker comes back
// without its persistence file (no retained messages, no sessions).
func TestSiteMosquittoRestartRepublishesSnapshots(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	require.Eventually(t, a.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	require.Eventually(t, func() bool { return a.c.retained.get(a.c.site.topics.Snapshot) != nil }, 5*time.Second, 5*time.Millisecond, "snapshot")
	mq.Stop()
	require.Eventually(t, func() bool { return !a.c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	mq.Forget()
	mq.Restart()
	require.Eventually(t, a.c.Connected, 15*time.Second, 5*time.Millisecond, "reconnected")
	b := newSiteGate(t, mq.URL(), "exit", nil)
	require.Eventually(t, func() bool { return b.h.snapshot("entrance") == `{"gate":"entrance","n":0}` }, 10*time.Second, 5*time.Millisecond, "b has a's snapshot")
}

// The evacuation state reaches every gate; an older state published by a
// gate that was away is replaced at the broker by the newer one.
func TestSiteMosquittoEvacuation(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", nil)
	b := newSiteGate(t, mq.URL(), "exit", nil)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	start := Evacuation{Active: true, ID: "evac-1", Since: "2026-11-22T07:45:12.000Z", TS: "2026-11-22T07:45:12.000Z", By: "fire-alarm"}
	must(t, a.c.PublishEvacuation(start))
	require.Eventually(t, func() bool {
		ev := b.h.evacuations()
		return len(ev) > 0 && ev[len(ev)-1].Active && ev[len(ev)-1].Gate == "entrance"
	}, 5*time.Second, 5*time.Millisecond, "b sees the start")

	end := start
	end.Active, end.TS, end.Gate = false, "2026-11-22T08:10:00.000Z", ""
	must(t, b.c.PublishEvacuation(end))
	require.Eventually(t, func() bool {
		ev := a.h.evacuations()
		return len(ev) > 0 && !ev[len(ev)-1].Active
	}, 5*time.Second, 5*time.Millisecond, "a sees the end")

	if err := a.c.PublishEvacuation(start); err == nil {
		t.Fatal("a gate published an evacuation state older than the one it knows")
	}

	// A stale retained start (a gate that was away) is repaired.
	raw := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("stale-gate"))
	if tok := raw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer raw.Disconnect(100)
	stale := start
	stale.Gate = "away"
	if tok := raw.Publish(testSite+"/evacuation", 1, true, mustJSON(stale)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	require.Eventually(t, func() bool {
		o := paho.NewClientOptions().AddBroker(mq.URL()).SetClientID(fmt.Sprintf("probe-%d", time.Now().UnixNano()))
		p := paho.NewClient(o)
		if tok := p.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			return false
		}
		defer p.Disconnect(50)
		got := make(chan string, 1)
		p.Subscribe(testSite+"/evacuation", 1, func(_ paho.Client, m paho.Message) {
			select {
			case got <- string(m.Payload()):
			default:
			}
		})
		select {
		case s := <-got:
			e, err := ParseEvacuation([]byte(s))
			return err == nil && !e.Active && e.TS == end.TS
		case <-time.After(time.Second):
			return false
		}
	}, 10*time.Second, 5*time.Millisecond, "the broker holds the end again")

	for _, g := range []*siteGate{a, b} {
		for _, e := range g.h.evacuations() {
			if e.Gate == "away" {
				t.Errorf("%s: the stale state was handed to the site: %+v", g.o.Gate, e)
			}
		}
	}
}

// Signed site commands reach every gate once, verified with the replay
// memory of cmd/open; unsigned, replayed and retained ones are refused.
func TestSiteMosquittoCommands(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	withCmds := func(o *Options) {
		o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
		o.Zones.Commands = true
	}
	a := newSiteGate(t, mq.URL(), "entrance", withCmds)
	b := newSiteGate(t, mq.URL(), "exit", withCmds)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	// The replay memory refuses commands older than its first start.
	time.Sleep(1100 * time.Millisecond)
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("ops-console"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	send := func(topic string, retained bool, payload []byte) {
		t.Helper()
		if tok := pub.Publish(topic, 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	now := time.Now().Unix()
	evac, err := SignSiteCommand(testSecret, SiteCommandBody{TS: now, Nonce: "evac-nonce-0000001", Topic: testSite + "/cmd/evacuate", Action: "start", By: "ops"})
	must(t, err)
	corr, err := SignSiteCommand(testSecret, SiteCommandBody{TS: now, Nonce: "corr-nonce-0000001", Topic: testSite + "/cmd/correct",
		UserID: "w-10442", Zone: "outside", Reason: "left through the fire exit", By: "ops"})
	must(t, err)
	forged, _ := SignSiteCommand([]byte("another-secret-0123456789"), SiteCommandBody{TS: now, Nonce: "forged-nonce-00001", Topic: testSite + "/cmd/evacuate", Action: "end"})
	// Signed for cmd/correct, sent on cmd/evacuate.
	moved, _ := SignSiteCommand(testSecret, SiteCommandBody{TS: now, Nonce: "moved-nonce-000001", Topic: testSite + "/cmd/correct", UserID: "w-1", Zone: "site"})
	send(testSite+"/cmd/evacuate", false, evac)
	send(testSite+"/cmd/evacuate", false, evac) // replayed
	send(testSite+"/cmd/evacuate", false, forged)
	send(testSite+"/cmd/evacuate", false, moved)
	// Retained by mistake: the gates listening get it as a live message
	// (the broker sends the retain flag only to new subscriptions).
	send(testSite+"/cmd/correct", true, corr)
	for _, g := range []*siteGate{a, b} {
		require.Eventually(t, func() bool { return len(g.h.commands()) >= 2 }, 5*time.Second, 5*time.Millisecond, g.o.Gate+" got both commands")
		time.Sleep(200 * time.Millisecond)
		cmds := g.h.commands()
		if len(cmds) != 2 {
			t.Fatalf("%s: %d commands: %+v", g.o.Gate, len(cmds), cmds)
		}
		e, ok := cmds[0].(Evacuate)
		if !ok || e.Action != "start" || e.By != "ops" || !strings.HasPrefix(e.ID, "evac-") || e.Issued.Unix() != now {
			t.Errorf("%s: first command %+v", g.o.Gate, cmds[0])
		}
		cr, ok := cmds[1].(Correct)
		if !ok || cr.UserID != "w-10442" || cr.Zone != "outside" || cr.Reason != "left through the fire exit" {
			t.Errorf("%s: second command %+v", g.o.Gate, cmds[1])
		}
	}
	if a.h.commands()[0].(Evacuate).ID != b.h.commands()[0].(Evacuate).ID {
		t.Error("two gates named the same evacuation differently")
	}
	// A gate that subscribes later gets the retained copy: refused.
	c := newSiteGate(t, mq.URL(), "zone-b-door", withCmds)
	require.Eventually(t, c.c.Connected, 5*time.Second, 5*time.Millisecond, "c connected")
	time.Sleep(500 * time.Millisecond)
	if n := len(c.h.commands()); n != 0 {
		t.Errorf("a retained command was accepted on subscription: %+v", c.h.commands())
	}
	// The nonce of a site command is used up for cmd/open too.
	open, _ := SignOpen(testSecret, OpenBody{TS: now, Nonce: "evac-nonce-0000001", Topic: a.c.topics.CmdOpen})
	if _, err := a.c.verifier.Verify(open); err == nil {
		t.Error("a nonce used by a site command was accepted again by cmd/open")
	}
}

// A correction this gate sends reaches every connected gate at once as a
// signed cmd/correct, stamped with its signed ts; the sender neither
// refuses nor gets back its own command, and a replay of it is refused
// everywhere. Without the site commands there is nothing to send.
func TestSiteMosquittoPublishCorrect(t *testing.T) {
	a, b, off := startCommandGates(t)
	if _, err := off.c.PublishCorrect(t.Context(), Correct{UserID: "w-1", Zone: "outside"}); !errors.Is(err, ErrSiteCommandsOff) {
		t.Fatalf("without site commands: %v", err)
	}
	// The replay memory refuses commands older than its first start.
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Add(-300 * time.Millisecond)
	if _, err := a.c.PublishCorrect(t.Context(), Correct{UserID: "w-1", Zone: ""}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no zone: %v", err)
	}
	sent, err := a.c.PublishCorrect(t.Context(), Correct{UserID: "w-10442", Zone: "outside", By: "marshal-2", Reason: "left through the fire exit", Issued: at})
	if err != nil {
		t.Fatal(err)
	}
	if !sent.Issued.Equal(time.Unix(at.Unix(), 0)) || len(sent.Nonce) < 16 {
		t.Fatalf("sent %+v: issued must be the signed ts, %d", sent, at.Unix())
	}
	require.Eventually(t, func() bool { return len(b.h.commands()) == 1 }, 5*time.Second, 5*time.Millisecond, "the peer got the correction")
	got, ok := b.h.commands()[0].(Correct)
	if !ok || got.UserID != "w-10442" || got.Zone != "outside" || got.By != "marshal-2" || got.Nonce != sent.Nonce || !got.Issued.Equal(sent.Issued) {
		t.Fatalf("peer got %+v, sent %+v", b.h.commands()[0], sent)
	}
	// Its own copy came back and was dropped, not applied again.
	require.Eventually(t, func() bool { a.c.site.mu.Lock(); defer a.c.site.mu.Unlock(); return len(a.c.site.sent) == 0 }, 5*time.Second, 5*time.Millisecond, "the sender saw its command back")
	if n := len(a.h.commands()); n != 0 {
		t.Fatalf("the sender got its own command back: %+v", a.h.commands())
	}
	if _, err := a.c.verifier.VerifySite(testSite+"/cmd/correct", mustSign(t, sent)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a replay of the sender's command at the sender: %v", err)
	}
	if _, err := b.c.verifier.VerifySite(testSite+"/cmd/correct", mustSign(t, sent)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a replay of the sender's command at the peer: %v", err)
	}
	// Not connected: not sent, nothing remembered.
	a.c.Close(t.Context())
	if _, err := a.c.PublishCorrect(t.Context(), Correct{UserID: "w-1", Zone: "outside"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// An unlock this gate sends reaches every connected gate at once as a
// signed cmd/unlock carrying the hashed id only; the sender does not get
// it back, a replay is refused, and without the site commands or a
// connection nothing is sent.
func TestSiteMosquittoPublishUnlock(t *testing.T) {
	a, b, off := startCommandGates(t)
	key := strings.Repeat("0f", 32)
	if _, err := off.c.PublishUnlock(t.Context(), Unlock{Key: key}); !errors.Is(err, ErrSiteCommandsOff) {
		t.Fatalf("without site commands: %v", err)
	}
	// The replay memory refuses commands older than its first start.
	time.Sleep(1100 * time.Millisecond)
	if _, err := a.c.PublishUnlock(t.Context(), Unlock{Key: "not-a-hash"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a key that is not a sha256: %v", err)
	}
	at := time.Now().Add(-300 * time.Millisecond)
	sent, err := a.c.PublishUnlock(t.Context(), Unlock{Key: key, By: "site-office", Reason: "checked in person", Issued: at})
	if err != nil {
		t.Fatal(err)
	}
	if !sent.Issued.Equal(time.Unix(at.Unix(), 0)) {
		t.Fatalf("sent %+v: issued must be the signed ts %d", sent, at.Unix())
	}
	require.Eventually(t, func() bool { return len(b.h.commands()) == 1 }, 5*time.Second, 5*time.Millisecond, "the peer got the unlock")
	got, ok := b.h.commands()[0].(Unlock)
	if !ok || got.Key != key || got.By != "site-office" || got.Reason != "checked in person" || got.Nonce != sent.Nonce || !got.Issued.Equal(sent.Issued) {
		t.Fatalf("peer got %+v, sent %+v", b.h.commands()[0], sent)
	}
	require.Eventually(t, func() bool { a.c.site.mu.Lock(); defer a.c.site.mu.Unlock(); return len(a.c.site.sent) == 0 }, 5*time.Second, 5*time.Millisecond, "the sender saw its command back")
	if n := len(a.h.commands()); n != 0 {
		t.Fatalf("the sender got its own command back: %+v", a.h.commands())
	}
	again, err := SignSiteCommand(testSecret, SiteCommandBody{TS: sent.Issued.Unix(), Nonce: sent.Nonce, Topic: testSite + "/cmd/unlock",
		SubmissionID: "sha256:" + key, By: sent.By, Reason: sent.Reason})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.verifier.VerifySite(testSite+"/cmd/unlock", again); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a replay at the peer: %v", err)
	}
	a.c.Close(t.Context())
	if _, err := a.c.PublishUnlock(t.Context(), Unlock{Key: key}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// startCommandGates starts, on a mosquitto of their own, two site gates
// with the site commands on and one without, and waits until all three
// are connected.
func startCommandGates(t *testing.T) (a, b, off *siteGate) {
	t.Helper()
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	withCmds := func(o *Options) {
		o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
		o.Zones.Commands = true
	}
	a = newSiteGate(t, mq.URL(), "entrance", withCmds)
	b = newSiteGate(t, mq.URL(), "exit", withCmds)
	off = newSiteGate(t, mq.URL(), "zone-b-door", nil)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() && off.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	return a, b, off
}

// mustSign signs cr again as its sender did (same ts and nonce).
func mustSign(t *testing.T, cr Correct) []byte {
	t.Helper()
	p, err := SignSiteCommand(testSecret, SiteCommandBody{TS: cr.Issued.Unix(), Nonce: cr.Nonce, Topic: testSite + "/cmd/correct",
		UserID: cr.UserID, Zone: cr.Zone, By: cr.By, Reason: cr.Reason})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
