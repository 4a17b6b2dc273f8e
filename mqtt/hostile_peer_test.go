package mqtt

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// A client with the broker password but not the signing secret sets the
// unsigned retained <site_topic>/evacuation to an ended evacuation of an
// id of its own, stamped in 2099. Until 2026-12-07 every gate took it as
// the newest state (Evacuation.Newer: the later ts wins), so every real
// state a gate published afterwards (a fire alarm's start, an operator's
// end) was refused as "older than the site's". A state stamped more than
// MaxEvacuationAhead ahead is refused now.
func TestFutureEvacuationStateDoesNotSilenceRealOnes(t *testing.T) {
	h := &siteRecorder{}
	c := siteClient(t, h)
	forged := Evacuation{Active: false, ID: "x", Since: "2099-01-01T00:00:00.000Z", TS: "2099-01-01T00:00:00.000Z", Gate: "x"}
	b, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	c.handleSite(inbound{topic: testSite + "/evacuation", payload: b, retained: true})

	now := record.Timestamp(time.Now())
	real := Evacuation{Active: true, ID: "evac-fire", Since: now, TS: now, By: "fire-alarm@entrance", Reason: "fire alarm input"}
	if err := c.PublishEvacuation(real); err != nil {
		t.Fatalf("a real fire alarm's evacuation state is not published: %v", err)
	}
	var got Evacuation
	if err := json.Unmarshal(c.site.evacuationPayload(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != real.ID {
		t.Fatalf("the retained evacuation state this gate publishes is %+v, want the real one %q", got, real.ID)
	}
}

// busySiteClient is a client with zones on whose site handler is busy
// with a peer's event (payload) until the test ends: what arrives next
// waits in the site queue.
func busySiteClient(t *testing.T) (*Client, []byte) {
	t.Helper()
	block := make(chan struct{})
	h := &blockingHandler{siteRecorder: &siteRecorder{}, block: block}
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix = testSite + "/entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: h}
	c := newClient(t, o)
	t.Cleanup(func() { close(block) })
	payload, _ := json.Marshal(func() record.Event { e := siteEvent("exit", 1); e.Site, e.Gate = "site", "exit"; return e }())
	c.onMessage(nil, fakeMessage{topic: testSite + "/exit/event", payload: payload})
	return c, payload
}

// Oversize site messages are copied and queued before anything checks
// their size: while the handler is busy (merging a snapshot takes
// seconds on a large site), whoever may publish on the site's event
// topics fills the 4096-message queue with payloads that ParseSiteEvent
// refuses at once when their turn comes (anything over 64 KiB), e.g.
// 4096 x 1 MiB = 4 GiB on a Pi.
func TestOversizeSiteMessagesAreNotQueued(t *testing.T) {
	c, _ := busySiteClient(t)
	huge := make([]byte, 1<<20)
	for range 64 {
		c.onMessage(nil, fakeMessage{topic: testSite + "/exit/event", payload: huge})
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(c.site.inbox); n > 0 {
		t.Fatalf("%d oversize events (1 MiB each, %d MiB) wait in the site queue; every one will be refused as over %d bytes", n, n, MaxSiteEventPayload)
	}
}

// Two gates, one with its clock 10 minutes fast. The fast one starts an
// evacuation (a fire alarm on its input); the other knows an older state
// (yesterday's ended evacuation). The other refuses the new state as from
// the future and publishes its own over it; the fast gate finds that older
// than its own and publishes its own again; and so on, at the broker's
// speed, until the fast gate's stamp is no longer 5 minutes ahead: a
// retained-publish storm on every gate of the site, for up to the skew.
// A gate should publish over a given future state once, not each time it
// comes back.
func TestFutureEvacuationStateDoesNotPingPong(t *testing.T) {
	now := time.Now()
	fastClk, slowClk := &fakeClock{t: now.Add(10 * time.Minute)}, &fakeClock{t: now}
	mk := func(gate string, clk Clock) *Client {
		o := testOptions(t, "tcp://127.0.0.1:1")
		o.Prefix, o.Site, o.Gate = testSite+"/"+gate, "plant-a", gate
		o.Clock = clk
		o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, SnapshotWindow: time.Millisecond}
		return newClient(t, o)
	}
	fast, slow := mk("exit", fastClk), mk("entrance", slowClk)

	yesterday := record.Timestamp(now.Add(-24 * time.Hour))
	if err := slow.PublishEvacuation(Evacuation{Active: false, ID: "old", Since: yesterday, TS: yesterday, Gate: "entrance", By: "op"}); err != nil {
		t.Fatal(err)
	}
	<-slow.site.evacOut
	at := record.Timestamp(fastClk.Now())
	if err := fast.PublishEvacuation(Evacuation{Active: true, ID: "fire", Since: at, TS: at, Gate: "exit", By: "fire-alarm@exit"}); err != nil {
		t.Fatal(err)
	}
	<-fast.site.evacOut

	// The broker: what one publishes, the other receives (retained).
	from, to := fast, slow
	publishes := 0
	for range 20 {
		to.handleSite(inbound{topic: testSite + "/evacuation", payload: from.site.evacuationPayload(), retained: true})
		select {
		case <-to.site.evacOut:
			publishes++
			from, to = to, from
		default:
		}
	}
	if publishes > 2 {
		t.Fatalf("%d retained evacuation publishes between two gates for one fire alarm (and counting): the two gates publish over each other", publishes)
	}
}

// The site queue holds at most siteQueueBytes of peers' snapshots and
// lists, not 4096 of them: a client with the broker's password that
// leaves retained 8 MiB snapshots on made-up gate names
// (<site>/ghost-N/site/snapshot) sent every gate up to 32 GiB to copy at
// each connect and resync (32 of them already held 256 MiB; found by a
// red-team pass). Meanwhile the evacuation and the peers' live events are
// still queued, and a retained snapshot dropped does not ask for a resync
// (which would fetch the same flood again).
func TestSiteQueueIsBoundedInBytes(t *testing.T) {
	c, payload := busySiteClient(t)
	time.Sleep(20 * time.Millisecond)
	snap := make([]byte, record.MaxSnapshotBytes) // at the limit: accepted
	for i := range 32 {
		c.onMessage(nil, fakeMessage{topic: fmt.Sprintf("%s/ghost-%d/site/snapshot", testSite, i), payload: snap, retained: true})
	}
	select {
	case <-c.site.resync:
		t.Error("retained snapshots dropped over the byte bound asked for a resync: it would fetch the same flood again")
	default:
	}
	c.onMessage(nil, fakeMessage{topic: c.site.topics.Evacuation, payload: []byte(`{}`), retained: true})
	c.onMessage(nil, fakeMessage{topic: testSite + "/exit/event", payload: payload})
	queued, evac, events := 0, 0, 0
	for range len(c.site.inbox) {
		m := <-c.site.inbox
		queued += len(m.payload)
		switch m.topic {
		case c.site.topics.Evacuation:
			evac++
		case testSite + "/exit/event":
			events++
		}
	}
	if queued > siteQueueBytes+(1<<20) {
		t.Errorf("%d MiB of retained snapshots of made-up gates wait in the site queue (bounded by 4096 messages, not bytes; 4096 x 8 MiB = 32 GiB)", queued>>20)
	}
	if evac != 1 || events != 1 {
		t.Errorf("behind the snapshots the evacuation was queued %d times and a live event %d times, want once each", evac, events)
	}
}
