package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/internal/syncbuf"
	"github.com/facegate/facegate/mqtt/outbox"
)

// withSiteCommands turns the signed site commands on, with the replay
// memory in dir.
func withSiteCommands(dir string) func(*Options) {
	return func(o *Options) {
		o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(dir, "replay.json")}
		o.Zones.Commands = true
	}
}

// evacuates are the verified cmd/evacuate a recorder got, in order.
func evacuates(r *siteRecorder) []Evacuate {
	var out []Evacuate
	for _, c := range r.commands() {
		if e, ok := c.(Evacuate); ok {
			out = append(out, e)
		}
	}
	return out
}

// A gate's own evacuation start and end reach the peers as the signed
// cmd/evacuate, named as the sender names it; the sender's echo is dropped.
func TestSiteMosquittoPublishEvacuate(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	a := newSiteGate(t, mq.URL(), "entrance", withSiteCommands(t.TempDir()))
	b := newSiteGate(t, mq.URL(), "exit", withSiteCommands(t.TempDir()))
	off := newSiteGate(t, mq.URL(), "zone-b-door", nil)
	require.Eventually(t, func() bool { return a.c.Connected() && b.c.Connected() && off.c.Connected() }, 5*time.Second, 5*time.Millisecond, "connected")
	if _, err := off.c.PublishEvacuate(Evacuate{Action: EvacuateStart, ID: "evac-1"}); !errors.Is(err, ErrSiteCommandsOff) {
		t.Fatalf("without site commands: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // past the replay memory's first second
	if _, err := a.c.PublishEvacuate(Evacuate{Action: EvacuateStart}); err == nil {
		t.Fatal("a start without an id was queued")
	}
	if _, err := a.c.PublishEvacuate(Evacuate{Action: EvacuateStart, ID: "evac-1", By: "bad\x00by"}); err == nil {
		t.Fatal("a start with a control character in by was queued")
	}
	const id = "evac-20261202T100000.000Z-ABCDEF-entrance"
	for i, action := range []string{EvacuateStart, EvacuateEnd} {
		sent, err := a.c.PublishEvacuate(Evacuate{Action: action, ID: id, By: "fire-alarm@entrance", Reason: "fire alarm input"})
		if err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { return len(evacuates(b.h)) == i+1 }, 5*time.Second, 5*time.Millisecond, "the peer got the %s", action)
		got := evacuates(b.h)[i]
		if got.Action != action || got.ID != id || got.By != "fire-alarm@entrance" || got.Nonce == "" ||
			got.Issued.Before(sent.Issued.Truncate(time.Second)) || got.Issued.Sub(sent.Issued) > 2*time.Second {
			t.Fatalf("peer got %+v, sent %+v", got, sent)
		}
	}
	require.Eventually(t, func() bool { return a.c.cmdBox.Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the command outbox drained")
	require.Eventually(t, func() bool { a.c.site.mu.Lock(); defer a.c.site.mu.Unlock(); return len(a.c.site.sent) == 0 }, 5*time.Second, 5*time.Millisecond, "the sender saw its commands back")
	if n := len(a.h.commands()); n != 0 {
		t.Fatalf("the sender got its own commands back: %+v", a.h.commands())
	}
	if n := len(off.h.commands()); n != 0 {
		t.Fatalf("a gate without site commands applied %+v", off.h.commands())
	}
}

// An evacuation decided while the broker is down reaches the peers as a
// verified cmd/evacuate once it is back, also across a restart of the
// deciding gate: signed when sent, so fresh on arrival although decided
// longer than max_skew before. A start whose evacuation is over by the
// time the broker is back (SiteSource.EvacuationEnded: ended here, its end
// queued, or by another gate, its end not queued here) is not sent: the
// peers would hold their relays for an evacuation that is over; nor is a
// start whose end is queued behind it when the presence does not know the
// id (its state file lost at boot, a save failed before a kill -9). An end
// is.
func TestSiteMosquittoEvacuateQueuedWhileBrokerDown(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	b := newSiteGate(t, mq.URL(), "exit", withSiteCommands(t.TempDir()))
	require.Eventually(t, b.c.Connected, 5*time.Second, 5*time.Millisecond, "peer connected")
	mq.Stop() // the peer's persistent session keeps its subscriptions

	// The decisions are a minute old when the broker is back: a command
	// signed when it was decided would be stale (max_skew 30s) on arrival.
	clk := &fakeClock{t: time.Now().Add(-time.Minute)}
	dir := t.TempDir()
	gate := &siteGate{h: &siteRecorder{}, src: &fakeSource{snapshot: []byte(`{}`)}}
	o := testOptions(t, mq.URL())
	o.ClientID = "facegate-plant-a-entrance-" + t.Name()
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.ConnectTimeout = time.Second
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: gate.h, Source: gate.src}
	withSiteCommands(dir)(&o)
	o.Clock = clk
	o.OutboxPath = filepath.Join(dir, "outbox.log")
	a := newClient(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	for _, ev := range []Evacuate{
		{Action: EvacuateStart, ID: "evac-down", By: "fire-alarm@entrance", Reason: "fire alarm input"},
		{Action: EvacuateStart, ID: "evac-over", By: "marshal"},
		{Action: EvacuateEnd, ID: "evac-over", By: "marshal", Reason: "drill over"},
		{Action: EvacuateStart, ID: "evac-elsewhere", By: "marshal"},
		{Action: EvacuateStart, ID: "evac-forgotten", By: "marshal"},
		{Action: EvacuateEnd, ID: "evac-forgotten", By: "marshal"},
	} {
		if _, err := a.PublishEvacuate(ev); err != nil {
			t.Fatalf("%s %s while the broker is down: %v", ev.Action, ev.ID, err)
		}
	}
	// The presence: evac-over ended here, evac-elsewhere by another gate's
	// operator (its end is not in this gate's queue); evac-forgotten is
	// unknown to it.
	gate.src.endEvacuation("evac-over")
	gate.src.endEvacuation("evac-elsewhere")
	// The gate restarts before the broker is back: the commands are on disk.
	cancel()
	closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := a.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Since(clk.Now()))
	a2 := newClient(t, o)
	runClient(t, a2)
	mq.Restart()

	require.Eventually(t, func() bool { return len(evacuates(b.h)) >= 3 }, 10*time.Second, 5*time.Millisecond, "the peer got the queued commands")
	got := evacuates(b.h)
	if len(got) != 3 || got[0].Action != EvacuateStart || got[0].ID != "evac-down" || got[0].By != "fire-alarm@entrance" ||
		got[1].Action != EvacuateEnd || got[1].ID != "evac-over" || got[2].Action != EvacuateEnd || got[2].ID != "evac-forgotten" {
		t.Fatalf("peer got %+v, want the start of evac-down and the ends of evac-over and evac-forgotten only", got)
	}
	require.Eventually(t, func() bool { return a2.cmdBox.Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the command outbox drained")
	time.Sleep(200 * time.Millisecond) // nothing more comes
	if n := len(evacuates(b.h)); n != 3 {
		t.Fatalf("peer got %d commands: %+v", n, evacuates(b.h))
	}
}

// A queued command that can no longer be signed (ErrMalformed: here an id
// longer than the limit, as a record written before a rule on ids would
// be) is dropped with an error naming it and SiteOptions.CommandDropped
// (the daemon alerts: a lost end leaves the peers' relays held): the
// commands behind it still go.
func TestSiteMosquittoMalformedQueuedCommandDropped(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	b := newSiteGate(t, mq.URL(), "exit", withSiteCommands(t.TempDir()))
	require.Eventually(t, b.c.Connected, 5*time.Second, 5*time.Millisecond, "peer connected")
	dir := t.TempDir()
	o := testOptions(t, mq.URL())
	o.ClientID = "facegate-plant-a-entrance-" + t.Name()
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: &fakeSource{snapshot: []byte(`{}`)}}
	withSiteCommands(dir)(&o)
	type drop struct{ action, id string }
	var dmu sync.Mutex
	var drops []drop
	o.Zones.CommandDropped = func(action, id string, err error) {
		dmu.Lock()
		defer dmu.Unlock()
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("CommandDropped err = %v, want ErrMalformed", err)
		}
		drops = append(drops, drop{action, id})
	}
	o.OutboxPath = filepath.Join(dir, "outbox.log")
	o.AckTimeout = 200 * time.Millisecond
	logs := &syncbuf.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	a := newClient(t, o)
	long := strings.Repeat("x", maxEvacuationID+1)
	if _, err := a.cmdBox.Append(mustJSON(queuedEvacuate{Action: EvacuateEnd, ID: long, Issued: time.Now().UnixMilli()})); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublishEvacuate(Evacuate{Action: EvacuateStart, ID: "evac-ok", By: "marshal"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the peer's replay memory's first second
	runClient(t, a)
	require.Eventually(t, func() bool { return len(evacuates(b.h)) == 1 }, 5*time.Second, 5*time.Millisecond, "the command behind the malformed one sent")
	if got := evacuates(b.h)[0]; got.ID != "evac-ok" {
		t.Fatalf("peer got %+v", got)
	}
	require.Eventually(t, func() bool { return a.cmdBox.Len() == 0 }, 5*time.Second, 5*time.Millisecond, "the command outbox drained")
	if l := logs.String(); !strings.Contains(l, "level=ERROR msg=\"mqtt queued site command malformed: dropped\" id="+long+" action=end") {
		t.Fatalf("no error naming the dropped command:\n%s", l)
	}
	dmu.Lock()
	defer dmu.Unlock()
	if len(drops) != 1 || drops[0] != (drop{EvacuateEnd, long}) {
		t.Fatalf("CommandDropped got %+v, want the end of the malformed id once", drops)
	}
}

// Damage in the command outbox is reported like the event outbox's: an
// error log and CommandOutboxRecovery (which the daemon alerts on).
func TestSiteCommandOutboxDamageReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SiteCommandsFileName)
	box, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evac-1", "evac-2", "evac-3"} {
		if _, err := box.Append(mustJSON(queuedEvacuate{Action: EvacuateStart, ID: id, Issued: 1})); err != nil {
			t.Fatal(err)
		}
	}
	box.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[bytes.Index(raw, []byte("evac-2"))] ^= 0x01 // no longer matches its checksum
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: &fakeSource{}, CommandOutboxPath: path}
	withSiteCommands(dir)(&o)
	logs := &syncbuf.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c := newClient(t, o)
	defer c.Close(context.Background())
	if r := c.CommandOutboxRecovery(); !r.Damaged() || r.Lost != 1 {
		t.Fatalf("CommandOutboxRecovery = %+v, want one record lost", r)
	}
	if l := logs.String(); !strings.Contains(l, `level=ERROR msg="mqtt outbox damaged at open: records lost" outbox="site commands" recovery="1 records lost`) {
		t.Fatalf("no error log for the damage:\n%s", l)
	}
	if n := c.cmdBox.Len(); n != 2 {
		t.Fatalf("%d commands kept, want the 2 intact", n)
	}
}

// Both outboxes report what opening them found the same way, once: one
// error line naming the outbox for lost records (the daemon alerts
// without logging it again).
func TestOutboxOpenReported(t *testing.T) {
	damaged := func(t *testing.T, path string, payload func(i int) []byte) {
		t.Helper()
		box, err := outbox.Open(path, outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			if _, err := box.Append(payload(i)); err != nil {
				t.Fatal(err)
			}
		}
		box.Close()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		raw[bytes.Index(raw, []byte("rec-2"))] ^= 0x01 // no longer matches its checksum
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.OutboxPath = filepath.Join(dir, "outbox.log")
	cmdPath := filepath.Join(dir, SiteCommandsFileName)
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: &fakeSource{}, CommandOutboxPath: cmdPath}
	withSiteCommands(dir)(&o)
	damaged(t, o.OutboxPath, func(i int) []byte { return fmt.Appendf(nil, `{"event_id":"rec-%d"}`, i) })
	damaged(t, cmdPath, func(i int) []byte {
		return mustJSON(queuedEvacuate{Action: EvacuateEnd, ID: fmt.Sprintf("rec-%d", i), Issued: 1})
	})
	logs := &syncbuf.Buffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c := newClient(t, o)
	defer c.Close(context.Background())
	if !c.OutboxRecovery().Damaged() || !c.CommandOutboxRecovery().Damaged() {
		t.Fatalf("recoveries %+v %+v, want both damaged", c.OutboxRecovery(), c.CommandOutboxRecovery())
	}
	l := logs.String()
	for _, name := range []string{`outbox=events`, `outbox="site commands"`} {
		line := `level=ERROR msg="mqtt outbox damaged at open: records lost" ` + name + ` recovery="1 records lost`
		if n := strings.Count(l, line); n != 1 {
			t.Errorf("%d lines %q, want 1:\n%s", n, line, l)
		}
	}
}
