package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth/emulator"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/internal/redact"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

// siteWorker is one person on the demo site's roster.
type siteWorker struct {
	Badge, Submission, User, Name string
}

// demoSiteWorkers are the demo site's roster: the emulator knows each one
// (the same sample photo, so that one picture serves every face).
var demoSiteWorkers = []siteWorker{
	{"badge-0001", "demo-site-0001", "worker-0001", "Ana Costa"},
	{"badge-0002", "demo-site-0002", "worker-0002", "Ben Okafor"},
	{"badge-0003", "demo-site-0003", "worker-0003", "Chen Wei"},
	{"badge-0004", "demo-site-0004", "worker-0004", "Dara Nolan"},
	{"badge-0005", "demo-site-0005", "worker-0005", "Eli Haddad"},
	{"badge-0006", "demo-site-0006", "worker-0006", "Fay Moreau"},
}

// siteGateSpec is one gate of a site run: a door from one zone to another,
// or (Muster) an assembly-point kiosk with no door.
type siteGateSpec struct {
	Name      string
	Muster    bool
	From, To  string
	Direction string // entry, exit, both
}

// demoSiteGates are the demo site's gates: into the site, out of it, the
// hazardous zone's two-way door, and the assembly point.
var demoSiteGates = []siteGateSpec{
	{Name: "entrance", From: "outside", To: "site", Direction: "entry"},
	{Name: "exit", From: "site", To: "outside", Direction: "exit"},
	{Name: "zone-b-door", From: "site", To: "zone-b", Direction: "both"},
	{Name: "assembly", Muster: true},
}

// demoSiteZoneBMax is zone-b's maximum occupancy (hard): the day fills it.
const demoSiteZoneBMax = 2

// siteOptions describe a site run: several full gates in one process.
type siteOptions struct {
	// Site names the site (topics facegate/<site>/<gate>/…).
	Site string
	// BrokerURL is the broker every gate connects to, unless GateURLs
	// names another address for it (tests: a proxy that can be cut).
	BrokerURL string
	GateURLs  map[string]string
	// Dir holds each gate's state directory and the roster; Images is
	// demoscene's sample-photo folder.
	Dir, Images string
	Gates       []siteGateSpec
	Workers     []siteWorker
	ZoneBMax    int
	// Log receives every gate's log (each tagged with gate=<name>).
	Log *slog.Logger
	// ReconnectMax bounds a gate's broker reconnect backoff, which starts
	// at 100 ms (0: 1 s).
	ReconnectMax time.Duration
}

// siteRun is a running site: the FaceAuth emulator and the gates.
type siteRun struct {
	o      siteOptions
	emu    *emulator.Server
	apiURL string
	apiKey string
	roster string
	scenes func() // frees the cameras' pictures
	gates  []*siteGate
	byName map[string]*siteGate
	// cmdSecret signs the operator's site commands (every gate's
	// mqtt.commands.open.secret).
	cmdSecret    []byte
	evacuations  int
	evacuationID string
}

// siteGate is one gate of a siteRun: its own configuration, state
// directory, camera, simulated relay and broker client.
type siteGate struct {
	spec   siteGateSpec
	cfg    *config.Config
	cam    *siteCamera
	d      *daemon
	events chan record.Event
	mu     sync.Mutex
	eventN int // decisions this gate made
	// pending are the facts (grants, check-ins) of every gate that this
	// gate's presence was not yet seen to hold (agree).
	pending []record.Event
}

// Errors of a site run.
var (
	errSiteStep     = errors.New("site step failed")
	errSiteDisagree = errors.New("the gates do not agree on the site's presence")
)

// startSite starts the emulator and every gate, each with the real daemon
// wiring; it returns once every gate serves. close stops them.
func startSite(ctx context.Context, o siteOptions) (_ *siteRun, err error) {
	if o.ReconnectMax == 0 {
		o.ReconnectMax = time.Second
	}
	r := &siteRun{o: o, byName: map[string]*siteGate{}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	seed, key, err := siteSeed(o.Images, o.Workers)
	if err != nil {
		return r, err
	}
	if r.emu, err = emulator.New(seed); err != nil {
		return r, fmt.Errorf("emulator: %w", err)
	}
	if r.apiURL, err = r.emu.Start("127.0.0.1:0"); err != nil {
		return r, err
	}
	r.apiKey = key
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return r, err
	}
	r.cmdSecret = []byte(hex.EncodeToString(secret[:]))
	r.roster = filepath.Join(o.Dir, "roster.csv")
	if err := writeRoster(r.roster, o.Workers); err != nil {
		return r, err
	}
	scenes, free, err := newSiteScenes(o.Images)
	if err != nil {
		return r, err
	}
	r.scenes = free
	for _, spec := range o.Gates {
		g := &siteGate{spec: spec, cam: newSiteCamera(scenes, siteCameraFPS), events: make(chan record.Event, 256)}
		r.gates = append(r.gates, g)
		r.byName[spec.Name] = g
		if g.cfg, err = r.gateConfig(spec); err != nil {
			return r, err
		}
		if err := r.startGate(ctx, g); err != nil {
			return r, err
		}
	}
	return r, nil
}

// siteCameraFPS paces the simulated cameras.
const siteCameraFPS = 10

// startGate starts (or restarts) one gate's daemon on its state directory.
func (r *siteRun) startGate(ctx context.Context, g *siteGate) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("gate %s: kiosk page: %w", g.spec.Name, err)
	}
	log := r.o.Log.With("gate", g.spec.Name)
	d, err := startDaemon(ctx, g.cfg, daemonOptions{log: log, listener: ln,
		wire: wireOptions{frames: g.cam, onEvent: g.observe}})
	if err != nil {
		ln.Close()
		return fmt.Errorf("gate %s: %w", g.spec.Name, err)
	}
	g.d = d
	return nil
}

// stopGate shuts one gate down in the daemon's order (its outbox and site
// state stay in its state directory for startGate).
func (r *siteRun) stopGate(g *siteGate) {
	if g.d != nil {
		g.d.shutdown(exitOK)
		g.d = nil
	}
}

// observe is the gate's onEvent hook (kiosk goroutine; must not block).
func (g *siteGate) observe(ev record.Event) {
	g.mu.Lock()
	g.eventN++
	g.mu.Unlock()
	select {
	case g.events <- ev:
	default: // nobody waits on this gate: the script only needs its own steps'
	}
}

func (g *siteGate) decisions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.eventN
}

// close stops every gate, then the emulator.
func (r *siteRun) close() {
	var wg sync.WaitGroup
	for _, g := range r.gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopGate(g)
		}()
	}
	wg.Wait()
	for _, g := range r.gates {
		g.cam.Close()
	}
	if r.scenes != nil {
		r.scenes()
	}
	if r.emu != nil {
		r.emu.Close()
	}
}

// gate returns the named gate (a programming error panics: names are the
// script's own).
func (r *siteRun) gate(name string) *siteGate {
	g, ok := r.byName[name]
	if !ok {
		panic("site run: no gate " + name)
	}
	return g
}

// worker returns the roster entry of a user id.
func (r *siteRun) worker(user string) siteWorker {
	for _, w := range r.o.Workers {
		if w.User == user {
			return w
		}
	}
	panic("site run: no worker " + user)
}

// pass walks a worker up to a gate: the face appears in front of its
// camera, the badge is presented through the gate's identify path, and
// pass returns the gate's decision once made (then the worker walks away).
func (r *siteRun) pass(ctx context.Context, gateName, user string) (record.Event, error) {
	g, w := r.gate(gateName), r.worker(user)
	if g.d == nil {
		return record.Event{}, fmt.Errorf("%w: gate %s is stopped", errSiteStep, gateName)
	}
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	// Decisions of earlier steps that the script did not wait for.
	for drained := false; !drained; {
		select {
		case <-g.events:
		default:
			drained = true
		}
	}
	g.cam.show("face")
	defer g.cam.show("empty")
	for {
		err := g.d.p.kiosk.IdentifyRequest(kiosk.SourceHTTP, kiosk.IdentifyRequest{BadgeID: w.Badge})
		if err == nil {
			break
		}
		if !errors.Is(err, kiosk.ErrBusy) {
			return record.Event{}, fmt.Errorf("%w: %s at %s: identify: %w", errSiteStep, user, gateName, err)
		}
		// The previous worker's cooldown: wait for the gate to be free.
		select {
		case <-ctx.Done():
			return record.Event{}, fmt.Errorf("%w: %s at %s: the gate stayed busy", errSiteStep, user, gateName)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for {
		select {
		case <-ctx.Done():
			return record.Event{}, fmt.Errorf("%w: %s at %s: no decision: %w", errSiteStep, user, gateName, ctx.Err())
		case ev := <-g.events:
			if ev.UserID == user {
				if ev.Decision == record.DecisionGranted {
					for _, other := range r.gates {
						other.mu.Lock()
						other.pending = append(other.pending, ev)
						other.mu.Unlock()
					}
				}
				return ev, nil
			}
		}
	}
}

// gateConfig is one gate's configuration, written as YAML and read by the
// config package like any gate's file (so that the demo exercises the same
// keys and checks an operator's file does).
func (r *siteRun) gateConfig(spec siteGateSpec) (*config.Config, error) {
	stateDir := filepath.Join(r.o.Dir, spec.Name)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("gate %s: state directory: %w", spec.Name, err)
	}
	url := r.o.BrokerURL
	if u, ok := r.o.GateURLs[spec.Name]; ok {
		url = u
	}
	text := siteGateYAML(r.o.Site, spec, stateDir, r.apiURL, url, r.roster, string(r.cmdSecret), r.o.ZoneBMax, r.o.ReconnectMax)
	name := filepath.Join(stateDir, "facegate.yaml")
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("gate %s: %w", spec.Name, err)
	}
	cfg, err := config.Parse(name, []byte(text), func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	cfg.API.Key = config.NewSecret(r.apiKey, "demo emulator")
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gate %s: %w", spec.Name, err)
	}
	return cfg, nil
}

// siteGateYAML is the configuration file of one gate of the demo site.
func siteGateYAML(site string, spec siteGateSpec, stateDir, apiURL, brokerURL, roster, cmdSecret string, zoneBMax int, reconnectMax time.Duration) string {
	var b strings.Builder
	mode := "gate"
	if spec.Muster {
		mode = "muster"
	}
	fmt.Fprintf(&b, `site: %s
gate: %s
%sstate_dir: %q
log_level: warn

api:
  url: %q
  timeout: 10s

camera:
  source: simulated/
  width: %d
  height: %d
  fps: %d

capture:
  detector: haar
  window: 300ms

io:
  relay:
    driver: sim
    pulse: 500ms

mqtt:
  enabled: true
  urls: [%q]
  submission_id: hash
  reconnect:
    min: 100ms
    max: %s
  # The operator's signed commands (cmd/open and the site's cmd/evacuate).
  commands:
    open:
      enabled: true
      secret: %q

kiosk:
  listen: 127.0.0.1:0
  title: "facegate site demo — %s"
  health_interval: 10s
  show_name: true

identity:
  timeout: 10s
  qr:
    enabled: false
  roster:
    file: %q

policy:
  cooldown: 0s
  attempts:
    max: 1000
    per: 5m
  liveness: off
`, site, spec.Name, "mode: "+mode+"\n", stateDir, apiURL, siteFrameWidth, siteFrameHeight, siteCameraFPS,
		brokerURL, reconnectMax, cmdSecret, spec.Name, roster)
	fmt.Fprintf(&b, `
zones:
  enabled: true
  list:
    - name: site
    - name: zone-b
      inside: site
      hazardous: true
      max_occupancy: %d
      occupancy_mode: hard
  anti_passback:
    mode: hard
    require_path: hazardous
`, zoneBMax)
	if !spec.Muster {
		fmt.Fprintf(&b, `  door:
    from: %s
    to: %s
    direction: %s
`, spec.From, spec.To, spec.Direction)
	}
	return b.String()
}

// siteSeed is the emulator's seed: one approved submission per worker,
// all with the worker sample photo, and a random key.
func siteSeed(images string, workers []siteWorker) (*emulator.Seed, string, error) {
	photo, err := os.ReadFile(filepath.Join(images, demoscene.WorkerPhoto))
	if err != nil {
		return nil, "", fmt.Errorf("worker photo: %w", err)
	}
	base, key, err := demoSeed(images)
	if err != nil {
		return nil, "", err
	}
	seed := &emulator.Seed{Projects: base.Projects}
	hardHat := 96.0
	for _, w := range workers {
		seed.Submissions = append(seed.Submissions, emulator.Submission{ID: w.Submission, Status: emulator.StatusApproved,
			ReferenceJPEG: photo, UserID: w.User, Scores: emulator.FixedScores{HeadCover: &hardHat}})
	}
	return seed, key, nil
}

// writeRoster writes the roster CSV every gate reads (names for the lists).
func writeRoster(path string, workers []siteWorker) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("roster: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"badge_id", "submission_id", "user_id", "display_name"})
	for _, p := range workers {
		_ = w.Write([]string{p.Badge, p.Submission, p.User, p.Name})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("roster: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("roster: %w", err)
	}
	return nil
}

// outcomeOf is one gate's view of the site: every declared zone with the
// user ids recorded directly in it (sorted; nested zones apart), and the
// missing of the running evacuation (empty when none runs).
func outcomeOf(p *site.Presence) siteOutcome {
	o := siteOutcome{Presence: map[string][]string{}, Missing: []string{}}
	for _, z := range p.Zones() {
		o.Presence[z.Name] = []string{}
	}
	for zone, ps := range p.Inside() {
		for _, person := range ps {
			o.Presence[zone] = append(o.Presence[zone], person.ID)
		}
		slices.Sort(o.Presence[zone])
	}
	for _, person := range p.MusterList().Missing {
		o.Missing = append(o.Missing, person.ID)
	}
	slices.Sort(o.Missing)
	return o
}

// evacuate starts (or ends) the site's evacuation as an operator's tool
// would: a signed <site_topic>/cmd/evacuate on the broker, which every
// gate verifies on its own. It returns once every running gate follows it.
func (r *siteRun) evacuate(ctx context.Context, start bool) error {
	action := mqtt.EvacuateEnd
	if start {
		action = mqtt.EvacuateStart
		r.evacuations++
		r.evacuationID = fmt.Sprintf("demo-evacuation-%d", r.evacuations)
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	topic := "facegate/" + r.o.Site + "/cmd/evacuate"
	payload, err := mqtt.SignSiteCommand(r.cmdSecret, mqtt.SiteCommandBody{TS: time.Now().Unix(), Nonce: hex.EncodeToString(nonce[:]),
		Topic: topic, Action: action, ID: r.evacuationID, By: "site demo", Reason: "fire alarm drill"})
	if err != nil {
		return err
	}
	if err := publishOnce(ctx, r.o.BrokerURL, brokerMessage{topic: topic, payload: payload}); err != nil {
		return fmt.Errorf("evacuation %s: %w", action, err)
	}
	deadline := time.Now().Add(agreeTimeout)
	for {
		following := true
		for _, g := range r.gates {
			if g.d != nil && g.evacuating() != start {
				following = false
			}
		}
		if following {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: evacuation %s: not every gate follows it within %s", errSiteStep, action, agreeTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// brokerMessage is one message for publishOnce.
type brokerMessage struct {
	topic   string
	payload []byte
	retain  bool
}

// operatorConnectTimeout bounds publishOnce's connection to the broker.
const operatorConnectTimeout = 10 * time.Second

// publishOnce publishes messages at QoS 1 with a client of its own, in order.
func publishOnce(ctx context.Context, url string, msgs ...brokerMessage) error {
	return publishWithin(ctx, url, operatorConnectTimeout, msgs...)
}

// publishWithin is publishOnce with the connection bounded by timeout. A
// broker that accepts the TCP connection but never answers is reported as
// such: paho's token is then done with no error, or not done at all.
func publishWithin(ctx context.Context, url string, timeout time.Duration, msgs ...brokerMessage) (err error) {
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	c := newDemoMQTT(paho.NewClientOptions().AddBroker(url).SetClientID("facegate-demo-operator-" + hex.EncodeToString(id[:])).
		SetCleanSession(true).SetConnectTimeout(timeout))
	// One cleanup for every way out: a client left behind (a late CONNACK
	// to an abandoned attempt, a connection dropped after it, its token
	// done without error) would reconnect and ping the broker for good.
	defer func() {
		if err == nil && c.IsConnected() {
			c.Disconnect(250) // lets the last PUBACKs finish
			return
		}
		c.Disconnect(0)
	}()
	tok := c.Connect()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("connect to broker %s: %w", redact.URL(url), err)
		}
		if !c.IsConnected() {
			return fmt.Errorf("connect to broker %s: no connection after %s", redact.URL(url), timeout)
		}
	case <-t.C:
		return fmt.Errorf("connect to broker %s: timed out after %s without a CONNACK", redact.URL(url), timeout)
	case <-ctx.Done():
		return fmt.Errorf("connect to broker %s: %w", redact.URL(url), ctx.Err())
	}
	for _, m := range msgs {
		tok := c.Publish(m.topic, 1, m.retain, m.payload)
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", m.topic, err)
		}
	}
	return nil
}

// newDemoMQTT makes publishWithin's client (a fake in tests).
var newDemoMQTT = paho.NewClient

// clearSiteRetained removes what an earlier run of the same site left
// retained on a broker (--mqtt): the gates' snapshots would otherwise be
// merged into this run's presence, and a stale evacuation followed.
func clearSiteRetained(ctx context.Context, url, siteName string, gates []siteGateSpec) error {
	topic := "facegate/" + siteName
	msgs := []brokerMessage{{topic: topic + "/evacuation", retain: true}}
	for _, g := range gates {
		for _, view := range []string{"snapshot", "occupancy", "presence", "muster"} {
			msgs = append(msgs, brokerMessage{topic: topic + "/" + g.Name + "/site/" + view, retain: true})
		}
	}
	if err := publishOnce(ctx, url, msgs...); err != nil {
		return fmt.Errorf("clear the retained site state of an earlier run: %w", err)
	}
	return nil
}

// view is the gate's view of the site.
func (g *siteGate) view() siteOutcome {
	p := g.presence()
	if p == nil {
		return siteOutcome{}
	}
	return outcomeOf(p)
}

// caughtUp drops the pending facts this gate's presence holds (or holds
// a later fact of the same person for) and reports whether none is left.
func (g *siteGate) caughtUp() bool {
	p := g.presence()
	if p == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var muster *site.MusterList
	g.pending = slices.DeleteFunc(g.pending, func(ev record.Event) bool {
		if ev.Mode == record.ModeMuster {
			if muster == nil {
				l := p.MusterList()
				muster = &l
			}
			return !muster.Active || slices.ContainsFunc(muster.Mustered, func(m site.Mustered) bool { return m.Person == ev.UserID })
		}
		ts, err := time.Parse(time.RFC3339Nano, ev.TS)
		if err != nil {
			return true // not a fact any presence applies
		}
		now := p.Person(ev.UserID)
		return now.EventID == ev.EventID || now.Since.After(ts)
	})
	return len(g.pending) == 0
}

// evacuating reports whether the gate follows a running evacuation.
func (g *siteGate) evacuating() bool {
	p := g.presence()
	return p != nil && p.MusterList().Active
}

// presence is the gate's own copy of the site's presence (nil while the
// gate is stopped).
func (g *siteGate) presence() *site.Presence {
	if g.d == nil || g.d.p.site == nil {
		return nil
	}
	return g.d.p.site.presence
}
