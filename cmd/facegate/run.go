package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/internal/lograte"
	"github.com/facegate/facegate/internal/redact"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/systemd"
)

// runDaemon is `facegate run [--config F]`: the daemon in the foreground.
func runDaemon(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	path := fs.String("config", config.DefaultPath, "configuration file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate run: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	// A file that sets nothing (empty, comments only: cut short by a full
	// disk or caught being edited) is refused as a reload refuses it, not
	// run as the built-in defaults.
	cfg, err := config.LoadSettings(*path, a.getenv)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate run: %v\n", err)
		return exitError
	}
	// Before anything writes in state_dir: its owner's, one daemon per
	// directory.
	if err := refuseRootOnOthersState(cfg.StateDir); err != nil {
		fmt.Fprintf(a.stderr, "facegate run: %v\n", err)
		return exitError
	}
	lock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate run: %v\n", err)
		return exitError
	}
	defer lock.Close()
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	notifier, err := systemd.NewNotifier(a.getenv)
	if err != nil {
		log.Warn("systemd notifications off", "err", err)
		notifier = &systemd.Notifier{}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := startDaemon(ctx, cfg, daemonOptions{
		log: log, level: level, notifier: notifier, getenv: a.getenv,
		configPath: *path, reload: hup,
	})
	if err != nil {
		log.Error("start failed", "err", err)
		return exitError
	}
	return d.wait(ctx)
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// daemonOptions are what a daemon needs besides its configuration.
type daemonOptions struct {
	log      *slog.Logger
	level    *slog.LevelVar // changed by reloads; may be nil
	notifier *systemd.Notifier
	getenv   func(string) string
	// configPath is read again on reload; reload delivers the requests
	// (SIGHUP). Both may be empty/nil: no reloads.
	configPath string
	reload     <-chan os.Signal
	// listener serves the kiosk page instead of listening on kiosk.listen.
	listener net.Listener
	// metricsListener serves /metrics instead of listening on
	// metrics.listen (used only when metrics.listen is set).
	metricsListener net.Listener
	wire            wireOptions
}

// daemon is `facegate run` once started: the parts, the goroutines that
// connect them, the web server, and the order in which it all stops.
type daemon struct {
	opts daemonOptions
	cfg  *config.Config // the configuration the parts were built with
	p    *parts
	log  *slog.Logger
	srv  *http.Server
	addr net.Addr
	// metricsSrv serves metrics.listen (nil when unset).
	metricsSrv  *http.Server
	metricsAddr net.Addr
	started     time.Time

	lastHealth atomic.Int64 // unix nanoseconds of the last self-test
	// health is kiosk.health_interval as last loaded, for the watchdog (a
	// reload changes the self-test's period).
	healthMu    sync.Mutex
	health      healthPeriod
	kioskCancel context.CancelFunc
	kioskDone   chan error
	srvDone     chan error // each web server's Serve result (kiosk, metrics)
	partsCancel context.CancelFunc
	side        *sideRecords // the audit records of openings outside sessions
	// eventsStop ends gateEvents (after the events already emitted);
	// eventsDone is closed once it returned.
	eventsStop context.CancelFunc
	eventsDone chan struct{}
	bg         sync.WaitGroup
	stopOnce   sync.Once
}

// startDaemon builds the parts and starts them: broker connection,
// commands, gate inputs, badge scanner, web server, kiosk, watchdog. It
// returns once the gate accepts sessions (and systemd has been told).
func startDaemon(ctx context.Context, cfg *config.Config, o daemonOptions) (*daemon, error) {
	if o.notifier == nil {
		o.notifier = &systemd.Notifier{}
	}
	if o.getenv == nil {
		o.getenv = func(string) string { return "" }
	}
	// The parts outlive the signal that ends ctx: they are stopped in order.
	base := context.WithoutCancel(ctx)
	partsCtx, partsCancel := context.WithCancel(base)
	w := o.wire
	w.log = o.log
	d := &daemon{opts: o, cfg: cfg, log: o.log, started: time.Now(), partsCancel: partsCancel,
		kioskDone: make(chan error, 1), srvDone: make(chan error, 2)}
	d.lastHealth.Store(time.Now().UnixNano())
	userHealth := w.onHealth
	w.onHealth = func(h kiosk.Health) {
		d.lastHealth.Store(time.Now().UnixNano())
		_ = o.notifier.Notify(systemd.Status("serving on " + d.addrString() + ", health " + h.Status))
		if userHealth != nil {
			userHealth(h)
		}
	}
	p, err := buildParts(partsCtx, cfg, w)
	if err != nil {
		partsCancel()
		return nil, err
	}
	d.p = p

	ln := o.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Kiosk.Listen); err != nil {
			p.close()
			partsCancel()
			return nil, fmt.Errorf("kiosk.listen: %w", err)
		}
	}
	d.addr = ln.Addr()
	// Bounded (limitedListener): connections held to the page's port
	// (any user on this machine, or the network with kiosk.allow_remote)
	// took every file descriptor, and the watchdog ping, a reload, the
	// audit log and the outbox failed with EMFILE.
	ln = limitListener(ln, maxKioskConns, maxRemoteConns, maxConnsPerHost)
	var mln net.Listener
	if cfg.Metrics.Listen != "" {
		if mln = o.metricsListener; mln == nil {
			if mln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
				if o.listener == nil {
					ln.Close()
				}
				p.close()
				partsCancel()
				return nil, fmt.Errorf("metrics.listen: %w", err)
			}
		}
		d.metricsAddr = mln.Addr()
		// A host on the network reaches this port: bound its connections
		// so that it cannot take the file descriptors the gate needs
		// (LimitNOFILE is shared with the audit log, the outbox, the
		// API and the kiosk page).
		mln = limitListener(mln, maxMetricsConns, maxMetricsConns, maxConnsPerHost)
	}

	// Between people the selector keeps the scene learnt and finds who
	// walks up, so that a badge read starts the selection on a tracked face.
	d.goBG(func() { _ = p.selector.Watch(partsCtx, watchInterval) })
	if p.broker != nil {
		d.goBG(func() {
			if err := p.broker.Run(partsCtx); err != nil && !errors.Is(err, mqtt.ErrClosed) && partsCtx.Err() == nil {
				d.log.Error("mqtt stopped", "err", err)
				// Nothing more goes to the broker until a restart: the
				// alert is counted and logged (it cannot be published).
				p.kiosk.RaiseAlert(kiosk.AlertMQTTStopped, "MQTT stopped for good until facegate restarts (fix the broker's credentials or mqtt settings, then restart): "+err.Error())
			}
		})
		b := p.broker
		d.goBG(func() { d.commands(partsCtx, b.Commands()) })
	}
	side := newSideRecords(d.log.With("component", "audit"))
	side.lost = p.kiosk.RecordsLost
	d.side = side
	d.goBG(func() { side.run(partsCtx) })
	evCtx, evStop := context.WithCancel(partsCtx)
	d.eventsStop, d.eventsDone = evStop, make(chan struct{})
	if ev := p.gate.Events(); ev != nil {
		d.goBG(func() {
			defer close(d.eventsDone)
			d.gateEvents(evCtx, ev, side)
		})
	} else {
		close(d.eventsDone)
	}
	// Every press from now on is read and recorded (the shutdown reads
	// the last ones before the audit log closes).
	p.gate.ArmExitButton()
	if p.site != nil {
		p.site.sideRecord = side.add
		d.goBG(func() { p.site.run(partsCtx) }) // wire_site.go
	}

	httpLog := slog.NewLogLogger(o.log.With("component", "http").Handler(), slog.LevelWarn)
	d.srv = kiosk.NewServer(p.kiosk.Handler(), httpLog)
	go func() {
		err := d.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		d.srvDone <- err
	}()
	if mln != nil {
		// Only /metrics: a Prometheus on another host reaches no preview
		// and no API through it.
		d.metricsSrv = kiosk.NewServer(p.kiosk.MetricsHandler(), httpLog)
		d.metricsSrv.WriteTimeout = 30 * time.Second
		go func() {
			err := d.metricsSrv.Serve(mln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			d.srvDone <- err
		}()
	}

	kctx, kcancel := context.WithCancel(base)
	d.kioskCancel = kcancel
	go func() { d.kioskDone <- p.kiosk.Run(kctx) }()

	interval, ok, err := systemd.WatchdogInterval(o.getenv, os.Getpid())
	switch {
	case err != nil:
		d.log.Warn("systemd watchdog off", "err", err)
	case ok:
		d.log.Info("systemd watchdog on", "ping_every", interval)
		d.goBG(func() { d.watchdog(partsCtx, interval) })
	}
	if err := o.notifier.Notify(systemd.Ready, systemd.Status("serving on "+d.addrString())); err != nil {
		d.log.Warn("systemd notify failed", "err", err)
	}
	if cfg.Kiosk.Remote() {
		// Allowed by kiosk.allow_remote (config validation refuses it otherwise).
		d.log.Warn("kiosk reachable from other machines over plain http", "listen", cfg.Kiosk.Listen,
			"addr", d.addrString(), "hint", "the identify token and the preview cross the network in clear: firewall the port or put a TLS proxy in front")
	}
	for _, u := range cfg.MQTT.PasswordInClear() {
		d.log.Warn("mqtt broker password sent in clear", "url", u, "hint", "anyone on the network path reads it: use ssl:// or wss://")
	}
	for _, u := range cfg.UnusedSettings() {
		d.log.Warn("setting not used", "detail", u)
	}
	d.log.Info("facegate running", "version", version, "site", cfg.Site, "gate", cfg.Gate,
		"kiosk", "http://"+d.addrString()+"/", "camera", redact.URL(cfg.Camera.Source), "relay", cfg.IO.Relay.Driver,
		"mqtt", cfg.MQTT.Enabled)
	if d.metricsAddr != nil {
		d.log.Info("metrics listener", "url", "http://"+d.metricsAddr.String()+"/metrics")
	}
	return d, nil
}

// watchInterval is how often the selector looks at the scene between
// people (issue 16: ~1% of a core on an empty scene).
const watchInterval = 250 * time.Millisecond

func (d *daemon) goBG(f func()) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		f()
	}()
}

func (d *daemon) addrString() string {
	if d.addr == nil {
		return ""
	}
	return d.addr.String()
}

// wait serves until ctx ends (SIGTERM/SIGINT) or a part fails, handling
// reloads on this one goroutine, then shuts down in order. It returns the
// process exit code.
func (d *daemon) wait(ctx context.Context) int {
	for {
		select {
		case <-ctx.Done():
			d.log.Info("shutdown requested")
			return d.shutdown(exitOK)
		case <-d.opts.reload:
			d.reload()
		case err := <-d.kioskDone:
			d.kioskDone <- err // shutdown waits for it again
			d.log.Error("kiosk stopped on its own", "err", err)
			return d.shutdown(exitError)
		case err := <-d.srvDone:
			d.srvDone <- err
			d.log.Error("web server failed", "err", err)
			return d.shutdown(exitError)
		}
	}
}

// drainSlack is added to the longest session when shutdown waits for it.
const drainSlack = time.Second

// maxDrain caps that wait: the unit's TimeoutStopSec=60s must also cover
// the kiosk stopping (up to 10 s), publishing offline (up to 5 s) and
// closing the camera, or systemd kills the daemon mid-shutdown. A longer
// session (an api.timeout above ~30 s) ends as "shutdown" at the cap.
const maxDrain = 40 * time.Second

// shutdown stops in the order of STYLE.md: no new sessions → finish the
// one in flight → relay inert → publish offline → disconnect → camera.
func (d *daemon) shutdown(code int) int {
	d.stopOnce.Do(func() {
		_ = d.opts.notifier.Notify(systemd.Stopping, systemd.Status("stopping"))
		// 1–2. No new sessions: the kiosk refuses badges (its scanner
		// stops), MQTT and HTTP identities and its fixed identity, and
		// finishes the one in flight, bounded by a whole session: capture,
		// the API call (timeout + 1 s) and the pulse. One still in flight at
		// the limit is ended by the kiosk with reason "shutdown".
		limit := min(maxDrain, d.cfg.Identity.CaptureTimeout+d.cfg.API.Timeout+time.Second+d.cfg.IO.Relay.Pulse+drainSlack)
		dctx, dcancel := context.WithTimeout(context.Background(), limit)
		if err := d.p.kiosk.Drain(dctx); err != nil {
			d.log.Warn("session still in flight at the drain limit; ending it", "limit", limit, "err", err)
		}
		dcancel()
		// 3. Relay inert for good; then the gate's events already
		// emitted are handled and the records of openings outside
		// sessions (exit presses, holds) written, before the kiosk closes
		// its audit log: until 2026-12-07 an exit press after that
		// pulsed with its record refused (audit log closed).
		if err := d.p.gate.Relay.Halt(); err != nil {
			d.log.Error("relay halt failed", "err", err)
			code = exitError
		} else if d.p.site != nil {
			d.p.site.relayHalted() // a hold it ended is recorded
		}
		if err := d.p.gate.StopInputs(); err != nil {
			d.log.Warn("gate inputs not released", "err", err)
		}
		select {
		case <-d.eventsDone: // every event read: Events is closed
		case <-time.After(sideFlushLimit):
			d.eventsStop()
			<-d.eventsDone
		}
		if !d.side.flush(sideFlushLimit) {
			d.log.Error("audit records of exit presses or holds still queued at shutdown", "limit", sideFlushLimit)
		}
		d.kioskCancel()
		select {
		case err := <-d.kioskDone:
			if err != nil {
				d.log.Error("kiosk stopped with an error", "err", err)
			}
		case <-time.After(10 * time.Second):
			d.log.Error("kiosk did not stop within 10s")
		}
		// 4–5. Publish offline and disconnect (the outbox keeps what is
		// not yet delivered for the next start).
		if d.p.broker != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := d.p.broker.Close(cctx); err != nil && !errors.Is(err, mqtt.ErrClosed) {
				d.log.Warn("mqtt close", "err", err)
			}
			cancel()
			d.p.brokerClosed = true
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for _, srv := range []*http.Server{d.srv, d.metricsSrv} {
			if srv == nil {
				continue
			}
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
			}
		}
		cancel()
		d.partsCancel()
		d.bg.Wait()
		// 6. Camera and the rest (the gate releases its lines after the halt).
		d.p.close()
		d.log.Info("facegate stopped")
	})
	return code
}

// reload re-reads the configuration file (SIGHUP). A bad file changes
// nothing; a good one updates the kiosk's identity, policy and roster and
// the log level. Parts built from other sections need a restart (logged).
func (d *daemon) reload() {
	_ = d.opts.notifier.Notify(systemd.Reloading())
	status := "serving on " + d.addrString()
	defer func() { _ = d.opts.notifier.Notify(systemd.Ready, systemd.Status(status)) }()
	if d.opts.configPath == "" {
		d.log.Warn("reload ignored: no configuration file")
		return
	}
	// A refused file is an operator alert and the unit's status too, not
	// only a journal line: `systemctl reload` succeeds either way.
	failed := func(err error) {
		d.log.Error("configuration reload failed; keeping the running configuration", "err", err)
		d.p.kiosk.RaiseAlert(kiosk.AlertConfigReload, "configuration reload failed; the gate runs on the configuration it had: "+err.Error())
		status = "serving on " + d.addrString() + "; the last reload failed: " + err.Error()
	}
	cfg, err := config.LoadSettings(d.opts.configPath, d.opts.getenv)
	if err != nil {
		failed(err)
		return
	}
	if err := d.p.kiosk.Reload(kioskOptions(cfg)); err != nil {
		failed(err)
		return
	}
	was := d.healthEvery()
	d.healthMu.Lock()
	if last := time.Unix(0, d.lastHealth.Load()); !d.health.reloaded.IsZero() && last.Before(d.health.reloaded) {
		was = max(was, d.health.before) // no self-test since the reload before
	}
	d.health = healthPeriod{every: cfg.Kiosk.HealthInterval, before: was, reloaded: time.Now()}
	d.healthMu.Unlock()
	if d.opts.level != nil {
		d.opts.level.Set(logLevel(cfg.LogLevel))
	}
	if changed := restartNeeded(d.cfg, cfg); len(changed) > 0 {
		d.log.Warn("changed settings take effect at the next restart", "sections", changed)
	}
	d.log.Info("configuration reloaded", "path", d.opts.configPath)
}

// restartNeeded lists the settings that differ between the running and the
// new configuration and that only a restart applies.
func restartNeeded(running, next *config.Config) []string {
	var out []string
	for _, c := range []struct {
		name string
		a, b any
	}{
		{"site", running.Site, next.Site},
		{"gate", running.Gate, next.Gate},
		{"state_dir", running.StateDir, next.StateDir},
		{"api", running.API, next.API},
		{"camera", running.Camera, next.Camera},
		{"capture", running.Capture, next.Capture},
		{"io", running.IO, next.IO},
		{"mqtt", running.MQTT, next.MQTT},
		{"kiosk.listen", running.Kiosk.Listen, next.Kiosk.Listen},
		{"metrics.listen", running.Metrics.Listen, next.Metrics.Listen},
		{"audit", running.Audit, next.Audit},
		{"mode", running.Mode, next.Mode},
		{"zones", running.Zones, next.Zones},
		// The checker is built at start only when liveness is on; until a
		// restart, a gate turned on by a reload denies every session.
		{"policy.liveness (from off)", running.Policy.Liveness == kiosk.LivenessOff, next.Policy.Liveness == kiosk.LivenessOff},
	} {
		if !reflect.DeepEqual(c.a, c.b) {
			out = append(out, c.name)
		}
	}
	return out
}

// watchdog pings systemd while the daemon is sound: the kiosk's self-test
// has run recently and its state can be read. A hung daemon stops pinging
// and systemd restarts it (WatchdogSec=).
func (d *daemon) watchdog(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if reason := d.unsound(); reason != "" {
			d.log.Error("watchdog ping withheld", "reason", reason)
			continue
		}
		if err := d.opts.notifier.Notify(systemd.Watchdog); err != nil {
			d.log.Warn("watchdog ping failed", "err", err)
		}
	}
}

// healthPeriod is kiosk.health_interval after a reload (every, zero before
// the first), the longest period in force before it (before), and when.
type healthPeriod struct {
	every, before time.Duration
	reloaded      time.Time
}

// healthEvery is the self-test's period now.
func (d *daemon) healthEvery() time.Duration {
	d.healthMu.Lock()
	defer d.healthMu.Unlock()
	if d.health.every > 0 {
		return d.health.every
	}
	return d.cfg.Kiosk.HealthInterval
}

// unsound says why the daemon should not be considered alive, or "".
func (d *daemon) unsound() string {
	// A self-test takes at most the API ping's 10 s beyond its interval.
	last := time.Unix(0, d.lastHealth.Load())
	every := d.healthEvery()
	d.healthMu.Lock()
	if !d.health.reloaded.IsZero() && last.Before(d.health.reloaded) {
		// No self-test since the reload: the kiosk's timer armed with
		// the previous period may still be running.
		every = max(every, d.health.before)
	}
	d.healthMu.Unlock()
	stale := 2*every + 15*time.Second
	if age := time.Since(last); age > stale {
		return fmt.Sprintf("no self-test for %s", age.Round(time.Second))
	}
	answered := make(chan struct{})
	go func() {
		d.p.kiosk.Status()
		close(answered)
	}()
	select {
	case <-answered:
		return ""
	case <-time.After(time.Second):
		return "kiosk state unreadable for 1s"
	}
}

// refusalKind is the kiosk's sentinel err matches, or its text: the kind
// of a refused command, for the log's limiter.
func refusalKind(err error) string {
	for _, e := range []error{kiosk.ErrBusy, kiosk.ErrNotRunning, kiosk.ErrSourceDisabled} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// commands hands MQTT commands to the kiosk (which refuses them with
// ErrNotRunning once it drains).
func (d *daemon) commands(ctx context.Context, cmds <-chan mqtt.Command) {
	log := d.log.With("component", "mqtt-commands")
	// A reader stuck on one badge is refused (busy) at every read: a line
	// a minute per kind of refusal, not one a read.
	lim := lograte.New(time.Minute, nil)
	for {
		var cmd mqtt.Command
		select {
		case <-ctx.Done():
			return
		case cmd = <-cmds:
		}
		var err error
		switch c := cmd.(type) {
		case mqtt.Identify:
			err = d.p.kiosk.IdentifyRequest(kiosk.SourceMQTT, kiosk.IdentifyRequest{SubmissionID: c.SubmissionID, UserID: c.UserID})
		case mqtt.Open:
			err = d.p.kiosk.RemoteOpen(kiosk.RemoteOpen{Source: kiosk.SourceMQTT, By: c.By, Reason: c.Reason})
		default:
			err = fmt.Errorf("unknown command %T", cmd)
		}
		if err != nil {
			kind := fmt.Sprintf("%T", cmd)
			lim.Log(log, slog.LevelInfo, kind+"|"+refusalKind(err), "command refused", "command", kind, "err", err)
		}
	}
}

// gateEvents reports the door to the screen and the broker, and hands the
// inputs that need a person (door forced or held open, tamper, input fault)
// to the kiosk: an audit record and an operator alert each. An exit button
// opening is an audit record too. It returns once Events is closed
// (shutdown stops the inputs after halting the relay, so a press whose
// pulse began before the halt still gets its record), or once ctx is done
// and the events already in Events are handled.
func (d *daemon) gateEvents(ctx context.Context, events <-chan gate.Event, side *sideRecords) {
	log := d.log.With("component", "gate-inputs")
	// A chattering contact or a flapping tamper switch is a line a minute
	// per kind in the journal (the kiosk folds them in the audit log).
	lim := lograte.New(time.Minute, nil)
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						return
					}
					d.gateEvent(ev, side, log, lim)
				default:
					return
				}
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			d.gateEvent(ev, side, log, lim)
		}
	}
}

// gateEvent handles one gate event (gateEvents).
func (d *daemon) gateEvent(ev gate.Event, side *sideRecords, log *slog.Logger, lim *lograte.Limiter) {
	switch ev.Kind {
	case gate.DoorOpened, gate.DoorForced, gate.DoorClosed:
		open := ev.Kind != gate.DoorClosed
		d.p.kiosk.SetDoor(open)
		if d.p.broker != nil {
			if err := d.p.broker.PublishDoor(open); err != nil && !errors.Is(err, mqtt.ErrClosed) {
				log.Warn("door state not published", "err", err)
			}
		}
		if ev.Kind == gate.DoorForced {
			lim.Log(log, slog.LevelWarn, "door-forced", "door forced open", "at", ev.Time)
			at := ev.Time
			// Off this loop, like an exit press: a hung card must not
			// stop the events that carry the next exit press.
			side.add(kiosk.InputDoorForced, func() { d.p.kiosk.GateInput(kiosk.InputDoorForced, "", at) })
			return
		}
		lim.Log(log, slog.LevelInfo, ev.Kind.String(), "door", "event", ev.Kind.String())
	case gate.ExitPressed:
		lim.Log(log, slog.LevelInfo, "exit-pressed", "exit button: the relay pulsed locally", "at", ev.Time)
		at := ev.Time
		side.add("exit-pressed", func() { d.p.kiosk.ExitPressed(at) })
	case gate.InputFault, gate.TamperAlarm, gate.DoorHeldOpen, gate.ExitPulseFailed:
		lim.Log(log, slog.LevelWarn, ev.Kind.String(), "gate input", "event", ev.String())
		input := map[gate.EventKind]string{gate.InputFault: kiosk.InputFault, gate.TamperAlarm: kiosk.InputTamperAlarm,
			gate.DoorHeldOpen: kiosk.InputDoorHeldOpen, gate.ExitPulseFailed: kiosk.InputExitPulseFailed}[ev.Kind]
		if ev.Kind == gate.ExitPulseFailed && errors.Is(ev.Err, gate.ErrRelayFault) && !errors.Is(ev.Err, gate.ErrNotEnergised) {
			input = kiosk.InputExitPulseStuck // energised (or stuck before), not "nobody let out"
		}
		detail := ""
		if ev.Err != nil {
			detail = ev.Err.Error()
		}
		at := ev.Time
		side.add(input, func() { d.p.kiosk.GateInput(input, detail, at) })
	default:
		lim.Log(log, slog.LevelInfo, ev.Kind.String(), "gate input", "event", ev.Kind.String())
	}
}

// The listeners' bounds (limitedListener), well under LimitNOFILE=4096:
// the kiosk page's connections from this machine (its event streams,
// previews and API calls) and from others (kiosk.allow_remote), the
// metrics listener's from each (a Prometheus needs one or two), and any
// one other host's.
const (
	maxKioskConns   = 256
	maxRemoteConns  = 64
	maxMetricsConns = 16
	maxConnsPerHost = 8
)
