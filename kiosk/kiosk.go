package kiosk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/facegate/facegate/internal/atomicfile"
	"github.com/facegate/facegate/internal/lograte"
	"github.com/facegate/facegate/record"
)

// settings are the parts of the configuration that Reload may change.
type settings struct {
	kiosk    PageOptions
	identity IdentityOptions
	policy   PolicyOptions
	roster   *Roster
}

// Kiosk is one gate's session state machine with its identity sources,
// policy, audit log, web page and metrics. Create it with New, start it with
// Run; every other method is safe for concurrent use from any goroutine.
type Kiosk struct {
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	inputs inputDamper // repeats of a gate input, counted (inputdamp.go)

	site, gate  string
	listenHost  string // host of kiosk.listen, always an allowed Host
	pulse       time.Duration
	apiTimeout  time.Duration
	frozenAfter time.Duration
	privacy     record.Privacy

	setMu sync.RWMutex
	set   settings

	seq  *sequencer
	kdir string // <state_dir>/kiosk
	// outboxErr is the last record the outbox refused (nil once one is
	// written again): the outbox check is degraded meanwhile (an outbox on
	// a file system of its own can be full while the state directory is
	// not).
	outboxErr atomic.Pointer[error]
	outboxDir string // Options.OutboxDir
	audit     *auditLog
	crops     *cropStore // nil when audit.save_crops is off
	// cropsKept prunes <state_dir>/crops whether or not crops are saved.
	cropsKept *cropStore
	passback  *passback
	attempts  attempts
	pad       padState // liveness (kiosk/liveness.go)
	// padProblem: the liveness lockout file was corrupt or unreadable at
	// start (set aside); Run raises it as the alert state_dir.
	padProblem error
	sitest     siteState // the site (kiosk/site.go)
	metrics    *metrics
	hub        *hub
	badges     *badgeLoop // nil without Deps.Badges

	running atomic.Bool
	// died: the run before left its running mark (it died). New writes
	// the mark: the site may hold the relay before Run.
	died         bool
	relayFault   atomic.Bool            // a pulse left the relay line stuck
	relayFailed  atomic.Pointer[string] // the last grant's pulse could not energise the relay: the driver's error
	mjpegClients atomic.Int32
	openLimit    rateWindow // POST /api/open and /api/liveness/unlock with the token
	openGuesses  rateWindow // requests to them (and the lockout list) without it
	// refusals limits the log lines of refused HTTP requests: a client
	// hammering the API from the LAN is a line a minute per kind.
	refusals      *lograte.Limiter
	lockoutsLimit rateWindow // GET /api/liveness/lockouts

	// sendMu keeps each status change and its message to the page
	// together, so the page gets them in the order they were made (a
	// health or door update racing a change of state could otherwise
	// resend the state before it). Taken before mu.
	sendMu sync.Mutex
	// snapshotTaken and subscribed, test hooks (nil otherwise), run
	// between a status change and its message to the page, and between a
	// page's subscription and the status it is sent first: a test widens
	// the window in which another change could overtake them.
	snapshotTaken, subscribed func()
	mu                        sync.Mutex
	status                    Status
	accepting                 bool
	inSession                 bool // from claim to the return to idle
	pending                   *Identity
	wake                      chan struct{}
	reloaded                  chan struct{} // a Reload happened (the fixed identity may have changed)
	// draining: Drain was called; no session starts any more. drainCh is
	// closed by it (once) to wake the idle loop.
	draining    bool
	drainCh     chan struct{}
	sessionDone chan struct{} // closed when the claimed session has emitted its event
	health      Health
	// outages: since when each check of downAlerts has been down, and
	// whether its alert went out (setHealth's, under mu).
	outages map[string]outage
}

// New checks o and deps, opens the state directory (o.StateDir: the event
// sequence, the anti-passback and liveness lockout memories, audit/ and
// crops/) and loads the
// roster. It starts nothing: call Run. o's values are used as given (the
// configuration file's are validated by config).
func New(o Options, deps Deps) (*Kiosk, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	switch {
	case deps.Selector == nil:
		return nil, errors.New("kiosk: Deps.Selector is required")
	case deps.Authenticator == nil:
		return nil, errors.New("kiosk: Deps.Authenticator is required")
	case deps.Relay == nil:
		return nil, errors.New("kiosk: Deps.Relay is required")
	case o.Zones.Muster && deps.Site == nil:
		// Without the guard a match would be a plain grant and pulse the
		// relay: an assembly point must never open anything.
		return nil, errors.New("kiosk: an assembly-point kiosk (mode muster) needs Deps.Site")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	k := &Kiosk{
		deps:        deps,
		log:         deps.Logger.With("component", "kiosk"),
		now:         deps.Now,
		site:        o.Site,
		gate:        o.Gate,
		listenHost:  listenHost(o.Page.Listen),
		pulse:       o.RelayPulse,
		apiTimeout:  o.APITimeout,
		frozenAfter: o.FrozenAfter,
		privacy:     o.Privacy,
		wake:        make(chan struct{}, 1),
		reloaded:    make(chan struct{}, 1),
		drainCh:     make(chan struct{}),
		hub:         newHub(),
	}
	set, err := loadSettings(o)
	if err != nil {
		return nil, err
	}
	k.set = set
	kdir := filepath.Join(o.StateDir, "kiosk")
	k.kdir = kdir
	k.outboxDir = o.OutboxDir
	k.refusals = lograte.New(time.Minute, k.now)
	if err := os.MkdirAll(kdir, 0o750); err != nil {
		return nil, fmt.Errorf("kiosk: create state directory: %w", err)
	}
	// The temporary files of state writes a crash cut short (the daemon
	// holds the state directory's lock: none is being written).
	for _, name := range []string{"seq", "passback.json", lockoutFileName, runningName} {
		if n, err := atomicfile.RemoveTemps(filepath.Join(kdir, name)); err != nil {
			k.log.Warn("leftover temporary state file not removed", "file", name, "err", err)
		} else if n > 0 {
			k.log.Info("leftover temporary state files removed", "file", name, "count", n)
		}
	}
	if k.seq, err = openSequencer(kdir); err != nil {
		return nil, fmt.Errorf("kiosk: %w", err)
	}
	if k.passback, err = openPassback(filepath.Join(kdir, "passback.json")); err != nil {
		return nil, fmt.Errorf("kiosk: %w", err)
	}
	if err := k.pad.open(filepath.Join(kdir, lockoutFileName), k.now(), o.Policy.LivenessLockout.Max, o.Policy.LivenessLockout.Per); err != nil {
		k.log.Error("liveness lockout memory unreadable, set aside", "err", err)
		k.padProblem = err
	}
	k.pad.clock = deps.Now
	k.pad.onSaveError = func(err error) {
		k.lockoutNotSaved(err, "forget the failures other gates reported, or leave this gate's newest out of its failure list")
	}
	if k.audit, err = openAudit(filepath.Join(o.StateDir, "audit"), int64(o.Audit.MaxSizeMB)<<20, o.Audit.MaxFiles); err != nil {
		return nil, fmt.Errorf("kiosk: %w", err)
	}
	if err := k.seqAfterAudit(); err != nil {
		k.log.Warn("audit log tail not readable: the event sequence goes on from its file alone", "err", err)
	}
	// Pruned at start even with audit.save_crops off: the crops of a
	// debugging session must not stay for good once it is turned off.
	k.cropsKept = &cropStore{dir: filepath.Join(o.StateDir, "crops"), keep: time.Duration(max(o.Audit.CropDays, 1)) * 24 * time.Hour}
	if o.Audit.SaveCrops {
		k.crops = k.cropsKept
	}
	k.metrics = newMetrics(k)
	if deps.Badges != nil {
		k.badges = newBadgeLoop(deps.Badges, k, deps.Logger.With("component", "badge"))
	}
	k.initSite(o.Zones)
	k.status = Status{State: StateStopped, Message: msgStopped, Since: k.now().UTC(), Health: "unknown"}
	k.health = Health{Status: "unknown", Checks: map[string]Check{}}
	k.warnLiveness(o.Policy.Liveness)
	k.warnMaxAge(o.Policy)
	k.recoverInterruptedHold()
	k.recoverManualPulses()
	// Marked running from here, not from Run: the site wire holds the
	// relay for an evacuation still on before Run, and a crash then must
	// have its hold recorded as ended at the next start.
	k.died = k.markRunning()
	return k, nil
}

func loadSettings(o Options) (settings, error) {
	s := settings{kiosk: o.Page, identity: o.Identity, policy: o.Policy}
	if o.Identity.RosterFile != "" {
		r, err := LoadRoster(o.Identity.RosterFile)
		if err != nil {
			return settings{}, fmt.Errorf("kiosk: identity.roster.file: %w", err)
		}
		s.roster = r
	}
	return s, nil
}

// Reload applies new Page, Identity and Policy options and reloads the
// roster (for SIGHUP). The session in flight keeps the policy it started
// with. On error (an invalid roster or mode) nothing changes. The other
// options (site, gate, state directory, Page.Listen, audit) need a new
// Kiosk and are ignored here.
func (k *Kiosk) Reload(o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	// The site tokens in force are those of the start (zones needs a
	// restart); config compared the file's own, which may differ.
	if t := o.Page.Open.Token; t != "" && (t == k.sitest.pageToken || t == k.sitest.adminToken) {
		return errors.New("kiosk: kiosk.open.token equals a site token in force (zones.page_token or zones.admin_token, applied at the last start): choose another")
	}
	if t := o.Identity.HTTP.Token; t != "" && t == k.sitest.adminToken {
		return errors.New("kiosk: identity.http.token equals the zones.admin_token in force (applied at the last start): choose another")
	}
	s, err := loadSettings(o)
	if err != nil {
		return err
	}
	k.setMu.Lock()
	was := k.set.policy
	k.set = s
	k.setMu.Unlock()
	k.hub.send("page", k.pageInfo()) // the title, on the screens open now
	if now := s.policy.Liveness; now != was.Liveness {
		if enforced(was.Liveness) && !enforced(now) {
			k.log.Warn("liveness no longer enforced after the reload", "from", was.Liveness, "to", now)
		}
		k.warnLiveness(now)
	}
	if s.policy.Liveness != was.Liveness || s.policy.MaxAge != was.MaxAge {
		k.warnMaxAge(s.policy)
	}
	if s.policy.LivenessLockout != was.LivenessLockout {
		k.lockoutChanged() // the failure list: gone with max 0, longer or shorter with per
	}
	select {
	case k.reloaded <- struct{}{}:
	default:
	}
	k.log.Info("configuration reloaded", "roster_entries", s.roster.Len(), "fixed_identity", s.identity.Fixed.SubmissionID != "")
	return nil
}

func (k *Kiosk) settings() settings {
	k.setMu.RLock()
	defer k.setMu.RUnlock()
	return k.set
}

// Run runs sessions and the periodic self-test until ctx ends, then stops
// accepting identities, ends the session in flight (failing closed with
// reason "shutdown": it is published and audited like any other), closes
// the audit log and returns nil. It never pulses the relay after ctx ends;
// the caller makes the relay inert (Halt) after Run returns. Run may be
// called once.
func (k *Kiosk) Run(ctx context.Context) error {
	if !k.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	hctx, hcancel := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		k.healthLoop(hctx)
	}()
	badgesStopped := k.runBadges(hctx)
	if n, err := k.cropsKept.prune(k.now()); err != nil {
		k.log.Warn("crop pruning failed", "err", err)
	} else if n > 0 {
		k.log.Info("old crops deleted", "count", n)
	}
	if k.padProblem != nil {
		k.alert("state_dir", k.padProblem.Error(), "")
	}
	k.recoverInterrupted(k.died)
	k.mu.Lock()
	k.accepting = true
	k.mu.Unlock()
	k.setState(StateIdle, k.idleMessage(), nil)
	k.log.Info("kiosk running", "site", k.site, "gate", k.gate)
	for {
		id, sel := k.waitForIdentity(ctx)
		if id == nil {
			break
		}
		k.runSession(ctx, *id, sel)
		k.endSession()
		if ctx.Err() != nil {
			break
		}
		k.cooldown(ctx)
		if ctx.Err() != nil {
			break
		}
		k.mu.Lock()
		k.inSession = false
		k.mu.Unlock()
		k.setState(StateIdle, k.idleMessage(), nil)
	}
	k.mu.Lock()
	k.accepting = false
	pending := k.pending
	k.pending = nil
	k.mu.Unlock()
	if pending != nil {
		// Accepted just before shutdown: it still gets its one event.
		k.runSession(ctx, *pending, nil)
	}
	k.setState(StateStopped, msgStopped, nil)
	k.resaveAfterStep()
	k.pad.stop() // peers' failures waiting for their save, and from now on at once
	hcancel()
	<-healthDone
	badgesStopped()
	k.hub.close()
	k.inputs.close(k.inputRepeats) // the repeats counted so far
	if err := k.audit.close(); err != nil {
		k.log.Error("audit log close failed", "err", err)
	}
	k.markStopped()
	k.log.Info("kiosk stopped")
	return nil
}

// Abandon ends a kiosk whose Run never ran (a start that failed after
// New): its audit log is closed and its running mark removed, as the end
// of Run does, so that the next start does not take the failed one for a
// crash. It does nothing once Run has started, and Run refuses to start
// after it.
func (k *Kiosk) Abandon() {
	if !k.running.CompareAndSwap(false, true) {
		return
	}
	if err := k.audit.close(); err != nil {
		k.log.Error("audit log close failed", "err", err)
	}
	k.markStopped()
}

// Drain stops new sessions, the fixed identity's included (Identify and
// RemoteOpen return ErrNotRunning, a pending identity is ended by Run with
// reason "shutdown"), then waits for the session in flight to emit its
// event, relay pulse included. It returns nil once no session is in flight,
// or ctx's error; the caller then ends Run (a session still in flight fails
// closed with "shutdown"). Safe to call more than once.
func (k *Kiosk) Drain(ctx context.Context) error {
	k.mu.Lock()
	k.accepting = false
	if !k.draining {
		k.draining = true
		close(k.drainCh)
	}
	k.badges.setIdle(false)
	done := k.sessionDone
	k.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kiosk: drain: session still in flight: %w", ctx.Err())
	}
}

// endSession marks the claimed session as finished for Drain.
func (k *Kiosk) endSession() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sessionDone != nil {
		close(k.sessionDone)
		k.sessionDone = nil
	}
}

func (k *Kiosk) idleMessage() string {
	if m := k.siteIdleMessage(); m != "" {
		return m
	}
	if k.settings().identity.Fixed.SubmissionID != "" {
		return msgIdleFixed
	}
	return msgIdle
}

// Identify starts a session for id (Source must be one of the Source
// constants). It returns at once: nil when the session starts, ErrBusy
// while a session or its cooldown is in progress (the identity is refused,
// not queued, so a late badge cannot open the gate for the wrong person),
// ErrNotRunning before Run or during shutdown, or an error matching
// ErrInvalidIdentity. The outcome arrives as the session's event.
func (k *Kiosk) Identify(id Identity) error {
	if err := checkIdentity(id); err != nil {
		k.metrics.identify(id.Source, "invalid")
		return err
	}
	switch id.Source {
	case SourceQR, SourceHTTP, SourceMQTT: // names its own user id
		user, ok := k.settings().roster.Binds(id.SubmissionID, id.UserID)
		if !ok {
			k.metrics.identify(id.Source, "invalid")
			return inputErr(ErrInvalidIdentity, "identity", "user id", "%q is not the roster's user of that submission id (identity.roster.file)", clip(id.UserID))
		}
		id.UserID = user
	}
	return k.enqueue(id)
}

func (k *Kiosk) enqueue(id Identity) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case !k.accepting:
		k.metrics.identify(id.Source, "not_running")
		return ErrNotRunning
	case k.pending != nil || k.inSession:
		k.metrics.identify(id.Source, "busy")
		return ErrBusy
	}
	k.pending = &id
	select {
	case k.wake <- struct{}{}:
	default:
	}
	k.metrics.identify(id.Source, "accepted")
	k.log.Info("worker identified", "source", id.Source)
	return nil
}

func checkIdentity(id Identity) error {
	const src = "identity"
	switch id.Source {
	case SourceQR, SourceMQTT, SourceHTTP, SourceRoster, SourceFixed:
	default:
		return inputErr(ErrInvalidIdentity, src, "source", "%q is not qr, mqtt, http, roster or fixed", id.Source)
	}
	if !ValidID(id.SubmissionID) {
		return inputErr(ErrInvalidIdentity, src, "submission id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	}
	if id.UserID != "" && !ValidID(id.UserID) {
		return inputErr(ErrInvalidIdentity, src, "user id", "must be 1-%d characters of letters, digits, '.', '_' or '-'", maxIDLen)
	}
	if !validName(id.DisplayName) {
		return inputErr(ErrInvalidIdentity, src, "display name", "must be printable text of at most %d characters", maxNameLen)
	}
	return nil
}

// RemoteOpen queues a remote unlock: the gate opens once, with no face
// check, and the event says so (reason "remote_open", identity_source the
// command's source, user_id its signer). The caller must have verified the
// command (the mqtt package checks signature, time window and nonce). Like
// Identify it returns ErrBusy during a session and ErrNotRunning outside Run.
func (k *Kiosk) RemoteOpen(o RemoteOpen) error {
	if k.sitest.muster {
		return fmt.Errorf("%w: an assembly-point kiosk (mode muster) has no relay", ErrSourceDisabled)
	}
	if o.Source == "" {
		o.Source = SourceMQTT
	}
	if o.By != "" && !validName(o.By) {
		return inputErr(ErrInvalidIdentity, "remote open", "by", "must be printable text of at most %d characters", maxNameLen)
	}
	if !validName(clip(o.Reason)) {
		return inputErr(ErrInvalidIdentity, "remote open", "reason", "must be printable text")
	}
	return k.enqueue(Identity{Source: o.Source, UserID: o.By, remote: &o})
}

// IdentifyQR starts a session from a badge QR payload (ParseQR's format)
// read by the camera. The wiring calls it for every payload the QR scanner
// decodes; while a session runs it returns ErrBusy, which the caller should
// ignore (the badge is still in front of the camera). ErrSourceDisabled
// when identity.qr is off or the payload names a submission id while
// identity.qr.allow_submission is off; ErrUnknownBadge for a badge not in
// the roster.
func (k *Kiosk) IdentifyQR(payload string) error {
	set := k.settings()
	if !set.identity.QR.Enabled {
		return fmt.Errorf("%w: identity.qr", ErrSourceDisabled)
	}
	q, err := ParseQR(payload)
	if err != nil {
		k.metrics.identify(SourceQR, "invalid")
		return err
	}
	if q.BadgeID != "" {
		return k.identifyBadge(set, SourceQR, q.BadgeID)
	}
	if !set.identity.QR.AllowSubmission {
		k.metrics.identify(SourceQR, "disabled")
		return fmt.Errorf("%w: identity.qr.allow_submission is off (use roster badges)", ErrSourceDisabled)
	}
	return k.Identify(Identity{SubmissionID: q.SubmissionID, UserID: q.UserID, Source: SourceQR})
}

// IdentifyJSON starts a session from an identify body (ParseIdentifyJSON's
// format) received from source (SourceMQTT for <prefix>/cmd/identify,
// SourceHTTP for POST /api/identify, which Handler already serves).
func (k *Kiosk) IdentifyJSON(source string, body []byte) error {
	r, err := ParseIdentifyJSON(body)
	if err != nil {
		k.metrics.identify(source, "invalid")
		return err
	}
	return k.IdentifyRequest(source, r)
}

// IdentifyRequest is IdentifyJSON on a body already decoded.
func (k *Kiosk) IdentifyRequest(source string, r IdentifyRequest) error {
	set := k.settings()
	if r.BadgeID != "" {
		return k.identifyBadge(set, source, r.BadgeID)
	}
	return k.Identify(Identity{SubmissionID: r.SubmissionID, UserID: r.UserID, Source: source})
}

func (k *Kiosk) identifyBadge(set settings, source, badge string) error {
	e, ok := set.roster.Lookup(badge)
	if !ok {
		k.metrics.identify(source, "unknown_badge")
		if set.roster == nil {
			return fmt.Errorf("%w: no identity.roster.file configured", ErrUnknownBadge)
		}
		return ErrUnknownBadge
	}
	return k.Identify(Identity{SubmissionID: e.SubmissionID, UserID: e.UserID, DisplayName: e.DisplayName, Source: SourceRoster, badge: badge, via: source})
}

// SetDoor reports the door sensor (open or closed) for the screen.
func (k *Kiosk) SetDoor(open bool) {
	k.updateStatus(func(s *Status) { s.Door = openClosed(open) })
}

// SetRelay reports the relay output (energised = "open") for the screen.
// The wiring calls it from the gate driver's state changes.
func (k *Kiosk) SetRelay(energised bool) {
	k.updateStatus(func(s *Status) { s.Relay = openClosed(energised) })
}

func openClosed(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

// Status returns the current session status.
func (k *Kiosk) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.status
	s.Reason = append([]string(nil), s.Reason...)
	return s
}

// Health returns the last self-test summary (Status "unknown" before the
// first one).
func (k *Kiosk) Health() Health {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.health
}

// setState moves to a new state; it clears the face box, the decision
// outside the end states and cooldown, and the name when idle.
func (k *Kiosk) setState(st State, msg string, mut func(*Status)) {
	k.updateStatus(func(s *Status) {
		s.State, s.Message, s.Box, s.Since, s.Challenge, s.Turn = st, msg, nil, k.now().UTC(), "", nil
		switch st {
		case StateGranted, StateDenied, StateError, StateCooldown:
		case StateIdle, StateStopped:
			s.Decision, s.Reason, s.Name = "", nil, ""
		default:
			s.Decision, s.Reason = "", nil
		}
		if mut != nil {
			mut(s)
		}
	})
}

// updateStatus applies mut and sends the new status to the page; a change
// of state (not of message or box) is also published.
func (k *Kiosk) updateStatus(mut func(*Status)) {
	k.updateStatusIf(func(s *Status) bool { mut(s); return true })
}

// updateStatusIf is updateStatus for a change mut may decline (false:
// nothing changed, nothing is sent).
func (k *Kiosk) updateStatusIf(mut func(*Status) bool) {
	k.sendMu.Lock()
	k.mu.Lock()
	before := k.status.State
	if !mut(&k.status) {
		k.mu.Unlock()
		k.sendMu.Unlock()
		return
	}
	s := k.status
	s.Reason = append([]string(nil), s.Reason...)
	k.mu.Unlock()
	if k.snapshotTaken != nil {
		k.snapshotTaken()
	}
	k.hub.send("state", k.pageStatus(s))
	k.sendMu.Unlock()
	if s.State != before {
		k.metrics.state(s.State)
		k.indicate(s.State)
		k.scanWhileIdle()
		if p := k.deps.Publisher; p != nil {
			if err := p.PublishState(s); err != nil {
				k.log.Warn("state publish failed", "state", s.State, "err", err)
			}
		}
	}
}

// resaveAfterStep saves the liveness lockout and anti-passback memories
// again when the wall clock stepped since their last save: the files hold
// times on the wall clock as it read then, and a restart before the next
// save would move them by the step (a forward one gives an attacker fresh
// tries, or lets a passed-back badge in).
func (k *Kiosk) resaveAfterStep() {
	now := k.now()
	k.pad.resaveAfterStep(now)
	if err := k.passback.resaveAfterStep(now); err != nil {
		k.log.Error("anti-passback memory not saved", "err", err)
	}
}

// outboxWritten notes how a record's outbox write went (outboxErr).
func (k *Kiosk) outboxWritten(err error) {
	if err == nil {
		k.outboxErr.Store(nil)
	} else {
		k.outboxErr.Store(&err)
	}
}
