package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

// wireOptions are what building the parts needs besides the configuration.
type wireOptions struct {
	log     *slog.Logger
	version string
	// frames replaces the camera named by camera.source (benchmarks use a
	// synthetic source); nil opens the configured camera.
	frames capture.FrameSource
	// onState, onEvent and onRelay observe the daemon (the demo's summary,
	// tests, benchmarks); each is called from the kiosk's goroutines and
	// must not block.
	onState func(kiosk.Status)
	onEvent func(record.Event)
	onRelay func(energised bool)
	// onHealth is told each self-test result (the watchdog feeds on it).
	onHealth func(kiosk.Health)
	// gateOpened is told the gate as soon as its lines are requested
	// (tests: an input during the rest of the start).
	gateOpened func(*gate.Gate)
}

// parts is everything `facegate run` drives, built from one configuration.
// close releases them; the daemon calls the steps of the shutdown order
// itself before (see daemon.shutdown).
type parts struct {
	cfg      *config.Config
	log      *slog.Logger
	api      *faceauth.Client
	camera   *capture.Camera // nil when wireOptions.frames was given
	frames   capture.FrameSource
	analyzer *capture.Analyzer
	selector *capture.Selector
	preview  *capture.Preview
	gate     *gate.Gate
	broker   *mqtt.Client // nil when mqtt is disabled
	// brokerClosed: the shutdown closed the broker client already.
	brokerClosed bool
	// stopClipPruning ends the hourly pruning of saved liveness clips.
	stopClipPruning func()
	pub             *publisher
	liveness        *livenessChecker // nil with policy.liveness: off (wire_liveness.go)
	site            *siteWire        // nil with zones off (wire_site.go)
	kiosk           *kiosk.Kiosk
}

// buildParts builds each part from its section. Nothing runs yet (the
// camera reader excepted); on error everything built so far is closed.
// An error names its part once: capture's, mqtt's and kiosk's errors start
// with their package's name; the others are prefixed here with their
// config section (api, camera, io).
func buildParts(ctx context.Context, cfg *config.Config, o wireOptions) (p *parts, err error) {
	p = &parts{cfg: cfg, log: o.log}
	defer func() {
		if err != nil {
			p.close()
			p = nil
		}
	}()

	p.api, err = faceauth.New(apiOptions(cfg, 0, o.log.With("component", "faceauth")))
	if err != nil {
		return p, fmt.Errorf("api: %w", err)
	}

	src := o.frames
	if src == nil {
		p.camera, err = capture.OpenCamera(ctx, cameraOptions(cfg), capture.WithLogger(o.log.With("component", "camera")))
		if err != nil {
			return p, fmt.Errorf("camera: %w", err)
		}
		src = p.camera
	}
	p.frames = src
	capture.SetOpenCVThreads(cfg.Capture.OpenCVThreads)
	// Detection times go to the kiosk's histogram once the kiosk exists.
	var onDetect atomic.Pointer[func(time.Duration)]
	acfg := analyzerOptions(cfg)
	acfg.Logger = o.log.With("component", "capture")
	acfg.OnDetect = func(d time.Duration) {
		if f := onDetect.Load(); f != nil {
			(*f)(d)
		}
	}
	p.analyzer, err = capture.NewAnalyzer(acfg)
	if err != nil {
		return p, err
	}
	p.selector = capture.NewSelector(p.frames, p.analyzer, selectorOptions(cfg))
	p.preview = capture.NewPreview(p.frames, capture.PreviewConfig{Boxes: p.selector.Boxes})

	// The relay line's one route: every change (a grant's pulse, the exit
	// button's) goes to the screen and the broker once the kiosk exists (one
	// before that is not shown).
	var relayRoute atomic.Pointer[func(bool)]
	// The exit button opens only once the daemon reads the gate's events
	// (startDaemon arms it): a press during the rest of the start, which
	// may still fail, would pulse with nothing to record it.
	p.gate, err = gate.Open(gateIO(cfg.IO), gate.Options{Logger: o.log.With("component", "gate"),
		OnRelay: func(on bool) {
			if f := relayRoute.Load(); f != nil {
				(*f)(on)
			}
		}, HoldExitButton: true})
	if err != nil {
		return p, fmt.Errorf("io: %w", err)
	}
	if o.gateOpened != nil {
		o.gateOpened(p.gate)
	}

	if cfg.Zones.Enabled {
		if p.site, err = newSiteWire(cfg, o.log, p.gate); err != nil {
			return p, err
		}
	}
	if cfg.MQTT.Enabled {
		mo, err := mqttOptions(cfg, version, o.log.With("component", "mqtt"))
		if err != nil {
			return p, err
		}
		if p.site != nil {
			p.site.mqttOptions(&mo)
		}
		if p.broker, err = mqtt.New(mo); err != nil {
			return p, err
		}
	}
	var health frameHealth = p.camera
	if p.camera == nil {
		health, _ = src.(frameHealth)
	}
	var cam *cameraMonitor
	if health != nil {
		cam = &cameraMonitor{source: health, analyzer: p.analyzer, frozenAfter: cfg.Camera.FrozenAfter}
	}
	p.pub = &publisher{broker: p.broker, camera: cam, log: o.log}
	if o.onState != nil {
		p.pub.observeState(o.onState)
	}
	if o.onEvent != nil {
		p.pub.observeEvent(o.onEvent)
	}

	relayChanged := func(on bool) { p.relayChanged(on, o.onRelay) }
	deps := kiosk.Deps{
		Selector:      &faceSelector{sel: p.selector},
		Authenticator: p.api,
		Relay:         gateRelay{relay: p.gate.Relay},
		Publisher:     p.pub,
		Pinger:        p.api,
		Preview:       previewSource{p.preview},
		Badges:        capture.NewQRScanner(p.frames, capture.QRConfig{}),
		Logger:        o.log,
		OnHealth:      o.onHealth,
		Version:       version,
	}
	if cam != nil {
		deps.Camera = cam
	}
	if p.gate.Indicator != nil {
		deps.Indicator = p.gate.Indicator
	}
	if p.broker != nil {
		deps.Broker = p.broker
	}
	// Saved clips go when their days are up even after a trial has ended
	// (the feature off, or liveness off): at start, then every hour.
	clips := clipPruner{dir: filepath.Join(cfg.StateDir, "liveness-clips"), keep: time.Duration(cfg.Audit.LivenessClipDays) * 24 * time.Hour,
		maxBytes: int64(cfg.Audit.LivenessClipMaxMB) << 20, log: o.log.With("component", "liveness")}
	clips.prune(time.Now())
	if st, err := os.Stat(clips.dir); cfg.Audit.SaveLivenessClips || (err == nil && st.IsDir()) {
		p.stopClipPruning = clips.every(ctx, time.Hour)
	}
	if cfg.Policy.Liveness != kiosk.LivenessOff {
		if p.liveness, err = newLivenessChecker(p.frames, analyzerOptions(cfg)); err != nil {
			return p, err
		}
		if cfg.Audit.SaveLivenessClips {
			p.liveness.clips = &clipSaver{clipPruner: clips, fps: float64(cfg.Camera.FPS), now: time.Now}
			o.log.Warn("audit.save_liveness_clips is on: every liveness check's video of a face is kept", "dir", clips.dir,
				"days", cfg.Audit.LivenessClipDays, "max_mb", cfg.Audit.LivenessClipMaxMB)
		}
		deps.Liveness = p.liveness
	}
	if p.site != nil {
		deps.Site, deps.SiteBoard, deps.LockoutSite = p.site, p.site, p.site
	}
	p.kiosk, err = kiosk.New(kioskOptions(cfg), deps)
	if err != nil {
		return p, err
	}
	if p.site != nil {
		if err := p.site.start(p.kiosk, p.broker); err != nil {
			return p, err
		}
	}
	if p.broker != nil {
		// Damage in the outbox cost records: the operator must know how
		// many (mqtt.New has logged what it found, repairs included).
		if r := p.broker.OutboxRecovery(); r.Damaged() {
			p.kiosk.RaiseAlert(kiosk.AlertOutboxCorrupt, r.String())
		}
		// The site command queue: a lost record is an evacuation start or
		// end the peers may never get.
		if r := p.broker.CommandOutboxRecovery(); r.Damaged() {
			p.kiosk.RaiseAlert(kiosk.AlertOutboxCorrupt, "site command queue "+mqtt.SiteCommandsFileName+": "+r.String())
		}
	}
	relayRoute.Store(&relayChanged)
	// The line as it is now, whatever is retained: a daemon killed while
	// the line was energised (a pulse, an evacuation hold) left "open" on
	// the broker, and a hold taken before the route existed was not shown.
	// Read again after: a change between the read and the publish (a hold
	// taken at start ending) went out by the route already, and this
	// stale value after it; the loop ends on the line as it is.
	for {
		st := p.gate.Relay.State()
		relayChanged(st == gate.RelayActive || st == gate.RelayFault)
		if p.gate.Relay.State() == st {
			break
		}
	}
	// The door the same (a door that closed while the daemon was down
	// stayed "open" retained); its changes from now on come as events.
	if open, known := p.gate.Door(); known {
		p.kiosk.SetDoor(open)
		if p.broker != nil {
			if err := p.broker.PublishDoor(open); err != nil {
				o.log.Warn("door state not published", "err", err)
			}
		}
	}
	observe := p.kiosk.ObserveDetection
	onDetect.Store(&observe)
	return p, nil
}

// relayChanged tells the screen and the broker what the relay line does
// (the gate's OnRelay route, for every pulse), once the kiosk is built.
func (p *parts) relayChanged(on bool, observe func(bool)) {
	p.kiosk.SetRelay(on)
	if p.broker != nil {
		if err := p.broker.PublishRelay(on); err != nil && !errors.Is(err, mqtt.ErrClosed) {
			p.log.Warn("relay state not published", "err", err)
		}
	}
	if observe != nil {
		observe(on)
	}
}

// close releases what buildParts made, in the reverse order of need: the
// relay is made inert before anything else is let go.
func (p *parts) close() {
	if p.stopClipPruning != nil {
		p.stopClipPruning()
	}
	if p.kiosk != nil {
		p.kiosk.Abandon() // a start that failed after the kiosk was made
	}
	if p.gate != nil {
		if err := p.gate.Close(); err != nil {
			p.log.Error("gate close failed", "err", err)
		}
	}
	if p.broker != nil && !p.brokerClosed {
		ctx, cancel := context.WithTimeout(context.Background(), 0)
		_ = p.broker.Close(ctx)
		cancel()
	}
	if p.api != nil {
		p.api.CloseIdleConnections() // else kept alive for 90s after the parts are gone
	}
	closers := []struct {
		name string
		c    interface{ Close() error }
		ok   bool
	}{
		{"preview", p.preview, p.preview != nil},
		{"liveness", p.liveness, p.liveness != nil},
		{"selector", p.selector, p.selector != nil},
		{"analyzer", p.analyzer, p.analyzer != nil},
		{"camera", p.camera, p.camera != nil}, // last: the others read from it
	}
	for _, c := range closers {
		if !c.ok {
			continue
		}
		if err := c.c.Close(); err != nil {
			p.log.Warn("close failed", "part", c.name, "err", err)
		}
	}
}
