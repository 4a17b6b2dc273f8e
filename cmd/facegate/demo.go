package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/configs"
	"github.com/facegate/facegate/faceauth/emulator"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// The demo's two people. The worker is approved and wears a hard hat; the
// visitor is approved but the emulator scores their head cover low, so the
// hazardous-zone policy denies them.
const (
	demoWorkerSubmission  = "demo-worker-0001"
	demoWorkerUser        = "worker-0001"
	demoVisitorSubmission = "demo-visitor-0002"
	demoVisitorUser       = "visitor-0002"
)

// runDemo is `facegate demo [--seconds N] [--mqtt URL]`: the whole chain
// on this machine with no camera, GPIO or API account. stdout carries one
// JSON line per decision (the MQTT event payload); stderr the human summary.
func runDemo(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	seconds := fs.Int("seconds", 0, "stop after this many seconds (0: until interrupted)")
	mqttURL := fs.String("mqtt", "", "publish to this broker (tcp://host:1883) instead of an embedded one")
	siteDemo := fs.Bool("site", false, "a whole site: entrance, exit, hazardous-zone door and assembly point, through a scripted day (docs/site.md)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate demo: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	if *seconds < 0 {
		fmt.Fprintf(a.stderr, "facegate demo: --seconds %d must not be negative\n", *seconds)
		return exitError
	}
	if *siteDemo {
		return runDemoSite(ctx, a, *seconds, *mqttURL)
	}
	if *seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*seconds)*time.Second)
		defer cancel()
	}
	if err := demo(ctx, a, *mqttURL, nil); err != nil {
		fmt.Fprintf(a.stderr, "facegate demo: %v\n", err)
		return exitError
	}
	return exitOK
}

// demo runs the demo; adjust (tests) changes its configuration before the
// daemon starts.
func demo(ctx context.Context, a *app, mqttURL string, adjust func(*config.Config)) error {
	start := time.Now()
	images, err := demoscene.ImagesDir(a.getenv)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "facegate-demo-")
	if err != nil {
		return fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(a.stderr, "facegate demo: building the scene and the FaceAuth emulator…")
	emu, apiURL, apiKey, err := startDemoEmulator(images)
	if err != nil {
		return err
	}
	defer emu.Close()
	scene := demoscene.Demo(images,
		"FG1:S:"+demoWorkerSubmission+":"+demoWorkerUser, "FG1:S:"+demoVisitorSubmission+":"+demoVisitorUser)
	// Rendered as the daemon reads it, so that the people in it can answer
	// the liveness challenge the kiosk shows (demoscene.Live).
	live, err := demoscene.NewLive(scene, "", nil)
	if err != nil {
		return err
	}
	defer live.Close()

	cfg, err := config.Parse(configs.DemoName, configs.Demo, func(string) string { return "" })
	if err != nil {
		return err
	}
	cfg.StateDir = filepath.Join(tmp, "state")
	cfg.API.URL = apiURL
	cfg.API.Key = config.NewSecret(apiKey, "demo emulator")
	cfg.Camera.FPS = scene.FPS

	out := &demoOutput{stdout: a.stdout, stderr: a.stderr, start: start, seen: map[string]bool{}}
	prefix := cfg.MQTT.PrefixFor(cfg.Site, cfg.Gate)
	if mqttURL == "" {
		// The broker outlives ctx: the daemon publishes "offline" to it
		// while it shuts down.
		b, err := broker.Start(context.WithoutCancel(ctx), "127.0.0.1:0", broker.WithSubscription(prefix+"/event",
			func(_ string, payload []byte, _ bool) { out.event(payload) }))
		if err != nil {
			return err
		}
		defer b.Close()
		mqttURL = b.URL()
	} else {
		unsubscribe, err := subscribeEvents(ctx, mqttURL, prefix+"/event", out.event)
		if err != nil {
			return err
		}
		defer unsubscribe()
	}
	cfg.MQTT.URLs = []string{mqttURL}
	if adjust != nil {
		adjust(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Kiosk.Listen)
	if err != nil {
		// 8080 taken (a real daemon?): any free port will do.
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("kiosk page: %w", err)
		}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	d, err := startDaemon(ctx, cfg, daemonOptions{log: log, getenv: a.getenv, listener: ln,
		wire: wireOptions{frames: live, onState: func(s kiosk.Status) {
			out.state(s)
			live.React(string(s.State), s.Challenge)
		}}})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(a.stderr, "facegate demo: kiosk page  http://%s/\n", ln.Addr())
	fmt.Fprintf(a.stderr, "facegate demo: FaceAuth emulator %s, MQTT %s (topic %s/event)\n", apiURL, mqttURL, prefix)
	fmt.Fprintf(a.stderr, "facegate demo: the scene loops every %s: badge + worker turning the head as asked (granted), "+
		"the worker's badge + a print of the worker (denied: photo), badge + visitor without a hard hat (denied)\n",
		scene.Length().Round(time.Second))
	if code := d.wait(ctx); code != exitOK {
		return errors.New("the daemon did not stop cleanly")
	}
	out.summary(time.Since(start))
	return nil
}

// startDemoEmulator serves the demo seed on a free loopback port.
func startDemoEmulator(images string) (*emulator.Server, string, string, error) {
	seed, key, err := demoSeed(images)
	if err != nil {
		return nil, "", "", err
	}
	emu, err := emulator.New(seed)
	if err != nil {
		return nil, "", "", fmt.Errorf("emulator: %w", err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, "", "", err
	}
	return emu, url, key, nil
}

// demoSeed is the demo's emulator seed: the worker (hard hat on) and the
// visitor (no hard hat), their reference photos read now from gocv's
// images, and a random key. `facegate emulator` serves it without --seed.
func demoSeed(images string) (*emulator.Seed, string, error) {
	worker, err := os.ReadFile(filepath.Join(images, demoscene.WorkerPhoto))
	if err != nil {
		return nil, "", fmt.Errorf("worker photo: %w", err)
	}
	visitor, err := os.ReadFile(filepath.Join(images, demoscene.VisitorPhoto))
	if err != nil {
		return nil, "", fmt.Errorf("visitor photo: %w", err)
	}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, "", err
	}
	key := "demo-" + hex.EncodeToString(k[:])
	hardHat, bareHead := 96.0, 8.0
	seed := &emulator.Seed{
		Projects: []emulator.Project{{ID: "facegate-demo", APIKey: key, Policy: emulator.Policy{
			FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70},
			HeadCover:      emulator.PolicyOption{Enabled: true, Threshold: 50},
		}}},
		Submissions: []emulator.Submission{
			{ID: demoWorkerSubmission, Status: emulator.StatusApproved, ReferenceJPEG: worker, UserID: demoWorkerUser,
				Scores: emulator.FixedScores{HeadCover: &hardHat}},
			{ID: demoVisitorSubmission, Status: emulator.StatusApproved, ReferenceJPEG: visitor, UserID: demoVisitorUser,
				Scores: emulator.FixedScores{HeadCover: &bareHead}},
		},
	}
	return seed, key, nil
}

// demoOutput prints each decision once: the event's JSON on stdout, a line
// for people on stderr.
type demoOutput struct {
	stdout, stderr io.Writer
	start          time.Time

	mu         sync.Mutex
	seen       map[string]bool
	counts     [3]int // granted, denied, error
	firstGrant time.Duration
	lastState  kiosk.State
}

func (o *demoOutput) event(payload []byte) {
	var ev record.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		fmt.Fprintf(o.stderr, "facegate demo: unreadable event on the broker: %v\n", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[ev.EventID] { // delivery is at least once
		return
	}
	o.seen[ev.EventID] = true
	fmt.Fprintf(o.stdout, "%s\n", strings.TrimSpace(string(payload)))
	switch ev.Decision {
	case record.DecisionGranted:
		o.counts[0]++
		if o.firstGrant == 0 {
			o.firstGrant = time.Since(o.start)
		}
	case record.DecisionDenied:
		o.counts[1]++
	default:
		o.counts[2]++
	}
	fmt.Fprintf(o.stderr, "  %-7s %-13s %s%s — %q (%d ms)\n", strings.ToUpper(string(ev.Decision)), ev.UserID,
		scoresText(ev.Auth), strings.Join(ev.Reason, ","), ev.Message, ev.LatencyMS.Total)
}

func scoresText(a *record.Auth) string {
	if a == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range []struct {
		name string
		v    *float64
	}{{"similarity", a.Score.FaceSimilarity}, {"occluded", a.Score.Occluded},
		{"face_cover", a.Score.FaceCover}, {"head_cover", a.Score.HeadCover}} {
		if s.v != nil {
			fmt.Fprintf(&b, "%s=%.1f ", s.name, *s.v)
		}
	}
	return b.String()
}

func (o *demoOutput) state(s kiosk.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s.State == o.lastState {
		return
	}
	o.lastState = s.State
	fmt.Fprintf(o.stderr, "  %6.1fs  %-14s %s\n", time.Since(o.start).Seconds(), s.State, s.Message)
}

func (o *demoOutput) summary(ran time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stderr, "facegate demo: %d decisions in %s: %d granted, %d denied, %d error",
		o.counts[0]+o.counts[1]+o.counts[2], ran.Round(time.Second), o.counts[0], o.counts[1], o.counts[2])
	if o.firstGrant > 0 {
		fmt.Fprintf(o.stderr, "; first grant %.1f s after start", o.firstGrant.Seconds())
	}
	fmt.Fprintln(o.stderr)
}
