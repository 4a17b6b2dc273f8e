package main

// The site (issue 15, docs/site.md): the presence of package site, fed by
// the MQTT transport (every gate's events, relay results, snapshots, the
// evacuation state, signed commands) and by this gate's own decisions,
// consulted by the kiosk through its ports (kiosk.SiteGuard,
// kiosk.SiteBoard), and driving the evacuation: the fire-alarm input,
// the relay held for egress, the alerts, the retained views.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/internal/atomicfile"
	"github.com/facegate/facegate/internal/lograte"
	"github.com/facegate/facegate/internal/mqttrules"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

// siteSaveEvery is how often the presence is saved when it changed (and
// the daily reset checked): a crash loses at most this much of the local
// copy, which the peers' snapshots and outboxes restore, and this gate's
// audit log its own passages (replayOwnRecords).
const siteSaveEvery = 10 * time.Second

// siteStateName is the presence's state file in the state directory.
const siteStateName = "site-presence.json"

// relayRetryEvery is how often a relay that could not be released after an
// evacuation is tried again.
const relayRetryEvery = 5 * time.Second

// relayHolder is the part of the gate the evacuation drives.
type relayHolder interface {
	Hold() error
	Release() error
}

// siteWire joins the presence, the broker, the gate and the kiosk. It is
// the kiosk's SiteGuard and SiteBoard and the broker's SiteHandler and
// SiteSource.
type siteWire struct {
	cfg      *config.Config
	log      *slog.Logger
	presence *site.Presence
	gate     *gate.Gate  // nil in tests that drive no relay
	relay    relayHolder // the gate's relay; nil with no gate
	now      func() time.Time
	// connected reports the broker's connection (a fake in tests).
	connected func() bool

	// trusted are the ids of the active evacuations this gate may hold its
	// relay for: started here or by a verified signed cmd/evacuate, never
	// learnt only from the unsigned retained state or a snapshot. An id
	// leaves at its end: should the evacuation come back (its end pruned,
	// the presence lost, a stale retained start) it refuses sessions but
	// never holds the relay. Kept in trustPath so a restart mid-evacuation
	// holds again.
	tmu       sync.Mutex // guards trusted; never held across a disk write
	trusted   []string
	trustPath string
	fmu       sync.Mutex // orders the writes of trustPath

	// Set once by start; the broker's goroutines may read them before
	// (Views, on the first publication): nil until then.
	brokerP atomic.Pointer[mqtt.Client] // nil without MQTT
	kioskP  atomic.Pointer[kiosk.Kiosk]
	alarm   *gate.Alarm // set by start before run
	// sideRecord writes an audit record off this wire's goroutine (set by
	// the daemon before run; nil writes it at once, as in tests): a hung
	// disk must not hold the end of an evacuation.
	sideRecord func(what string, write func())

	// work carries the presence's notifications to run's goroutine (the
	// presence calls its subscribers from whichever goroutine changed it).
	mu      sync.Mutex
	pending []site.Notice
	changed bool
	wake    chan struct{}
	// hmu guards the hold's state: evacuationChanged changes it (on run's
	// goroutine, and on Evacuate's, which moves the relay before it saves
	// anything), and shutdown ends it (relayHalted) once the relay is
	// halted.
	hmu    sync.Mutex
	held   bool   // the relay is held for an evacuation
	heldID string // the evacuation it is held for
	halted bool   // shutdown halted the relay: no more holds or releases
	// announced is the evacuation last told to the kiosk (SetEvacuation).
	announced kiosk.SiteEvacuation
	// releaseFailed: the evacuation ended but the relay is still held;
	// holdFailed: a trusted evacuation is on but the relay could not be
	// held (a relay fault the relay may clear). Tried again on the next
	// handle and timer.
	releaseFailed, holdFailed bool
	// localAlerted: site_unreachable was raised for the current outage.
	localAlerted atomic.Bool
	// peerLog limits the lines of the peers' messages refused: a broken
	// peer is a line a minute, not one a message, on every gate.
	peerLog *lograte.Limiter
	// noticeAlerts limits the alerts of the site's clock_skew and
	// reset_mismatch notices to one an hour per kind: every peer snapshot
	// carries them again while the fault lasts.
	noticeAlerts *lograte.Limiter
	// listedForEnd, when set (tests), runs between an operator's end
	// listing the active evacuations and ending them.
	listedForEnd func()
}

// presenceOptions are the presence's options from the zones section; the
// state file is <state_dir>/site-presence.json.
func presenceOptions(cfg *config.Config, log *slog.Logger) (site.Options, error) {
	z := cfg.Zones
	loc, err := z.Location()
	if err != nil {
		return site.Options{}, fmt.Errorf("zones.time_zone: %w", err)
	}
	if z.ResetAt != "" && z.TimeZone == "" {
		log.Warn("zones.reset_at is read in this machine's time zone: set zones.time_zone alike on every gate, so that they reset at the same instant",
			"reset_at", z.ResetAt, "time_zone", loc.String())
	}
	o := site.Options{
		Site: cfg.Site, Gate: cfg.Gate,
		Passback:  site.PassbackOptions{Mode: z.AntiPassback.Mode, Window: z.AntiPassback.Window, RequirePath: z.AntiPassback.RequirePath},
		ResetAt:   z.ResetAt,
		Location:  loc,
		StatePath: filepath.Join(cfg.StateDir, siteStateName),
		Log:       log.With("component", "site"),
	}
	for _, zn := range z.List {
		o.Zones = append(o.Zones, site.Zone{Name: zn.Name, Inside: zn.Inside, Hazardous: zn.Hazardous,
			MaxOccupancy: zn.MaxOccupancy, OccupancyHard: zn.OccupancyMode != "soft"})
	}
	if cfg.Mode != config.ModeMuster {
		o.Door = site.Door{From: z.Door.From, To: z.Door.To, Direction: z.Door.Direction}
	}
	return o, nil
}

// newSiteWire builds the presence from the zones section.
func newSiteWire(cfg *config.Config, log *slog.Logger, g *gate.Gate) (*siteWire, error) {
	o, err := presenceOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	var w *siteWire
	o.SaveFailed = func(err error) { w.saveFailed(err) } // Run starts after w is made
	p, err := site.New(o)
	if err != nil {
		return nil, fmt.Errorf("zones: %w", err)
	}
	w = &siteWire{cfg: cfg, log: log.With("component", "site"), presence: p, gate: g, now: time.Now, wake: make(chan struct{}, 1),
		peerLog:   lograte.New(time.Minute, nil),
		trustPath: filepath.Join(cfg.StateDir, "site-evacuation-trust.json")}
	w.noticeAlerts = lograte.New(time.Hour, func() time.Time { return w.now() })
	if g != nil {
		w.relay = g
	}
	w.connected = func() bool { b := w.broker(); return b != nil && b.Connected() }
	if err := w.loadTrust(); err != nil {
		// Fail safe: no relay held for a remote evacuation; local ones still.
		w.log.Error("trusted evacuations not read: only evacuations started from now on hold the relay", "path", w.trustPath, "err", err)
	}
	if cfg.MQTT.SubmissionID == string(record.PrivacyOmit) && cfg.Policy.Liveness != "off" {
		w.log.Warn("this gate's liveness failures count towards no other gate's lockout: its events carry no submission id",
			"key", "mqtt.submission_id", "value", cfg.MQTT.SubmissionID)
	}
	w.replayOwnRecords()
	p.Subscribe(w.onChange)
	return w, nil
}

// saveFailed raises the state_dir alert for a periodic save of the site
// state that failed (the first of a run of them: site.Options.SaveFailed).
func (w *siteWire) saveFailed(err error) {
	if k := w.kiosk(); k != nil {
		k.RaiseAlert("state_dir", "site state could not be saved (a restart would forget who is where since the last save; retried every "+
			siteSaveEvery.String()+"): "+err.Error())
	}
}

// maxTrusted bounds the trusted ids kept (the oldest go first).
const maxTrusted = 64

func (w *siteWire) loadTrust() error {
	raw, err := os.ReadFile(w.trustPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read trusted evacuations: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return fmt.Errorf("parse %s: %w", w.trustPath, err)
	}
	w.tmu.Lock()
	w.trusted = ids
	w.tmu.Unlock()
	return nil
}

// trust marks an evacuation as one this gate holds its relay for, durably.
func (w *siteWire) trust(id string) {
	if w.trustInMemory(id) {
		w.saveTrust(id)
	}
}

// trustInMemory is trust without the save; it reports whether id was new.
func (w *siteWire) trustInMemory(id string) bool {
	w.tmu.Lock()
	defer w.tmu.Unlock()
	if slices.Contains(w.trusted, id) {
		return false
	}
	w.trusted = append(w.trusted, id)
	if len(w.trusted) > maxTrusted {
		w.trusted = w.trusted[len(w.trusted)-maxTrusted:]
	}
	return true
}

// saveTrust saves the trusted evacuations (id the one just trusted).
func (w *siteWire) saveTrust(id string) {
	if err := w.saveTrustFile(); err != nil {
		w.log.Error("trusted evacuation not saved: a restart would not hold the relay for it", "id", id, "err", err)
	}
}

// forgetEnded forgets, durably, every trusted evacuation the presence
// knows to be over: its relay is never held again. It follows the
// presence rather than its end notices, so an end for an id never started
// here, or one that raced a trust (SiteCommand), is caught by the next
// sweep.
func (w *siteWire) forgetEnded() {
	w.tmu.Lock()
	n := len(w.trusted)
	w.trusted = slices.DeleteFunc(w.trusted, w.presence.EvacuationEnded)
	changed := len(w.trusted) != n
	w.tmu.Unlock()
	if !changed {
		return
	}
	if err := w.saveTrustFile(); err != nil {
		w.log.Error("ended evacuation still trusted on disk: a restart would hold the relay if it came back", "err", err)
	}
}

// saveTrustFile writes trusted to trustPath. tmu is held only to copy
// the list: a hung card must not block trustedActive, which every hold
// and release asks (found by a review, 2026-12-07). fmu keeps the writes
// in order, each of the list as it was when its turn came.
func (w *siteWire) saveTrustFile() error {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	w.tmu.Lock()
	raw, err := json.Marshal(w.trusted)
	w.tmu.Unlock()
	if err == nil {
		err = atomicfile.Write(w.trustPath, raw, 0o600)
	}
	if err != nil {
		return fmt.Errorf("save trusted evacuations: %w", err)
	}
	return nil
}

func (w *siteWire) isTrusted(id string) bool {
	w.tmu.Lock()
	defer w.tmu.Unlock()
	return slices.Contains(w.trusted, id)
}

// trustedActive is the oldest active evacuation this gate trusts ("" none).
func (w *siteWire) trustedActive() string {
	for _, e := range w.presence.Evacuations() {
		if e.Active() && w.isTrusted(e.ID) {
			return e.ID
		}
	}
	return ""
}

func (w *siteWire) kiosk() *kiosk.Kiosk  { return w.kioskP.Load() }
func (w *siteWire) broker() *mqtt.Client { return w.brokerP.Load() }

// mqttOptions turns on the broker's site transport. The signed site
// commands (cmd/evacuate, cmd/correct, cmd/unlock) use mqtt.commands.open.secret and
// are on whenever it is set.
func (w *siteWire) mqttOptions(mo *mqtt.Options) {
	mo.Zones = mqtt.SiteOptions{Enabled: true, Topic: w.cfg.Zones.SiteTopicFor(w.cfg.Site), Handler: w, Source: w,
		Commands: len(w.cfg.MQTT.Commands.Open.Secret.Value()) >= mqttrules.MinOpenSecret, Secret: []byte(w.cfg.MQTT.Commands.Open.Secret.Value()),
		CommandDropped: w.commandDropped}
	if w.cfg.MQTT.HomeAssistant.Enabled {
		for _, z := range w.cfg.Zones.List {
			mo.Zones.OccupancySensors = append(mo.Zones.OccupancySensors, z.Name)
		}
	}
}

// commandDropped raises outbox_corrupt, as damage in the command queue
// does: a queued evacuate command the peers will never get (a lost end
// leaves their relays held open).
func (w *siteWire) commandDropped(action, id string, err error) {
	k := w.kiosk()
	if k == nil {
		return
	}
	what := "a record that cannot be read"
	if action != "" {
		what = "evacuate " + action + " " + id
	}
	if errors.Is(err, mqtt.ErrNotDelivered) {
		k.RaiseAlert(kiosk.AlertBrokerDropped, what+": "+err.Error())
		return
	}
	k.RaiseAlert(kiosk.AlertOutboxCorrupt, "site command queue "+mqtt.SiteCommandsFileName+": "+what+" dropped unsent: "+err.Error())
}

// evacuationEndRequeue is how long after its end an evacuation's end
// command is queued again at start (start).
const evacuationEndRequeue = time.Hour

// start connects the built parts; called once, before traffic flows.
func (w *siteWire) start(k *kiosk.Kiosk, b *mqtt.Client) error {
	w.kioskP.Store(k)
	if b != nil {
		w.brokerP.Store(b)
	}
	if err := w.presence.StateProblem(); err != nil {
		k.RaiseAlert(site.AlertSiteState, err.Error())
	}
	if l := w.cfg.IO.FireAlarm; l.Line != "" && w.gate != nil {
		a, err := w.gate.OpenAlarm("fire_alarm", gate.AlarmLine{Chip: l.Chip, Line: l.Line, ActiveLow: l.ActiveLow, Bias: l.Bias, Debounce: l.Debounce})
		if err != nil {
			return fmt.Errorf("io.fire_alarm: %w", err)
		}
		w.alarm = a
	}
	// Trust in an evacuation that ended while the daemon was down (or
	// before the end was handled) goes.
	w.forgetEnded()
	// An evacuation that was running when the daemon stopped still runs.
	w.mu.Lock()
	w.changed = true
	var again, ended []site.Evacuation
	for _, e := range w.presence.Evacuations() {
		if e.Active() {
			w.pending = append(w.pending, site.Notice{Kind: site.NoticeEvacuationStarted, EvacuationID: e.ID})
			again = append(again, e)
		} else if w.now().Sub(e.Ended) < evacuationEndRequeue {
			ended = append(ended, e)
		}
	}
	w.mu.Unlock()
	// So is the end of one that ended lately: the run before may have
	// died after saving the end and before queueing it, and the peers
	// would hold their relays until their next resync. An end ends only
	// its own id, and a peer that has it ended already changes nothing.
	for _, e := range ended {
		w.publishEvacuate(mqtt.Evacuate{Action: mqtt.EvacuateEnd, ID: e.ID, By: e.EndedBy, Reason: "queued again at a restart", Issued: w.now().UTC()})
	}
	// Its signed start is queued again: the run before may have died
	// after saving it and before queueing its command (peers drop nothing
	// by a second start of an evacuation they trust already).
	for _, e := range again {
		if !w.isTrusted(e.ID) {
			continue
		}
		w.publishEvacuate(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: e.ID, By: e.By, Reason: e.Reason, Issued: w.now().UTC()})
	}
	signalChan(w.wake)
	return nil
}

// run handles the presence's notifications, the fire alarm and the
// periodic save until ctx ends, then saves a last time.
func (w *siteWire) run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.presence.Run(ctx, siteSaveEvery); err != nil {
			w.log.Error("site state not saved at shutdown", "err", err)
		}
	}()
	defer func() { <-done }()
	var alarm <-chan gate.Event
	if w.alarm != nil {
		alarm = w.alarm.Events()
	}
	retry := time.NewTicker(relayRetryEvery)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			w.handle()
		case <-retry.C:
			if w.relayRetryDue() {
				w.evacuationChanged()
			}
		case e, ok := <-alarm:
			if !ok {
				alarm = nil
				continue
			}
			w.fireAlarm(e)
		}
	}
}

func signalChan(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// onChange is the presence's subscriber: it must not block.
func (w *siteWire) onChange(ch site.Change) {
	if ch.Empty() {
		return
	}
	w.mu.Lock()
	w.pending = append(w.pending, ch.Notices...)
	w.changed = true
	w.mu.Unlock()
	signalChan(w.wake)
}

// handle acts on the notifications gathered since the last call.
func (w *siteWire) handle() {
	w.mu.Lock()
	notices, changed := w.pending, w.changed
	w.pending, w.changed = nil, false
	w.mu.Unlock()
	if w.connected() {
		// A new outage raises site_unreachable again.
		w.localAlerted.Store(false)
	}
	evac := false
	for _, n := range notices {
		switch n.Kind {
		case site.NoticeOccupancyReached:
			w.kiosk().RaiseAlert(kiosk.AlertOccupancyReached, fmt.Sprintf("zone %s reached its maximum: %d of %d", n.Zone, n.Count, n.Max))
		case site.NoticeOccupancyBelow:
			w.kiosk().RaiseAlert(kiosk.AlertOccupancyBelow, fmt.Sprintf("zone %s is below its maximum again: %d of %d", n.Zone, n.Count, n.Max))
		case site.NoticeClockSkew:
			w.log.Warn("site fact from the future: check NTP on the gates", "detail", n.Message)
			w.noticeAlert(kiosk.AlertClockSkew, "a peer's clock is ahead of this gate's, its facts are not applied: check NTP on the gates: "+n.Message)
		case site.NoticeResetMismatch:
			w.noticeAlert(kiosk.AlertResetMismatch, n.Message)
		case site.NoticeEvacuationStarted, site.NoticeEvacuationEnded:
			evac = true
		}
	}
	if evac || w.relayRetryDue() {
		w.evacuationChanged()
	}
	// After the relay: forgetting an ended evacuation saves the trust
	// file, and a hung card must not keep every door unlocked.
	if changed {
		w.forgetEnded()
		if w.broker() != nil {
			w.broker().SiteChanged()
		}
	}
}

// noticeAlert raises an alert of a site notice at most once an hour per
// code, saying how many were held back.
func (w *siteWire) noticeAlert(code, msg string) {
	ok, held := w.noticeAlerts.Allow(code)
	if !ok {
		return
	}
	if held > 0 {
		msg += fmt.Sprintf(" (%d more in the last hour)", held)
	}
	w.kiosk().RaiseAlert(code, msg)
}

// relayRetryDue reports whether a hold or a release failed and is to be
// tried again.
func (w *siteWire) relayRetryDue() bool {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	return w.releaseFailed || w.holdFailed
}

// evacuationChanged holds or releases the relay and tells the kiosk
// (screen, alert), from the presence's state now. Every evacuation refuses
// sessions and drives the muster list; only a trusted one (trust) holds
// the relay: an unsigned retained message must not open every door.
func (w *siteWire) evacuationChanged() {
	if w.kiosk() == nil {
		return // not started: start's first handle does it
	}
	e := w.Evacuation()
	w.hmu.Lock()
	news := e.ID != w.announced.ID || e.Active != w.announced.Active
	if news {
		w.announced = e
	}
	w.hmu.Unlock()
	if news { // the screen and the alert once per change, not per retry or caller
		w.kiosk().SetEvacuation(e)
	}
	if !w.cfg.Zones.Evacuation.ReleaseRelay || w.relay == nil || w.kiosk().Muster() {
		return
	}
	w.hmu.Lock()
	defer w.hmu.Unlock()
	if w.halted {
		return
	}
	// Read under hmu: Evacuate calls this from any goroutine, and a
	// caller that read an evacuation on before another ended it (and
	// found nothing to release) must not hold the relay after it.
	id := w.trustedActive()
	switch {
	case id != "" && !w.held:
		if err := w.relay.Hold(); err != nil {
			if !w.holdFailed {
				w.log.Error("relay not held open for the evacuation: retrying", "err", err)
				w.kiosk().RaiseAlert(kiosk.ReasonRelayFailed, "the relay could not be held open for the evacuation: "+err.Error())
			}
			w.holdFailed = true
			return
		}
		w.held, w.heldID, w.holdFailed = true, id, false
		w.log.Warn("relay held open for the evacuation", "evacuation_id", id)
		w.recordHold(true, id)
	case id == "" && w.held:
		if err := w.relay.Release(); err != nil {
			w.log.Error("relay not released after the evacuation: retrying", "err", err)
			if !w.releaseFailed {
				w.kiosk().RaiseAlert(kiosk.ReasonRelayFailed, "the relay could not be released after the evacuation: "+err.Error())
			}
			w.releaseFailed = true
			return
		}
		w.held, w.heldID, w.releaseFailed = false, "", false
		w.log.Info("relay released: the evacuation ended", "evacuation_id", e.ID)
		w.recordHold(false, e.ID)
	case id != "" && w.held:
		w.releaseFailed = false // held again before the release went through
	case id == "" && !w.held:
		w.holdFailed = false // ended before a hold went through
	}
}

// relayHalted is called by shutdown once the relay is halted (its line
// inactive): a hold it ended is recorded as released with reason
// "shutdown", and no hold or release follows.
func (w *siteWire) relayHalted() {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	w.halted = true
	if !w.held {
		return
	}
	w.held = false
	id, k := w.heldID, w.kiosk()
	w.log.Warn("relay released at shutdown: the evacuation is still on", "evacuation_id", id)
	w.record("relay_hold", func() { k.HoldEndedByShutdown(id) })
}

// recordHold has the kiosk record the relay held or released for
// evacuation id, off this goroutine when the daemon set sideRecord.
func (w *siteWire) recordHold(held bool, id string) {
	k := w.kiosk()
	w.record("relay_hold", func() { k.RelayHeld(held, id) })
}

// record writes an audit record off the site wire's loop when the daemon
// set sideRecord (a hung card must not hold up the relay), else at once.
func (w *siteWire) record(what string, write func()) {
	if w.sideRecord == nil {
		write()
		return
	}
	w.sideRecord(what, write)
}

// fireAlarm starts an evacuation when the input goes active; only an
// operator ends it.
func (w *siteWire) fireAlarm(e gate.Event) {
	switch e.Kind {
	case gate.InputFault:
		// Off this loop, like the holds: a hung card must not hold up
		// the evacuation that follows.
		k, detail, at := w.kiosk(), e.Err.Error(), e.Time
		w.record(kiosk.InputFault, func() { k.GateInput(kiosk.InputFault, detail, at) })
	case gate.FireAlarm:
		w.log.Warn("fire alarm input active: evacuating the site")
		if _, err := w.Evacuate(true, "fire-alarm@"+w.cfg.Gate, "fire alarm input"); err != nil {
			w.log.Error("evacuation not started", "err", err)
		}
	case gate.FireAlarmCleared:
		w.log.Warn("fire alarm input cleared: the evacuation goes on until an operator ends it")
	}
}

// view is what the kiosk's verdicts rest on.
func (w *siteWire) view() site.View {
	if w.connected() {
		return site.ViewSite
	}
	return site.ViewLocal
}

// Check implements kiosk.SiteGuard. The first check of a broker outage
// raises site_unreachable: the gate decides on its own copy meanwhile.
func (w *siteWire) Check(person string, now time.Time) (kiosk.SitePassage, kiosk.SiteVerdict) {
	view := w.view()
	if view == site.ViewLocal && w.broker() != nil && !w.localAlerted.Swap(true) {
		w.kiosk().RaiseAlert(kiosk.AlertSiteUnreachable, "the broker is unreachable: this gate checks the site's anti-passback and occupancy on its own copy (site_view local) until it is back")
	} else if view == site.ViewSite {
		w.localAlerted.Store(false)
	}
	v := w.presence.Check(person, now, view)
	p := kiosk.SitePassage{From: v.From, To: v.To, Direction: w.cfg.Zones.Door.Direction, Exit: v.Exit}
	if person == "" && v.Code != site.CodeOccupancyFull {
		// Not a fact of the presence (no user id): untracked, so no
		// anti-passback of its own; refused entering where it is hard.
		if w.cfg.Zones.AntiPassback.Mode == site.PassbackHard && !v.Exit {
			return p, kiosk.SiteVerdict{Code: kiosk.ReasonSiteUnknown, Detail: "identity without a user id", View: string(view)}
		}
		return p, kiosk.SiteVerdict{Allowed: true, View: string(view)}
	}
	return p, kiosk.SiteVerdict{Allowed: v.Allowed, Soft: v.Soft, Code: v.Code, Detail: v.Message, View: string(v.View)}
}

// Evacuation implements kiosk.SiteGuard: the oldest active evacuation.
func (w *siteWire) Evacuation() kiosk.SiteEvacuation {
	var last site.Evacuation
	for _, e := range w.presence.Evacuations() {
		if e.Active() {
			return kiosk.SiteEvacuation{Active: true, ID: e.ID, Since: e.Since, By: e.By, Reason: e.Reason}
		}
		last = e
	}
	return kiosk.SiteEvacuation{ID: last.ID, Since: last.Since, By: last.EndedBy}
}

// Record implements kiosk.SiteGuard: this gate's own event, at once.
func (w *siteWire) Record(ev record.Event) {
	if _, err := w.presence.ApplyEvent(ev); err != nil {
		w.log.Warn("own event not applied to the presence", "event_id", ev.EventID, "err", err)
	}
}

// RecordRelay implements kiosk.SiteGuard.
func (w *siteWire) RecordRelay(r record.PulseResult) {
	if _, err := w.presence.ApplyRelay(r); err != nil {
		w.log.Warn("own relay result not applied to the presence", "event_id", r.EventID, "err", err)
	}
}

// Report implements kiosk.SiteBoard.
func (w *siteWire) Report() kiosk.SiteReport {
	rep := kiosk.SiteReport{Site: w.cfg.Site, Gate: w.cfg.Gate, At: w.now().UTC(), View: string(w.view()), Evacuation: w.Evacuation()}
	occ := w.presence.Occupancy()
	inside := w.presence.Inside()
	for _, z := range w.presence.Zones() {
		sz := kiosk.SiteZone{Name: z.Name, Inside: z.Inside, Hazardous: z.Hazardous, Occupancy: occ[z.Name], Max: z.MaxOccupancy, People: []kiosk.SitePerson{}}
		if sz.Inside == "" {
			sz.Inside = site.Outside
		}
		for _, p := range inside[z.Name] {
			sz.People = append(sz.People, kiosk.SitePerson{UserID: p.ID, Zone: p.Zone, Since: p.Since})
		}
		rep.Zones = append(rep.Zones, sz)
	}
	l := w.presence.MusterList()
	if l.Active {
		at := map[string]time.Time{}
		for _, m := range l.Mustered {
			at[m.Person] = m.At
		}
		m := &kiosk.SiteMuster{ID: rep.Evacuation.ID, Present: []kiosk.SitePerson{}, Missing: []kiosk.SitePerson{}}
		for _, p := range l.Present {
			m.Present = append(m.Present, kiosk.SitePerson{UserID: p.ID, Zone: p.Zone, Since: p.Since, MusteredAt: at[p.ID]})
		}
		for _, p := range l.Missing {
			m.Missing = append(m.Missing, kiosk.SitePerson{UserID: p.ID, Zone: p.Zone, Since: p.Since})
		}
		rep.Muster = m
	}
	return rep
}

// cmdGate stamps the facts of the signed site commands: every gate writes
// the same register for one command (docs/site.md "Limits").
const cmdGate = "cmd"

// siteCorrectTimeout bounds the wait for the broker's acknowledgement of a
// correction sent to the site.
const siteCorrectTimeout = 5 * time.Second

// Correct implements kiosk.SiteBoard (the admin API). With the site
// commands on and the broker connected it is sent to every gate at once as
// the signed cmd/correct and applied here exactly as the peers apply it
// (the signed ts in whole seconds, gate "cmd"), so all gates write one
// fact. Otherwise it is this gate's fact at the time of the request, which
// the other gates get with this gate's snapshot.
func (w *siteWire) Correct(c kiosk.SiteCorrection) (kiosk.SiteCorrected, error) {
	b := w.broker()
	if b == nil || !b.SiteCommands() {
		if err := w.correct(site.Correction{Person: c.UserID, Zone: c.Zone, At: w.now(), By: c.By, Reason: c.Reason}); err != nil {
			return kiosk.SiteCorrected{}, err
		}
		detail := "site commands are off (no mqtt.commands.open.secret): the other gates get this correction with this gate's snapshot, on their next connect or resync"
		w.log.Info("site correction not broadcast", "user_id", c.UserID, "detail", detail)
		return kiosk.SiteCorrected{Detail: detail}, nil
	}
	// Applied first: the presence refuses an undeclared zone before
	// anything is sent.
	at := time.Unix(w.now().Unix(), 0)
	if err := w.correct(site.Correction{Person: c.UserID, Zone: c.Zone, At: at, Gate: cmdGate, By: c.By, Reason: c.Reason}); err != nil {
		return kiosk.SiteCorrected{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), siteCorrectTimeout)
	defer cancel()
	if _, err := b.PublishCorrect(ctx, mqtt.Correct{UserID: c.UserID, Zone: c.Zone, By: c.By, Reason: c.Reason, Issued: at}); err != nil {
		// The fact is in this gate's snapshot all the same.
		w.log.Warn("site correction not broadcast", "user_id", c.UserID, "err", err)
		return kiosk.SiteCorrected{Detail: "applied here but not sent to the other gates now (" + err.Error() +
			"): they get it with this gate's snapshot, on their next connect or resync"}, nil
	}
	return kiosk.SiteCorrected{Broadcast: true}, nil
}

// ShareUnlock implements kiosk.LockoutSite: the signed cmd/unlock, sent
// at once over the live connection (it is not queued).
func (w *siteWire) ShareUnlock(key string, issued time.Time, by, reason string) (kiosk.SignedUnlock, error) {
	b := w.broker()
	if b == nil || !b.SiteCommands() {
		return kiosk.SignedUnlock{}, errors.New("site commands are off (no mqtt.commands.open.secret)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), siteCorrectTimeout)
	defer cancel()
	// Signed once: when it is not sent (the broker away, its PUBACK
	// lost), the unlock list carries this same command.
	u, err := b.PublishUnlock(ctx, mqtt.Unlock{Key: key, By: by, Reason: reason, Issued: issued})
	return kiosk.SignedUnlock{Nonce: u.Nonce, Cmd: u.Signed}, err
}

// LockoutChanged implements kiosk.LockoutSite: the gate's failure list
// is published again (with the snapshot, at most once per interval).
func (w *siteWire) LockoutChanged() {
	if b := w.broker(); b != nil {
		b.SiteChanged()
	}
}

func (w *siteWire) correct(c site.Correction) error {
	_, err := w.presence.Correct(c)
	if errors.Is(err, site.ErrFact) {
		return fmt.Errorf("%w: %w", kiosk.ErrSiteRequest, err)
	}
	return err
}

// Evacuate implements kiosk.SiteBoard (the admin API and the fire alarm):
// the presence first, then the site's retained evacuation state.
func (w *siteWire) Evacuate(start bool, by, reason string) (kiosk.SiteEvacuation, error) {
	now := w.now().UTC()
	if start {
		if cur := w.Evacuation(); cur.Active {
			// One emergency at a time: already evacuating. This gate's
			// alarm or operator confirms it, though it may have been learnt
			// unsigned: trusted from now on, here and (signed) at the peers.
			if !w.isTrusted(cur.ID) {
				// Held before anything is saved, as a new start is.
				w.trustInMemory(cur.ID)
				w.evacuationChanged()
				w.saveTrust(cur.ID)
				w.publishEvacuate(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: cur.ID, By: by, Reason: reason, Issued: now})
			}
			return cur, nil
		}
		// Milliseconds and a random suffix: two gates (or two quick
		// requests) never name two evacuations alike.
		id := "evac-" + now.Format("20060102T150405.000Z") + "-" + rand.Text()[:6] + "-" + w.cfg.Gate
		// Trusted before it starts, so the notice finds it trusted. The
		// relay is held before anything is saved: a hung card must not
		// keep the doors locked in a fire (the fire alarm calls this on
		// the site wire's loop).
		w.trustInMemory(id)
		if _, err := w.presence.StartEvacuation(site.Evacuation{ID: id, Since: now, By: by, Reason: reason}); err != nil {
			return kiosk.SiteEvacuation{}, err
		}
		w.evacuationChanged()
		w.saveTrust(id)
		w.savePresence()
		w.publishEvacuation(mqtt.Evacuation{Active: true, ID: id, Since: record.Timestamp(now), By: by, Reason: reason, TS: record.Timestamp(now)})
		w.publishEvacuate(mqtt.Evacuate{Action: mqtt.EvacuateStart, ID: id, By: by, Reason: reason, Issued: now})
		e := w.Evacuation()
		if !e.Active {
			return e, fmt.Errorf("evacuation %s not active after its start (an end already known for it?)", id)
		}
		return e, nil
	}
	var ended []site.Evacuation
	for _, e := range w.presence.Evacuations() {
		if e.Active() {
			ended = append(ended, e)
		}
	}
	if len(ended) == 0 {
		return kiosk.SiteEvacuation{}, fmt.Errorf("%w: no evacuation is in progress", kiosk.ErrSiteRequest)
	}
	if w.listedForEnd != nil {
		w.listedForEnd()
	}
	// Each by its id: "" would also end one a peer started since the
	// list was taken, without its retained end or end command.
	for _, e := range ended {
		if _, err := w.presence.EndEvacuation(e.ID, now, by); err != nil {
			return kiosk.SiteEvacuation{}, err
		}
	}
	w.evacuationChanged() // the relay released before anything is saved
	w.savePresence()
	for _, e := range ended {
		w.publishEvacuation(mqtt.Evacuation{Active: false, ID: e.ID, Since: record.Timestamp(e.Since), By: by, Reason: reason, TS: record.Timestamp(now)})
		w.publishEvacuate(mqtt.Evacuate{Action: mqtt.EvacuateEnd, ID: e.ID, By: by, Reason: reason, Issued: now})
	}
	return w.Evacuation(), nil
}

// savePresence saves an operator's or the fire alarm's start or end at
// once, before its command is queued: a crash within siteSaveEvery would
// otherwise restart with the command on disk and the presence without it
// (an end lost here, or a start whose queued command outlives it).
func (w *siteWire) savePresence() {
	if err := w.presence.Save(); err != nil {
		w.log.Error("site state not saved after an evacuation start or end: retried with the periodic save", "err", err)
	}
}

// publishEvacuate sends this gate's start or end to the other gates as the
// signed cmd/evacuate: they trust it with their relay (a fire alarm at one
// gate opens every door). It is queued durably and sent when the broker is
// reachable, also after an outage or a restart (mqtt.Client.PublishEvacuate).
// Without site commands only the retained state goes, which the peers do
// not hold their relays for.
func (w *siteWire) publishEvacuate(e mqtt.Evacuate) {
	b := w.broker()
	if b == nil || !b.SiteCommands() {
		return
	}
	if _, err := b.PublishEvacuate(e); err != nil && !errors.Is(err, mqtt.ErrClosed) {
		w.log.Error("evacuate command not queued: the other gates do not hold their relays for it", "id", e.ID, "action", e.Action, "err", err)
	}
}

func (w *siteWire) publishEvacuation(e mqtt.Evacuation) {
	b := w.broker()
	if b == nil {
		return
	}
	if err := b.PublishEvacuation(e); err != nil && !errors.Is(err, mqtt.ErrClosed) {
		w.log.Warn("evacuation state not published", "id", e.ID, "active", e.Active, "err", err)
	}
}

// SiteEvent implements mqtt.SiteHandler.
// A peer's liveness failure also counts towards this gate's lockout (the
// lockout is site-wide).
func (w *siteWire) SiteEvent(ev record.Event) {
	if _, err := w.presence.ApplyEvent(ev); err != nil {
		w.peerLog.Log(w.log, slog.LevelWarn, "event|"+ev.Gate, "site event not applied", "gate", ev.Gate, "event_id", ev.EventID, "err", err)
	}
	if k := w.kiosk(); k != nil {
		k.PeerEvent(ev)
	}
}

// SiteRelay implements mqtt.SiteHandler.
func (w *siteWire) SiteRelay(r record.PulseResult) {
	if _, err := w.presence.ApplyRelay(r); err != nil {
		w.peerLog.Log(w.log, slog.LevelWarn, "relay|"+r.Gate, "site relay result not applied", "gate", r.Gate, "event_id", r.EventID, "err", err)
	}
}

// SiteSnapshot implements mqtt.SiteHandler.
func (w *siteWire) SiteSnapshot(gate string, snapshot []byte) {
	if _, err := w.presence.Merge(snapshot); err != nil {
		w.peerLog.Log(w.log, slog.LevelWarn, "snapshot|"+gate, "site snapshot not merged", "from_gate", gate, "err", err)
	}
}

// SiteLockout implements mqtt.SiteHandler: another gate's failure list
// counts towards this gate's lockout (a gate that missed the events).
func (w *siteWire) SiteLockout(gate string, list []byte) {
	k := w.kiosk()
	if k == nil {
		return
	}
	if _, err := k.PeerFailures(gate, list); err != nil {
		w.peerLog.Log(w.log, slog.LevelWarn, "lockout|"+gate, "site liveness failure list not counted", "from_gate", gate, "err", err)
	}
}

// SiteEvacuation implements mqtt.SiteHandler: the retained state joins the
// presence (a start, or the end of that evacuation).
func (w *siteWire) SiteEvacuation(e mqtt.Evacuation) {
	since, err1 := time.Parse(time.RFC3339Nano, e.Since)
	ts, err2 := time.Parse(time.RFC3339Nano, e.TS)
	if err := errors.Join(err1, err2); err != nil {
		w.log.Warn("site evacuation state not applied", "id", e.ID, "err", err)
		return
	}
	if !e.Active && w.knownEvacuation(e.ID) {
		// The end keeps the start's by and reason.
		if _, err := w.presence.EndEvacuation(e.ID, ts, e.By); err != nil {
			w.log.Warn("site evacuation state not applied", "id", e.ID, "err", err)
		}
		return
	}
	ev := site.Evacuation{ID: e.ID, Since: since, By: e.By, Reason: e.Reason}
	if !e.Active {
		ev.Ended, ev.EndedBy = ts, e.By
	}
	if _, err := w.presence.StartEvacuation(ev); err != nil {
		w.log.Warn("site evacuation state not applied", "id", e.ID, "err", err)
	}
}

func (w *siteWire) knownEvacuation(id string) bool {
	return slices.ContainsFunc(w.presence.Evacuations(), func(e site.Evacuation) bool { return e.ID == id })
}

// SiteCommand implements mqtt.SiteHandler: a verified cmd/evacuate or
// cmd/correct. Every gate applies it on its own.
func (w *siteWire) SiteCommand(cmd mqtt.Command) {
	switch c := cmd.(type) {
	case mqtt.Evacuate:
		var err error
		if c.Action == mqtt.EvacuateStart {
			// A start of an evacuation known to be over (a late or
			// replayed command) is joined but never trusted.
			over := w.presence.EvacuationEnded(c.ID)
			newly := !over && !w.isTrusted(c.ID)
			if !over {
				w.trust(c.ID) // verified: this gate may hold its relay for it
				// An end that came between the check and the trust.
				w.forgetEnded()
			}
			_, err = w.presence.StartEvacuation(site.Evacuation{ID: c.ID, Since: c.Issued, By: c.By, Reason: c.Reason})
			if newly && err == nil {
				// Known already (the retained state or a snapshot came
				// first, with the earlier start): the presence sees no
				// change, yet the relay must now be held.
				w.mu.Lock()
				w.pending = append(w.pending, site.Notice{Kind: site.NoticeEvacuationStarted, EvacuationID: c.ID})
				w.mu.Unlock()
				signalChan(w.wake)
			}
		} else {
			_, err = w.presence.EndEvacuation(c.ID, c.Issued, c.By)
		}
		if err != nil {
			w.log.Warn("evacuate command not applied", "id", c.ID, "err", err)
		}
	case mqtt.Correct:
		if _, err := w.presence.Correct(site.Correction{Person: c.UserID, Zone: c.Zone, At: c.Issued, Gate: cmdGate, By: c.By, Reason: c.Reason}); err != nil {
			w.log.Warn("correct command not applied", "user_id", c.UserID, "err", err)
		}
	case mqtt.Unlock:
		k := w.kiosk()
		if k == nil {
			// The kiosk is built before the broker connects: only a
			// command during shutdown can find none.
			w.log.Warn("unlock command not applied: the kiosk is not running", "key", c.Key[:12])
			return
		}
		k.SiteUnlock(kiosk.SiteUnlock{Key: c.Key, Nonce: c.Nonce, By: c.By, Reason: c.Reason, Issued: c.Issued, Received: c.Received, Listed: c.Listed})
	default:
		w.log.Warn("unknown site command", "command", fmt.Sprintf("%T", cmd))
	}
}

// Snapshot implements mqtt.SiteSource: the facts this gate wrote, the
// corrections, voids, reset and evacuations (site.Presence.SnapshotOf): the
// union of every gate's holds the whole site, and this gate's changes only
// when it decides.
func (w *siteWire) Snapshot() []byte { return w.presence.SnapshotOf(w.cfg.Gate) }

// Lockout implements mqtt.SiteSource: the kiosk's failure list.
func (w *siteWire) Lockout() []byte {
	if k := w.kiosk(); k != nil {
		return k.LockoutList()
	}
	return nil
}

// Unlocks implements mqtt.SiteSource: the kiosk's signed unlocks.
func (w *siteWire) Unlocks() [][]byte {
	if k := w.kiosk(); k != nil {
		return k.SharedUnlocks()
	}
	return nil
}

// EvacuationEnded implements mqtt.SiteSource: a queued cmd/evacuate start
// of an evacuation over by the time it can be sent is not sent.
func (w *siteWire) EvacuationEnded(id string) bool { return w.presence.EvacuationEnded(id) }

// Views implements mqtt.SiteSource: the retained views, names from the
// roster.
func (w *siteWire) Views() mqtt.SiteViews {
	var rep kiosk.SiteReport
	ok := false
	if k := w.kiosk(); k != nil {
		rep, ok = k.SiteReport()
	}
	if !ok {
		rep = w.Report()
	}
	ts := record.Timestamp(rep.At)
	v := mqtt.SiteViews{
		Occupancy: mqtt.OccupancyView{Zones: map[string]mqtt.ZoneCount{}, TS: ts},
		Presence:  mqtt.PresenceView{Zones: map[string][]mqtt.PersonView{}, TS: ts},
	}
	for _, z := range rep.Zones {
		v.Occupancy.Zones[z.Name] = mqtt.ZoneCount{Count: z.Occupancy, Max: z.Max}
		if len(z.People) > 0 {
			v.Presence.Zones[z.Name] = personViews(z.People)
		}
	}
	if rep.Evacuation.ID == "" { // never an evacuation
		return v
	}
	e := rep.Evacuation
	mv := &mqtt.MusterView{Active: e.Active, ID: e.ID, Since: record.Timestamp(e.Since), TS: ts, Mustered: []mqtt.PersonView{}, Missing: []mqtt.PersonView{}}
	if m := rep.Muster; m != nil {
		mv.Present = len(m.Present)
		var mustered []kiosk.SitePerson
		for _, p := range m.Present {
			if !p.MusteredAt.IsZero() {
				mustered = append(mustered, p)
			}
		}
		mv.Mustered, mv.Missing = personViews(mustered), personViews(m.Missing)
	}
	v.Muster = mv
	return v
}

func personViews(ps []kiosk.SitePerson) []mqtt.PersonView {
	out := make([]mqtt.PersonView, 0, len(ps))
	for _, p := range ps {
		pv := mqtt.PersonView{UserID: p.UserID, Name: p.Name, Zone: p.Zone}
		if !p.Since.IsZero() {
			pv.Since = record.Timestamp(p.Since)
		}
		out = append(out, pv)
	}
	return out
}
