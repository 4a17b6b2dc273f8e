package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// siteRecorder is a SiteHandler that records what it is given.
type siteRecorder struct {
	mu        sync.Mutex
	events    []record.Event
	relays    []record.PulseResult
	snapshots map[string][]byte
	lockouts  map[string][]byte
	evacs     []Evacuation
	cmds      []Command
}

func (r *siteRecorder) SiteEvent(ev record.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}
func (r *siteRecorder) SiteRelay(p record.PulseResult) {
	r.mu.Lock()
	r.relays = append(r.relays, p)
	r.mu.Unlock()
}
func (r *siteRecorder) SiteSnapshot(gate string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snapshots == nil {
		r.snapshots = map[string][]byte{}
	}
	r.snapshots[gate] = append([]byte(nil), b...)
}
func (r *siteRecorder) SiteLockout(gate string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lockouts == nil {
		r.lockouts = map[string][]byte{}
	}
	r.lockouts[gate] = append([]byte(nil), b...)
}
func (r *siteRecorder) SiteEvacuation(e Evacuation) {
	r.mu.Lock()
	r.evacs = append(r.evacs, e)
	r.mu.Unlock()
}
func (r *siteRecorder) SiteCommand(c Command) { r.mu.Lock(); r.cmds = append(r.cmds, c); r.mu.Unlock() }

func (r *siteRecorder) eventIDs() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, e := range r.events {
		m[e.EventID]++
	}
	return m
}

func (r *siteRecorder) snapshot(gate string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.snapshots[gate])
}

func (r *siteRecorder) lockout(gate string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.lockouts[gate])
}

func (r *siteRecorder) commands() []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Command(nil), r.cmds...)
}

func (r *siteRecorder) evacuations() []Evacuation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Evacuation(nil), r.evacs...)
}

// fakeSource is a SiteSource with settable content that counts reads.
type fakeSource struct {
	mu       sync.Mutex
	snapshot []byte
	lockout  []byte
	unlocks  [][]byte
	views    SiteViews
	reads    int
	ended    map[string]bool // EvacuationEnded
}

func (f *fakeSource) EvacuationEnded(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended[id]
}

func (f *fakeSource) endEvacuation(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended == nil {
		f.ended = map[string]bool{}
	}
	f.ended[id] = true
}

func (f *fakeSource) Lockout() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lockout
}

func (f *fakeSource) Unlocks() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unlocks
}

func (f *fakeSource) setUnlocks(u ...[]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unlocks = u
}

func (f *fakeSource) Snapshot() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return append([]byte(nil), f.snapshot...)
}

func (f *fakeSource) Views() SiteViews {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.views
}

func (f *fakeSource) set(snapshot string) {
	f.mu.Lock()
	f.snapshot = []byte(snapshot)
	f.mu.Unlock()
}

func (f *fakeSource) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func TestSiteChangedDebounces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{snapshot: []byte(`{"n":0}`)}
		o := testOptions(t, "tcp://127.0.0.1:1")
		o.Prefix = testSite + "/entrance"
		o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: src}
		c := newClient(t, o)
		defer c.Close(context.Background())
		synctest.Wait()
		if n := src.readCount(); n != 1 {
			t.Fatalf("%d reads at start, want 1 (the state loaded at start)", n)
		}
		start := time.Now()
		for i := 1; i <= 100; i++ {
			src.set(fmt.Sprintf(`{"n":%d}`, i))
			c.SiteChanged()
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		// t=0: the start; t=2s: the first change; the other 99 changes,
		// all before t=2s, wait for that publication.
		if n := src.readCount(); n != 1 {
			t.Fatalf("%d reads within %v, want 1", n, time.Since(start))
		}
		time.Sleep(2*time.Second - time.Since(start))
		synctest.Wait()
		if n, got := src.readCount(), string(c.retained.get(c.site.topics.Snapshot)); n != 2 || got != `{"n":100}` {
			t.Fatalf("after 2s: %d reads, snapshot %s; want 2 reads and the newest", n, got)
		}
		time.Sleep(10 * time.Second)
		if n := src.readCount(); n != 2 {
			t.Fatalf("%d reads without a change", n)
		}
		// A large snapshot is published less often: 128 KiB at 32 KiB/s
		// every 4 s, not every 2 s.
		src.set(`"` + strings.Repeat("x", 128<<10) + `"`)
		c.SiteChanged()
		synctest.Wait()
		at := time.Now()
		reads := src.readCount()
		src.set(`{"n":"small again"}`)
		c.SiteChanged()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if src.readCount() != reads {
			t.Fatalf("a 128 KiB snapshot was followed by another within %v", time.Since(at))
		}
		time.Sleep(1100 * time.Millisecond) // and the views' few bytes
		synctest.Wait()
		if src.readCount() != reads+1 {
			t.Fatalf("the change after a 128 KiB snapshot was not published after 4.1s")
		}
		// An unchanged view is not published again with a new ts.
		occ := c.retained.get(c.site.topics.Occupancy)
		c.SiteChanged()
		synctest.Wait()
		if !bytes.Equal(occ, c.retained.get(c.site.topics.Occupancy)) {
			t.Error("an unchanged occupancy view was published again")
		}
	})
}

// TestSiteListsAgeOutWithoutAChange: a quiet gate's failure and unlock
// lists lose their old stamps within Refresh, with no SiteChanged (the
// broker kept a list of hashed ids a gate published once for as long as
// nothing else happened there).
func TestSiteListsAgeOutWithoutAChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{snapshot: []byte(`{"n":0}`), lockout: []byte(`{"failures":"old"}`), unlocks: [][]byte{[]byte(`{"body":{},"sig":""}`)}}
		o := testOptions(t, "tcp://127.0.0.1:1")
		o.Prefix = testSite + "/entrance"
		o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: src, Commands: true, Secret: []byte(strings.Repeat("s", 32))}
		c := newClient(t, o)
		defer c.Close(context.Background())
		synctest.Wait()
		topics := c.site.topics
		if got := string(c.retained.get(topics.Lockout)); got != `{"failures":"old"}` {
			t.Fatalf("failure list at start %q", got)
		}
		if len(c.retained.get(topics.UnlockList)) == 0 {
			t.Fatal("no unlock list at start")
		}
		src.mu.Lock()
		src.lockout, src.unlocks = []byte(`{"failures":{}}`), nil
		src.mu.Unlock()
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if got := string(c.retained.get(topics.Lockout)); got != `{"failures":"old"}` {
			t.Fatalf("failure list republished before a minute: %q", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := string(c.retained.get(topics.Lockout)); got != `{"failures":{}}` {
			t.Fatalf("failure list after a minute %q, want the aged-out one", got)
		}
		if got := c.retained.get(topics.UnlockList); got == nil || len(got) != 0 {
			t.Fatalf("unlock list after a minute %q, want the empty payload that deletes it", got)
		}
	})
}

// A full site queue drops messages and asks for the peers' snapshots.
func TestSiteQueueOverflowResyncs(t *testing.T) {
	block := make(chan struct{})
	h := &blockingHandler{siteRecorder: &siteRecorder{}, block: block}
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix = testSite + "/entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: h, Queue: 4}
	c := newClient(t, o)
	defer close(block)
	payload, _ := json.Marshal(func() record.Event { e := siteEvent("exit", 1); e.Site, e.Gate = "site", "exit"; return e }())
	for range 10 {
		c.onMessage(nil, fakeMessage{topic: testSite + "/exit/event", payload: payload})
	}
	if c.SiteDropped() == 0 {
		t.Fatal("nothing dropped")
	}
	select {
	case <-c.site.resync:
	default:
		t.Fatal("no resync asked for")
	}
}

type blockingHandler struct {
	*siteRecorder
	block chan struct{}
}

func (b *blockingHandler) SiteEvent(ev record.Event) { <-b.block }

// fakeMessage is a paho.Message.
type fakeMessage struct {
	topic    string
	payload  []byte
	retained bool
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return m.retained }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

func TestSiteTopicRouting(t *testing.T) {
	h := &siteRecorder{}
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.Identify = true
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: h}
	c := newClient(t, o)
	ev := siteEvent("exit", 1)
	ev.Site, ev.Gate = "plant-a", "exit"
	good, _ := json.Marshal(ev)
	spoof := ev
	spoof.Gate = "entrance"
	spoofed, _ := json.Marshal(spoof)
	other := ev
	other.Site = "plant-b"
	otherSite, _ := json.Marshal(other)
	pulse, _ := json.Marshal(record.PulseResult{Kind: "relay", EventID: "exit-0001", TS: ev.TS, Site: "plant-a", Gate: "exit", Relay: "pulsed"})
	for _, m := range []fakeMessage{
		{topic: testSite + "/exit/event", payload: good},
		{topic: testSite + "/exit/event", payload: spoofed},   // the gate of the topic is not the event's
		{topic: testSite + "/exit/event", payload: otherSite}, // another site
		{topic: testSite + "/exit/event", payload: []byte(`{"event_id":""}`)},
		{topic: testSite + "/exit/event/relay", payload: pulse},
		{topic: testSite + "/exit/event/relay", payload: good}, // not a relay result
		{topic: testSite + "/exit/site/snapshot", payload: []byte(`{"v":1}`), retained: true},
		{topic: testSite + "/exit/site/snapshot", payload: nil, retained: true}, // a cleared retained snapshot
		{topic: testSite + "/exit/site/snapshot", payload: []byte(`{"v":2}`)},   // live, while the window is open
		{topic: testSite + "/a/b/event", payload: good},                         // not one level
		{topic: testSite + "/exit/site/lockout", payload: []byte(`{"l":1}`), retained: true},
		{topic: testSite + "/exit/site/lockout", payload: nil, retained: true}, // a cleared retained list
		{topic: testSite + "/a/b/site/lockout", payload: []byte(`{"l":2}`)},    // not one level
	} {
		c.onMessage(nil, m)
	}
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.events) == 1 && len(h.relays) == 1 && len(h.snapshots) == 1 && len(h.lockouts) == 1
	}, 2*time.Second, 5*time.Millisecond, "delivered")

	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) != 1 || h.events[0].EventID != ev.EventID || len(h.relays) != 1 || string(h.snapshots["exit"]) != `{"v":2}` ||
		len(h.lockouts) != 1 || string(h.lockouts["exit"]) != `{"l":1}` {
		t.Fatalf("events %+v relays %+v snapshots %q lockouts %q", h.events, h.relays, h.snapshots, h.lockouts)
	}
	// The gate's own commands still go to the kiosk.
	c.onMessage(nil, fakeMessage{topic: testSite + "/entrance/cmd/identify", payload: []byte(`{"submission_id":"s-1"}`)})
	select {
	case cmd := <-c.Commands():
		if id, ok := cmd.(Identify); !ok || id.SubmissionID != "s-1" {
			t.Fatalf("%+v", cmd)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("identify not delivered with zones on")
	}
}

func TestSiteOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"ok", func(*Options) {}, ""},
		{"prefix outside the site", func(o *Options) { o.Prefix = "facegate/plant-b/entrance" }, "must be facegate/plant-a/<gate>"},
		{"prefix two levels below", func(o *Options) { o.Prefix = testSite + "/north/entrance" }, "must be facegate/plant-a/<gate>"},
		{"wildcard topic", func(o *Options) { o.Zones.Topic = "facegate/+"; o.Prefix = "facegate/+/x" }, "without wildcards"},
		{"no handler", func(o *Options) { o.Zones.Handler = nil }, "no handler"},
		{"commands without a secret", func(o *Options) { o.Zones.Commands = true }, "secret is 0 bytes"},
		{"commands with open's secret", func(o *Options) { o.Zones.Commands = true; o.Open.Secret = testSecret }, ""},
		{"bad zone sensor", func(o *Options) { o.Zones.OccupancySensors = []string{"a\nb"} }, "zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, "tcp://127.0.0.1:1")
			o.Prefix = testSite + "/entrance"
			o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}}
			tc.set(&o)
			err := o.setDefaults()
			if tc.want == "" && err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidOptions)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEvacuationNewer(t *testing.T) {
	start := Evacuation{Active: true, ID: "e1", Since: "2026-11-22T07:45:12.000Z", TS: "2026-11-22T07:45:12.000Z"}
	end := start
	end.Active, end.TS = false, "2026-11-22T08:00:00.000Z"
	endSame := start
	endSame.Active = false
	other := start
	other.ID = "e2"
	for _, tc := range []struct {
		name string
		a, b Evacuation
		want bool
	}{
		{"later ts", end, start, true},
		{"earlier ts", start, end, false},
		{"end beats start at the same ts", endSame, start, true},
		{"start loses to end at the same ts", start, endSame, false},
		{"larger id", other, start, true},
		{"same", start, start, false},
	} {
		if got := tc.a.Newer(tc.b); got != tc.want {
			t.Errorf("%s: Newer = %v", tc.name, got)
		}
	}
}

func TestParseSiteEvent(t *testing.T) {
	ok := `{"event_id":"e1","seq":1,"ts":"2026-11-22T07:31:05.412Z","site":"plant-a","gate":"entrance","decision":"granted","reason":["approved"],"user_id":"w-1","zone_to":"site","future_field":{"x":1}}`
	if ev, err := ParseSiteEvent([]byte(ok)); err != nil || ev.ZoneTo != "site" {
		t.Fatalf("%+v %v", ev, err)
	}
	for _, bad := range []string{
		``, `[]`, `{`, `{"event_id":"e1"}`,
		strings.Replace(ok, `"ts":"2026-11-22T07:31:05.412Z"`, `"ts":"yesterday"`, 1),
		strings.Replace(ok, `"site":"plant-a"`, `"site":""`, 1),
		strings.Replace(ok, `"gate":"entrance"`, `"gate":"a\nb"`, 1),
		strings.Replace(ok, `"zone_to":"site"`, `"zone_to":" site"`, 1),
		strings.Replace(ok, `"user_id":"w-1"`, `"user_id":"w\u0000"`, 1),
		strings.Replace(ok, `"decision":"granted"`, `"decision":"maybe"`, 1),
		ok + `{}`,
		`{"event_id":"` + strings.Repeat("x", MaxSiteEventPayload) + `"}`,
		// Refused since jsonobj: dec.More missed a trailing ']' or '}', and
		// encoding/json keeps the last of repeated keys (also in another case)
		// where a peer's other readers may keep the first.
		ok + `]`,
		ok + "}\n",
		strings.Replace(ok, `"gate":"entrance"`, `"gate":"entrance","GATE":"exit"`, 1),
		strings.Replace(ok, `"decision":"granted"`, `"decision":"denied","decision":"granted"`, 1),
	} {
		if _, err := ParseSiteEvent([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("accepted or wrong error (%v): %.80s", err, bad)
		}
	}
}

func TestParseEvacuation(t *testing.T) {
	ok := `{"active":true,"id":"evac-1","since":"2026-11-22T07:45:12.000Z","ts":"2026-11-22T07:45:12.000Z","by":"ops"}`
	if e, err := ParseEvacuation([]byte(ok)); err != nil || !e.Active || e.ID != "evac-1" {
		t.Fatalf("%+v %v", e, err)
	}
	for _, bad := range []string{
		``, `null`, `{"active":true}`,
		strings.Replace(ok, `"id":"evac-1"`, `"id":""`, 1),
		strings.Replace(ok, `"since":"2026-11-22T07:45:12.000Z"`, `"since":"now"`, 1),
		strings.Replace(ok, `"by":"ops"`, `"by":"o\tps"`, 1),
		`{"id":"` + strings.Repeat("x", MaxEvacuationPayload) + `"}`,
	} {
		if _, err := ParseEvacuation([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("accepted or wrong error (%v): %.80s", err, bad)
		}
	}
}

func TestVerifySiteFields(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1763796600, 0)}
	v := newOpenVerifier(testSecret, testTopic, 30*time.Second, clk, filepath.Join(t.TempDir(), "replay.json"), writeNoSync)
	ev, co, un := testSite+"/cmd/evacuate", testSite+"/cmd/correct", testSite+"/cmd/unlock"
	v.AddSiteTopic(ev, testSecret)
	v.AddSiteTopic(co, testSecret)
	v.AddSiteTopic(un, testSecret)
	hash := "sha256:" + strings.Repeat("ab", 32)
	clk.Add(time.Minute)
	ts := clk.Now().Unix()
	n := 0
	nonce := func() string { n++; return fmt.Sprintf("nonce-%012d", n) }
	for _, tc := range []struct {
		name, topic, body string
		want              error
	}{
		{"start", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"start"}`, nil},
		{"end with id", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"end","id":"evac-1","by":"ops","reason":"drill over"}`, nil},
		{"correct", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"outside","reason":"left through the fire exit"}`, nil},
		{"no action", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `"}`, ErrMalformed},
		{"bad action", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"pause"}`, ErrMalformed},
		{"empty id", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"end","id":""}`, ErrMalformed},
		{"user on evacuate", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"start","user_id":"w-1"}`, ErrMalformed},
		{"action on correct", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"site","action":"start"}`, ErrMalformed},
		{"no zone", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1"}`, ErrMalformed},
		{"no user", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","zone":"site"}`, ErrMalformed},
		{"zone too long", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"` + strings.Repeat("z", 65) + `"}`, ErrMalformed},
		{"unknown field", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"site","x":1}`, ErrMalformed},
		{"wrong topic", co, `{"ts":%d,"nonce":"%s","topic":"` + testSite + `/other/cmd/correct","user_id":"w-1","zone":"site"}`, ErrWrongTopic},
		{"stale", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"site"}`, ErrStale},
		{"unlock", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `","submission_id":"` + hash + `","by":"site-office","reason":"checked in person"}`, nil},
		{"unlock of a plain id", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `","submission_id":"sub-1"}`, ErrMalformed},
		{"unlock upper case", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `","submission_id":"` + strings.ToUpper(hash) + `"}`, ErrMalformed},
		{"unlock short hash", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `","submission_id":"` + hash[:70] + `"}`, ErrMalformed},
		{"unlock without id", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `"}`, ErrMalformed},
		{"user on unlock", un, `{"ts":%d,"nonce":"%s","topic":"` + un + `","submission_id":"` + hash + `","user_id":"w-1"}`, ErrMalformed},
		{"submission on correct", co, `{"ts":%d,"nonce":"%s","topic":"` + co + `","user_id":"w-1","zone":"site","submission_id":"` + hash + `"}`, ErrMalformed},
		{"submission on evacuate", ev, `{"ts":%d,"nonce":"%s","topic":"` + ev + `","action":"start","submission_id":"` + hash + `"}`, ErrMalformed},
		{"unlock signed for correct", un, `{"ts":%d,"nonce":"%s","topic":"` + co + `","submission_id":"` + hash + `"}`, ErrWrongTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := ts
			if tc.want == ErrStale {
				at -= 120
			}
			body := fmt.Sprintf(tc.body, at, nonce())
			payload := `{"body":` + body + `,"sig":"` + hmacHex(testSecret, body) + `"}`
			cmd, err := v.VerifySite(tc.topic, []byte(payload))
			if tc.want == nil && err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v (%+v), want %v", err, cmd, tc.want)
			}
			if u, ok := cmd.(Unlock); ok && (u.Key != hash[len("sha256:"):] || u.By != "site-office" || !u.Issued.Equal(time.Unix(at, 0))) {
				t.Fatalf("unlock read as %+v", u)
			}
		})
	}
	if _, err := v.VerifySite(testSite+"/cmd/unknown", []byte(`{}`)); !errors.Is(err, ErrWrongTopic) {
		t.Errorf("an unknown site topic: %v", err)
	}
}

// Occupancy sensors are announced only for the zones asked for.
func TestDiscoveryOccupancyOnlyWhenAsked(t *testing.T) {
	dc := discoveryConfig{prefix: "homeassistant", topics: newTopics("facegate/plant-a/north", "homeassistant"), nodeID: "n", name: "x",
		occupancyTopic: "facegate/plant-a/north/site/occupancy"}
	for _, m := range discoveryMessages(dc) {
		if strings.Contains(m.Topic, "occupancy") {
			t.Fatalf("an occupancy sensor without zones: %s", m.Topic)
		}
	}
	dc.zones = []string{"zone b", "zone_b"}
	ids := map[string]bool{}
	for _, m := range discoveryMessages(dc) {
		if strings.Contains(m.Topic, "/occupancy_") {
			ids[m.Topic] = true
		}
	}
	if len(ids) != 2 {
		t.Fatalf("two zones whose names sanitise alike must stay two sensors: %v", ids)
	}
}

// TestSetIfChangedStoresBeforeOthersSeeItUnchanged: the site loop and a
// direct call publish the same views; the one that finds a view unchanged
// must find it stored too. Before, the first marked it set, then stored
// it; the second returned in between and read nothing (the golden test
// failed that way on the arm64 emulator).
func TestSetIfChangedStoresBeforeOthersSeeItUnchanged(t *testing.T) {
	s := newSiteLink(SiteOptions{Topic: "facegate/site"}, "facegate/gate-1")
	r := newRetainedStore()
	const topic = "facegate/site/occupancy"
	stored := make(chan struct{})
	go func() {
		s.setIfChanged(r, topic, []byte(`{"zones":{}}`), func() []byte {
			close(stored)
			time.Sleep(50 * time.Millisecond) // a slow encoding widens the window
			return []byte(`{"zones":{},"ts":"2026-11-22T07:52:00.000Z"}`)
		})
	}()
	<-stored
	if n := s.setIfChanged(r, topic, []byte(`{"zones":{}}`), nil); n != 0 {
		t.Fatalf("the same view set again (%d bytes)", n)
	}
	if got := r.get(topic); got == nil {
		t.Fatal("the view was found unchanged but is not in the retained store yet")
	}
}
