package sitescale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

const siteTopic = "facegate/scale"

var zones = []site.Zone{{Name: "site"}, {Name: "zone-b", Inside: "site", Hazardous: true, MaxOccupancy: 400}}

// doors cycle over the gates: entrances, exits and the hazardous zone's
// two-way doors.
var doors = []site.Door{
	{From: site.Outside, To: "site", Direction: site.Entry},
	{From: "site", To: site.Outside, Direction: site.Exit},
	{From: "site", To: "zone-b", Direction: site.Both},
}

// scale is one run's shape.
type scale struct {
	gates, decisions, persons int
	rate                      float64 // decisions per second over the whole site
	// interval is the gates' SnapshotInterval.
	interval time.Duration
	// bridged splits the gates over two mosquittos bridged both ways on
	// the site's topic tree.
	bridged bool
}

// result is what a run measured.
type result struct {
	deliveries         int
	p50, p95, p99, max time.Duration
	wall               time.Duration
	brokerCPU, gateCPU time.Duration
	snapshotBytes      int
	dropped            uint64
	converged          time.Duration // from the last decision to equal presences
	publishP50, pubP95 time.Duration // PublishEvent (outbox append + fsync)
	// crossP50, crossP95: deliveries from a gate on the other broker.
	crossP50, crossP95 time.Duration
}

// gate is one in-process gate.
type gate struct {
	name string
	p    *site.Presence
	c    *mqtt.Client
	door site.Door
	seq  uint64

	got    atomic.Int64 // decision events received (own included)
	lats   []time.Duration
	cross  []time.Duration // from gates on the other broker
	broker int
	mu     sync.Mutex
}

// sent is when each decision's PublishEvent was called, by decision index.
type clockBook struct{ at []atomic.Int64 }

// handler feeds a gate's Presence from the site's traffic.
type handler struct {
	g    *gate
	sent *clockBook
	// brokerOf is the broker index of each gate, by gate name.
	brokerOf map[string]int
}

func (h handler) SiteEvent(ev record.Event) {
	now := time.Now().UnixNano()
	if _, err := h.g.p.ApplyEvent(ev); err != nil {
		panic(err)
	}
	i, err := strconv.Atoi(ev.EventID[strings.LastIndexByte(ev.EventID, '-')+1:])
	if err == nil && i < len(h.sent.at) {
		if t0 := h.sent.at[i].Load(); t0 != 0 {
			h.g.mu.Lock()
			if h.brokerOf[ev.Gate] == h.g.broker {
				h.g.lats = append(h.g.lats, time.Duration(now-t0))
			} else {
				h.g.cross = append(h.g.cross, time.Duration(now-t0))
			}
			h.g.mu.Unlock()
		}
	}
	h.g.got.Add(1)
}
func (h handler) SiteRelay(r record.PulseResult) { h.g.p.ApplyRelay(r) }
func (h handler) SiteSnapshot(gate string, b []byte) {
	if _, err := h.g.p.Merge(b); err != nil {
		panic(fmt.Sprintf("%s: merge %s: %v", h.g.name, gate, err))
	}
}
func (h handler) SiteLockout(string, []byte)     {}
func (h handler) SiteEvacuation(mqtt.Evacuation) {}
func (h handler) SiteCommand(mqtt.Command)       {}

// source publishes a gate's snapshot (its own facts, as cmd/facegate
// does) and views.
type source struct {
	p    *site.Presence
	gate string
}

func (s source) Snapshot() []byte               { return s.p.SnapshotOf(s.gate) }
func (s source) Lockout() []byte                { return nil }
func (s source) Unlocks() [][]byte              { return nil }
func (s source) EvacuationEnded(id string) bool { return s.p.EvacuationEnded(id) }
func (s source) Views() mqtt.SiteViews {
	v := mqtt.SiteViews{Occupancy: mqtt.OccupancyView{Zones: map[string]mqtt.ZoneCount{}},
		Presence: mqtt.PresenceView{Zones: map[string][]mqtt.PersonView{}}}
	for _, z := range s.p.Zones() {
		v.Occupancy.Zones[z.Name] = mqtt.ZoneCount{Count: s.p.Occupancy()[z.Name], Max: z.MaxOccupancy}
	}
	for zone, ps := range s.p.Inside() {
		for _, p := range ps {
			v.Presence.Zones[zone] = append(v.Presence.Zones[zone], mqtt.PersonView{UserID: p.ID, Since: record.Timestamp(p.Since)})
		}
	}
	return v
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// run starts s.gates gates on one mosquitto, spreads s.decisions granted
// decisions over them at s.rate, and waits until every gate received every
// decision and all presences are equal.
func run(tb testing.TB, s scale) result {
	mq := mosquittotest.Start(tb, mosquittotest.Config{})
	brokers := []*mosquittotest.Mosquitto{mq}
	if s.bridged {
		// The second broker bridges the site's tree both ways to the first.
		brokers = append(brokers, mosquittotest.Start(tb, mosquittotest.Config{Extra: fmt.Sprintf(
			"connection bridge-scale\naddress %s\ntopic %s/# both 1\ncleansession false\ntry_private true\nremote_clientid bridge-scale\n",
			mq.Addr(), siteTopic)}))
		waitBridge(tb, brokers)
	}
	brokerOf := map[string]int{}
	for i := range s.gates {
		brokerOf[fmt.Sprintf("g%03d", i)] = i % len(brokers)
	}
	sent := &clockBook{at: make([]atomic.Int64, s.decisions)}
	dir := tb.TempDir()
	gates := make([]*gate, s.gates)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range gates {
		g := &gate{name: fmt.Sprintf("g%03d", i), door: doors[i%len(doors)], broker: i % len(brokers)}
		p, err := site.New(site.Options{Site: "scale", Gate: g.name, Zones: zones, Door: g.door, Log: quiet()})
		if err != nil {
			tb.Fatal(err)
		}
		g.p = p
		c, err := mqtt.New(mqtt.Options{
			URLs: []string{brokers[g.broker].URL()}, ClientID: "scale-" + g.name, Prefix: siteTopic + "/" + g.name, Site: "scale", Gate: g.name,
			OutboxPath: filepath.Join(dir, g.name+".outbox"), Logger: quiet(),
			Zones: mqtt.SiteOptions{Enabled: true, Topic: siteTopic, Handler: handler{g, sent, brokerOf}, Source: source{p, g.name},
				SnapshotInterval: s.interval},
		})
		if err != nil {
			tb.Fatal(err)
		}
		g.c = c
		p.Subscribe(func(site.Change) { c.SiteChanged() })
		gates[i] = g
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, g := range gates {
			g.c.Close(context.Background())
		}
	}()
	waitUntil(tb, 60*time.Second, "every gate connected", func() bool {
		return !slices.ContainsFunc(gates, func(g *gate) bool { return !g.c.Connected() })
	})

	// Each gate decides on its own goroutine (its PublishEvent waits for
	// its outbox's fsync, as a real gate's does); a dispatcher spreads the
	// decisions over random gates at s.rate.
	type decision struct {
		i      int
		person string
	}
	queues := make([]chan decision, len(gates))
	pubLats := make([][]time.Duration, len(gates))
	var producers sync.WaitGroup
	failed := make(chan error, len(gates))
	for gi, g := range gates {
		queues[gi] = make(chan decision, 1024)
		producers.Add(1)
		go func() {
			defer producers.Done()
			for d := range queues[gi] {
				from, to := g.door.From, g.door.To
				if g.door.Direction == site.Both {
					from, to = g.p.Destination(d.person)
				}
				g.seq++
				t0 := time.Now()
				ev := record.Event{EventID: fmt.Sprintf("%s-%d", g.name, d.i), Seq: g.seq, TS: record.Timestamp(t0),
					Decision: record.DecisionGranted, Reason: []string{"approved"}, UserID: d.person, IdentitySource: "qr",
					ZoneFrom: from, ZoneTo: to, Direction: g.door.Direction, SiteView: record.SiteViewSite, Relay: record.RelayPending}
				sent.at[d.i].Store(t0.UnixNano())
				if err := g.c.PublishEvent(ev); err != nil {
					failed <- err
					return
				}
				pubLats[gi] = append(pubLats[gi], time.Since(t0))
			}
		}()
	}
	cpu := func() (d time.Duration) {
		for _, b := range brokers {
			d += brokerCPU(tb, b.PID())
		}
		return d
	}
	broker0, gate0 := cpu(), selfCPU()
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	tick := time.Duration(float64(time.Second) / s.rate)
	next := time.Now()
	for i := range s.decisions {
		queues[rng.IntN(len(gates))] <- decision{i, fmt.Sprintf("w-%05d", rng.IntN(s.persons))}
		next = next.Add(tick)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	for _, q := range queues {
		close(q)
	}
	producers.Wait()
	select {
	case err := <-failed:
		tb.Fatal(err)
	default:
	}
	lastDecision := time.Now()
	want := int64(s.decisions)
	waitUntil(tb, 10*time.Minute, "every gate received every decision", func() bool {
		return !slices.ContainsFunc(gates, func(g *gate) bool { return g.got.Load() < want })
	})
	var ref []byte
	waitUntil(tb, 2*time.Minute, "every gate has the same presence", func() bool {
		ref = presence(tb, gates[0].p)
		return !slices.ContainsFunc(gates[1:], func(g *gate) bool { return !bytes.Equal(presence(tb, g.p), ref) })
	})
	converged := time.Since(lastDecision)
	if s.bridged {
		// A gate that joins now, on the bridged broker, learns the whole
		// site from the retained snapshots alone: they crossed the bridge.
		lateSnapshots(tb, brokers[1].URL(), dir, ref)
	}
	r := result{wall: time.Since(start), converged: converged,
		brokerCPU: cpu() - broker0, gateCPU: selfCPU() - gate0, snapshotBytes: len(gates[0].p.SnapshotOf(gates[0].name))}
	var all, cross []time.Duration
	for _, g := range gates {
		all = append(all, g.lats...)
		cross = append(cross, g.cross...)
		r.dropped += g.c.SiteDropped()
		if n := g.got.Load(); n != want {
			tb.Errorf("%s received %d decisions, want %d (duplicates count: at-least-once)", g.name, n, want)
		}
	}
	slices.Sort(cross)
	r.crossP50, r.crossP95 = pct(cross, 50), pct(cross, 95)
	all = append(all, cross...)
	slices.Sort(all)
	pubAll := slices.Concat(pubLats...)
	slices.Sort(pubAll)
	r.deliveries = len(all)
	r.p50, r.p95, r.p99, r.max = pct(all, 50), pct(all, 95), pct(all, 99), all[len(all)-1]
	r.publishP50, r.pubP95 = pct(pubAll, 50), pct(pubAll, 95)
	if r.deliveries != s.gates*s.decisions {
		tb.Errorf("%d deliveries, want %d", r.deliveries, s.gates*s.decisions)
	}
	if gates[0].p.Len() == 0 {
		tb.Fatal("nobody tracked")
	}
	return r
}

// presence is a gate's presence without what names the gate.
func presence(tb testing.TB, p *site.Presence) []byte {
	var m map[string]any
	if err := json.Unmarshal(p.Snapshot(), &m); err != nil {
		tb.Fatal(err)
	}
	delete(m, "gate")
	b, _ := json.Marshal(m)
	return b
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)]
}

func waitUntil(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// brokerCPU is the user+system CPU time of a process, from /proc/<pid>/stat.
func brokerCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatalf("broker CPU: %v", err)
	}
	// The fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPU is this process's user+system CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r result) report(tb testing.TB, s scale) {
	tb.Logf("%d gates, %d decisions at %.0f/s over %d persons, snapshot interval %v: %d deliveries in %v",
		s.gates, s.decisions, s.rate, s.persons, s.interval, r.deliveries, r.wall.Round(time.Millisecond))
	tb.Logf("delivery latency (PublishEvent to every gate's handler): p50 %v, p95 %v, p99 %v, max %v",
		r.p50.Round(10*time.Microsecond), r.p95.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(time.Millisecond))
	if s.bridged {
		tb.Logf("two bridged brokers: from a gate on the other broker p50 %v, p95 %v", r.crossP50.Round(10*time.Microsecond), r.crossP95.Round(10*time.Microsecond))
	}
	tb.Logf("PublishEvent (outbox append+fsync): p50 %v, p95 %v", r.publishP50.Round(10*time.Microsecond), r.pubP95.Round(10*time.Microsecond))
	tb.Logf("CPU: broker %v (%.0f%% of one core over the run), gates %v (%.1f ms per gate per second; %.1f µs per delivery)",
		r.brokerCPU, 100*r.brokerCPU.Seconds()/r.wall.Seconds(), r.gateCPU.Round(time.Millisecond),
		1000*r.gateCPU.Seconds()/r.wall.Seconds()/float64(s.gates), float64(r.gateCPU.Microseconds())/float64(r.deliveries))
	tb.Logf("equal presences %v after the last decision; snapshot %d bytes; site messages dropped %d", r.converged.Round(time.Millisecond), r.snapshotBytes, r.dropped)
	if b, ok := tb.(*testing.B); ok {
		b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(r.p95.Microseconds())/1000, "p95-ms")
		b.ReportMetric(r.brokerCPU.Seconds(), "broker-cpu-s")
		b.ReportMetric(r.gateCPU.Seconds(), "gates-cpu-s")
	}
}

// TestSiteScaleSmall: 20 gates, 1,000 decisions; every gate ends with the
// same presence. FACEGATE_SITE_SCALE=full runs the 200-gate version.
func TestSiteScaleSmall(t *testing.T) {
	s := scale{gates: 20, decisions: 1000, persons: 300, rate: 500, interval: 2 * time.Second}
	if os.Getenv("FACEGATE_SITE_SCALE") == "full" {
		s = fullScale()
	} else if testing.Short() {
		s.gates, s.decisions = 5, 200
	}
	s.tune()
	run(t, s).report(t, s)
}

func fullScale() scale {
	s := scale{gates: 200, decisions: 20000, persons: 2000, rate: 100, interval: 2 * time.Second}
	s.tune()
	return s
}

// tune applies FACEGATE_SITE_DECISIONS, FACEGATE_SITE_RATE (decisions per
// second) and FACEGATE_SITE_INTERVAL (the snapshot interval).
func (s *scale) tune() {
	if v, err := strconv.Atoi(os.Getenv("FACEGATE_SITE_DECISIONS")); err == nil && v > 0 {
		s.decisions = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("FACEGATE_SITE_RATE"), 64); err == nil && v > 0 {
		s.rate = v
	}
	if v, err := time.ParseDuration(os.Getenv("FACEGATE_SITE_INTERVAL")); err == nil && v > 0 {
		s.interval = v
	}
}

// BenchmarkSite200 is issue 15's scale run: 200 gates, 20,000 decisions
// at 100 per second (make bench-site; minutes, so only with
// FACEGATE_SITE_SCALE=full). One iteration is the whole run.
func BenchmarkSite200(b *testing.B) {
	if os.Getenv("FACEGATE_SITE_SCALE") != "full" {
		b.Skip("the 200-gate run takes minutes: make bench-site (FACEGATE_SITE_SCALE=full)")
	}
	s := fullScale()
	for b.Loop() {
		run(b, s).report(b, s)
	}
}

// BenchmarkApply measures what following a site costs one gate: the time
// to apply one decision event and the memory per tracked person.
func BenchmarkApply(b *testing.B) {
	const persons = 100_000
	p, err := site.New(site.Options{Site: "scale", Gate: "g000", Zones: zones, Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]record.Event, persons)
	base := time.Now()
	for i := range evs {
		evs[i] = record.Event{EventID: fmt.Sprintf("g001-%d", i), Seq: uint64(i + 1), TS: record.Timestamp(base.Add(time.Duration(i) * time.Millisecond)),
			Site: "scale", Gate: "g001", Decision: record.DecisionGranted, UserID: fmt.Sprintf("w-%06d", i), ZoneFrom: "outside", ZoneTo: "site"}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for _, ev := range evs {
		p.ApplyEvent(ev)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perPerson := float64(m1.HeapAlloc-m0.HeapAlloc) / persons
	snapPerPerson := float64(len(p.Snapshot())) / persons
	i := 0
	for b.Loop() {
		// Moves between zones of persons already tracked (the steady state).
		ev := evs[i%persons]
		ev.EventID = fmt.Sprintf("g002-%d", i)
		ev.Gate, ev.Seq = "g002", uint64(i+1)
		ev.TS = record.Timestamp(base.Add(time.Hour + time.Duration(i)*time.Millisecond))
		ev.ZoneTo = []string{"zone-b", "site", "outside"}[i%3]
		if _, err := p.ApplyEvent(ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(perPerson, "B/person")
	b.ReportMetric(snapPerPerson, "snapshot-B/person")
}

// BenchmarkSnapshot2000 measures what a gate's snapshot and views cost at
// a site of 2,000 tracked persons: encoding them (each SnapshotInterval
// while the presence changes) and merging a peer's (at each window).
func BenchmarkSnapshot2000(b *testing.B) {
	p, err := site.New(site.Options{Site: "scale", Gate: "g000", Zones: zones, Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	base := time.Now()
	for i := range 2000 {
		p.ApplyEvent(record.Event{EventID: fmt.Sprintf("g001-%d", i), Seq: uint64(i + 1), TS: record.Timestamp(base.Add(time.Duration(i) * time.Millisecond)),
			Site: "scale", Gate: "g001", Decision: record.DecisionGranted, UserID: fmt.Sprintf("w-%05d", i), ZoneFrom: "outside", ZoneTo: []string{"site", "zone-b"}[i%2]})
	}
	snap := p.Snapshot()
	peer, _ := site.New(site.Options{Site: "scale", Gate: "g002", Zones: zones, Log: quiet()})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			p.Snapshot()
		}
		b.ReportMetric(float64(len(snap)), "bytes")
	})
	b.Run("views", func(b *testing.B) {
		for b.Loop() {
			v := source{p, "g000"}.Views()
			json.Marshal(v.Presence)
		}
	})
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			if _, err := peer.Merge(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// waitBridge waits until a message published on the second broker reaches
// the first (the bridge is up).
func waitBridge(tb testing.TB, brokers []*mosquittotest.Mosquitto) {
	tb.Helper()
	got := make(chan struct{}, 1)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(brokers[0].URL()).SetClientID("bridge-probe-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("probe: %v", tok.Error())
	}
	defer sub.Disconnect(50)
	sub.Subscribe(siteTopic+"/probe", 0, func(paho.Client, paho.Message) {
		select {
		case got <- struct{}{}:
		default:
		}
	}).Wait()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(brokers[1].URL()).SetClientID("bridge-probe-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("probe: %v", tok.Error())
	}
	defer pub.Disconnect(50)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pub.Publish(siteTopic+"/probe", 0, false, "x")
		select {
		case <-got:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the bridge did not come up:\n%s", brokers[1].Log())
		}
	}
}

// TestSiteScaleBridged: the gates split over two mosquittos bridged on
// the site's tree converge like on one (docs/site.md, "A clustered broker").
func TestSiteScaleBridged(t *testing.T) {
	s := scale{gates: 20, decisions: 600, persons: 300, rate: 100, interval: 2 * time.Second, bridged: true}
	if testing.Short() {
		s.gates, s.decisions = 6, 200
	}
	s.tune()
	run(t, s).report(t, s)
}

// lateSnapshots starts a new gate on url and waits until its presence is
// want, which it can only have from its peers' retained snapshots.
func lateSnapshots(tb testing.TB, url, dir string, want []byte) {
	tb.Helper()
	p, err := site.New(site.Options{Site: "scale", Gate: "late", Zones: zones, Log: quiet()})
	if err != nil {
		tb.Fatal(err)
	}
	g := &gate{name: "late", p: p}
	c, err := mqtt.New(mqtt.Options{
		URLs: []string{url}, ClientID: "scale-late", Prefix: siteTopic + "/late", Site: "scale", Gate: "late",
		OutboxPath: filepath.Join(dir, "late.outbox"), Logger: quiet(),
		Zones: mqtt.SiteOptions{Enabled: true, Topic: siteTopic, Handler: handler{g, &clockBook{}, nil}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; c.Close(context.Background()) }()
	waitUntil(tb, 30*time.Second, "a late gate has the site from the snapshots across the bridge", func() bool {
		return bytes.Equal(presence(tb, p), want)
	})
}
