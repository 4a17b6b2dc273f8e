package kiosk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/facegate/facegate/record"
)

// The write-ahead rule: a grant's event is written durably (the audit log
// and the outbox, each fsync'd) before the relay moves; the screen shows the
// grant when the line energises; how the pulse ended follows as a second
// record (record.PulseResult) joined by event_id. So no energise is ever
// without a record, and a record whose pulse result is missing after a crash
// is marked interrupted at the next start.

// Alert codes raised here.
const (
	// AlertRelayFault: the relay line could not be driven inactive after a pulse.
	AlertRelayFault = "relay_fault"
	// AlertRecordFailed: a decision could not be written to the audit log or
	// the outbox.
	AlertRecordFailed = "record_failed"
	// AlertRelayInterrupted: the daemon stopped during a grant (kill -9,
	// power loss): whether the gate opened is unknown.
	AlertRelayInterrupted = "relay_interrupted"
	// AlertAPIInvalidResponse: the FaceAuth API answered something malformed
	// or self-contradictory (non-finite score, approval with a fail code).
	AlertAPIInvalidResponse = "api_invalid_response"
)

var endState = map[record.Decision]State{record.DecisionGranted: StateGranted, record.DecisionDenied: StateDenied, record.DecisionError: StateError}

// finish ends the session with its one event. A denial or an error is
// recorded, then shown. A grant is recorded, then the relay pulses: the
// screen, LEDs and state topic show it once the line is energised, never
// before, and the pulse's end is recorded after.
func (k *Kiosk) finish(ctx context.Context, s *session, o outcome) {
	s.decidedAt = k.now()
	if _, ok := endState[o.decision]; !ok { // unreachable by construction; fail closed all the same
		o = failed(ReasonInvalidResult)
	}
	if o.decision == record.DecisionGranted && ctx.Err() != nil {
		o = failed(ReasonShutdown)
	}
	ev := k.newEvent(s, o)
	if o.decision != record.DecisionGranted || o.noRelay {
		k.record(s, &ev, o)
		k.showEnd(s, o)
		return
	}
	ev.Relay = record.RelayPending
	if err := k.record(s, &ev, o); err != nil {
		k.alert(AlertRecordFailed, "decision "+ev.EventID+" could not be recorded before opening: "+clip(err.Error()), ev.EventID)
		if s.policy.OnRecordFailure != RecordFailureOpen {
			k.notOpened(s, &ev, o, ReasonRecordFailed)
			return
		}
		k.log.Warn("opening without a durable record (policy.on_record_failure: open)", "event_id", ev.EventID)
	}
	// Writing the record can take its time (a slow or failing card): the
	// approval must still be fresh when the relay moves, a remote open's
	// too, so that it does not fire minutes later at whoever stands there.
	if now := k.now(); k.stale(s, now) {
		k.log.Warn("grant not opened: its approval went stale while the decision was recorded", "event_id", ev.EventID,
			"age", approvalAge(s, now), "max_age", s.policy.MaxAge)
		k.notOpened(s, &ev, o, ReasonStaleApproval)
		return
	}
	if k.revoked(s) {
		k.log.Warn("grant not opened: a reload revoked its identity while the decision was recorded", "event_id", ev.EventID)
		k.notOpened(s, &ev, o, ReasonIdentityRevoked)
		return
	}
	k.openGate(ctx, s, &ev, o)
}

// newEvent is the session's event, not yet numbered.
func (k *Kiosk) newEvent(s *session, o outcome) record.Event {
	ev := record.Event{
		Site:           k.site,
		Gate:           k.gate,
		Decision:       o.decision,
		Reason:         o.reasons,
		Message:        o.message,
		SubmissionID:   k.privacy.Apply(s.id.SubmissionID),
		UserID:         s.id.UserID,
		IdentitySource: s.id.Source,
		Auth:           o.auth,
		Error:          o.err,
		Liveness:       o.liveness,
	}
	k.siteEvent(s, &ev)
	if s.face != nil {
		ev.Faces = s.face.Faces
		ev.AgeMS = s.decidedAt.Sub(s.face.CapturedAt).Milliseconds()
	}
	from := s.start
	if !s.capturingAt.IsZero() {
		from = s.capturingAt
		if s.face != nil {
			ev.LatencyMS.Capture = max(0, s.faceAt.Sub(s.capturingAt).Milliseconds())
		}
	}
	if !s.firstCapture.IsZero() {
		from = s.firstCapture
	}
	ev.LatencyMS.API = s.apiDur.Milliseconds()
	ev.LatencyMS.Total = s.decidedAt.Sub(from).Milliseconds()
	return ev
}

// showEnd puts the session's end state on the screen (and the state topic).
func (k *Kiosk) showEnd(s *session, o outcome) {
	k.setState(endState[o.decision], o.message, func(x *Status) { x.Decision, x.Reason, x.Name = o.decision, o.reasons, s.id.DisplayName })
}

// openGate pulses the relay for a recorded grant. A gate that was unlocked
// at all (even cut short, or stuck) keeps the grant and its passback; a
// relay that never energised turns the session into relay_failed (or
// shutdown) on the screen, and its pulse result says not_energised.
func (k *Kiosk) openGate(ctx context.Context, s *session, ev *record.Event, o outcome) {
	var energisedAt time.Time
	err := k.deps.Relay.Pulse(ctx, k.pulse, func() {
		energisedAt = k.now()
		k.showEnd(s, o)
		if s.policy.AntiPassback.Mode != "off" && s.id.SubmissionID != "" {
			if err := k.passback.grant(s.id.SubmissionID, s.decidedAt, s.policy.AntiPassback.Window); err != nil {
				k.log.Error("anti-passback memory not saved", "err", err)
				k.alert("state_dir", "anti-passback memory could not be saved (a restart would forget this grant): "+err.Error(), "")
			}
		}
	})
	if energisedAt.IsZero() {
		reason := ReasonRelayFailed
		if ctx.Err() != nil || errors.Is(err, ErrRelayStopping) {
			reason = ReasonShutdown
		} else {
			k.log.Error("relay pulse failed", "err", err)
			k.metrics.relayFailures.Inc()
			why := "relay driver error"
			if err != nil {
				why = err.Error()
			}
			k.relayFailed.Store(&why)
		}
		k.notOpened(s, ev, o, reason)
		return
	}
	k.relayFailed.Store(nil)
	k.metrics.relayPulses.Inc()
	res := record.PulseResult{EventID: ev.EventID, Relay: record.RelayPulsed,
		EnergisedAt: record.Timestamp(energisedAt), DurationMS: k.now().Sub(energisedAt).Milliseconds()}
	switch {
	case err == nil:
	case errors.Is(err, ErrRelayFault):
		k.log.Error("relay line stuck after a pulse", "err", err)
		k.metrics.relayFailures.Inc()
		k.relayFault.Store(true)
		res.Relay = record.RelayFault
		k.alert(AlertRelayFault, "relay line could not be driven inactive: "+clip(err.Error()), ev.EventID)
	default: // energised, then released early: cancelled, halted
		k.log.Warn("relay pulse cut short", "err", err)
		res.Relay = record.RelayCut
	}
	k.recordPulse(res)
}

// notOpened ends a recorded grant whose relay never energised: its pulse
// result says why, the screen shows the failure.
func (k *Kiosk) notOpened(s *session, ev *record.Event, granted outcome, reason string) {
	k.recordPulse(record.PulseResult{EventID: ev.EventID, Relay: record.RelayNotEnergised, Reason: reason})
	f := failed(reason)
	f.auth = granted.auth
	if reason == ReasonRelayFailed {
		msg := "the relay could not be energised for a grant"
		if why := k.relayFailed.Load(); why != nil {
			msg += ": " + clipTo(*why, 200)
		}
		k.alert(ReasonRelayFailed, msg, ev.EventID)
	}
	k.showEnd(s, f)
}

// record numbers the event and writes it to the audit log and the outbox,
// then tells the page, the metrics and the operator. It returns an error
// when the event is not durable in both (the caller decides whether a
// grant may still open).
func (k *Kiosk) record(s *session, ev *record.Event, o outcome) error {
	now := k.now()
	seq, id, err := k.seq.next(now)
	if err != nil {
		k.log.Error("event sequence not persisted", "err", err)
		k.alert("state_dir", "event sequence could not be saved: "+err.Error(), "")
	}
	ev.Seq, ev.EventID = seq, id
	ev.TS = record.Timestamp(now)
	if ev.Reason == nil {
		ev.Reason = []string{}
	}
	var errs []error
	if err := k.audit.write(*ev); err != nil {
		k.log.Error("audit log write failed", "event_id", ev.EventID, "err", err)
		k.metrics.auditFailures.Inc()
		errs = append(errs, fmt.Errorf("audit log: %w", err))
	}
	if p := k.deps.Publisher; p != nil {
		err := p.PublishEvent(*ev)
		k.outboxWritten(err)
		if err != nil {
			k.log.Error("event publish failed", "event_id", ev.EventID, "err", err)
			k.metrics.publishFailures.Inc()
			errs = append(errs, fmt.Errorf("outbox: %w", err))
		}
	}
	if g := k.deps.Site; g != nil {
		g.Record(*ev) // this gate's view at once, not when the broker echoes it
	}
	k.stampFailure(*ev)
	k.hub.send("decision", pageDecision{EventID: ev.EventID, Seq: ev.Seq, Decision: ev.Decision})
	k.updateStatus(func(x *Status) { x.LastEventID = ev.EventID })
	k.metrics.decision(ev, s)
	if k.crops != nil && s.face != nil {
		if err := k.crops.save(now, ev.EventID, s.face.JPEG); err != nil {
			k.log.Warn("crop not saved", "err", err)
		}
		if _, err := k.crops.prune(now); err != nil {
			k.log.Warn("crop pruning failed", "err", err)
		}
	}
	if o.alert != "" {
		msg := ev.Message
		if o.alertMsg != "" {
			msg = o.alertMsg
		} else if ev.Error != nil {
			msg = ev.Error.Code + ": " + ev.Error.Message
		}
		k.alert(o.alert, msg, ev.EventID)
	}
	if len(errs) > 0 && o.decision != record.DecisionGranted {
		k.alert(AlertRecordFailed, "decision "+ev.EventID+" could not be recorded: "+clip(errors.Join(errs...).Error()), ev.EventID)
	}
	k.log.Info("decision", "event_id", ev.EventID, "seq", ev.Seq, "decision", ev.Decision,
		"reason", strings.Join(ev.Reason, ","), "source", ev.IdentitySource, "latency_ms", ev.LatencyMS.Total)
	return errors.Join(errs...)
}

// recordPulse writes a grant's pulse result to the audit log and the
// outbox; a failure alerts (the grant itself is already recorded).
func (k *Kiosk) recordPulse(res record.PulseResult) {
	res.Kind = record.PulseKind
	res.Site, res.Gate = k.site, k.gate
	if res.TS == "" {
		res.TS = record.Timestamp(k.now())
	}
	var errs []error
	if err := k.audit.write(res); err != nil {
		k.metrics.auditFailures.Inc()
		errs = append(errs, fmt.Errorf("audit log: %w", err))
	}
	if p := k.deps.Publisher; p != nil {
		err := p.PublishPulse(res)
		k.outboxWritten(err)
		if err != nil {
			k.metrics.publishFailures.Inc()
			errs = append(errs, fmt.Errorf("outbox: %w", err))
		}
	}
	if g := k.deps.Site; g != nil {
		g.RecordRelay(res)
	}
	k.hub.send("relay_result", res)
	k.log.Info("relay result", "event_id", res.EventID, "relay", res.Relay, "reason", res.Reason, "duration_ms", res.DurationMS)
	if len(errs) > 0 {
		k.alert(AlertRecordFailed, "relay result of "+res.EventID+" could not be recorded: "+clip(errors.Join(errs...).Error()), res.EventID)
	}
}

// seqAfterAudit makes the event sequence go on after the newest decision
// in the audit log: a number used when the sequence file could not be
// saved (the grant still went out, with an alert) is not used again after
// a restart.
func (k *Kiosk) seqAfterAudit() error {
	decision := func(l []byte) bool {
		var r struct {
			Kind string `json:"kind"`
			Seq  uint64 `json:"seq"`
		}
		return json.Unmarshal(l, &r) == nil && r.Kind == "" && r.Seq > 0
	}
	line, err := k.lastAuditRecord(decision)
	if err != nil || line == nil {
		return err
	}
	var ev record.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	if err := k.seq.atLeast(ev.Seq); err != nil {
		return fmt.Errorf("the audit log's newest decision: %w", err)
	}
	return nil
}

// runningName marks a running kiosk (<state_dir>/kiosk/running), removed
// when Run returns: found at start, the run before did not end cleanly.
const runningName = "running"

// markRunning writes the running mark and reports whether the run before
// left its own (it died: kill -9, a power cut). A mark that cannot be
// written only makes the next start think this run ended cleanly.
func (k *Kiosk) markRunning() (died bool) {
	path := filepath.Join(k.kdir, runningName)
	_, err := os.Stat(path)
	died = err == nil
	if err := writeFileAtomic(path, []byte(record.Timestamp(k.now())+"\n")); err != nil {
		k.log.Warn("running mark not written: a crash of this run will not be told from a clean stop", "err", err)
	}
	return died
}

// markStopped removes the running mark (Run returned).
func (k *Kiosk) markStopped() {
	if err := os.Remove(filepath.Join(k.kdir, runningName)); err != nil && !os.IsNotExist(err) {
		k.log.Warn("running mark not removed: the next start will take this stop for a crash", "err", err)
	}
}

// recoverInterrupted finds a grant whose pulse result was never written
// (the daemon died between recording it and the end of its pulse: kill -9,
// power loss) and records it as interrupted, with an alert: the gate may or
// may not have opened. Sessions run one at a time, so only the newest
// audit record can be such a grant. When the run before died (died) and
// the newest record is a relay result, that result is queued again: the
// daemon may have died between its audit write and the outbox's.
func (k *Kiosk) recoverInterrupted(died bool) {
	decisive := func(l []byte) bool {
		var r struct {
			Kind string `json:"kind"`
		}
		// A gate input or an unlock may follow a grant: only decisions
		// and relay results tell whether it ended.
		return json.Unmarshal(l, &r) == nil && (r.Kind == "" || r.Kind == record.PulseKind)
	}
	line, err := k.lastAuditRecord(decisive)
	if err != nil {
		k.log.Warn("audit log tail not readable: an interrupted grant would go unnoticed", "err", err)
		return
	}
	if line == nil {
		return
	}
	var rec struct {
		Kind     string          `json:"kind"`
		EventID  string          `json:"event_id"`
		Decision record.Decision `json:"decision"`
		Relay    string          `json:"relay"`
	}
	if json.Unmarshal(line, &rec) != nil {
		return
	}
	if rec.Kind == record.PulseKind {
		var res record.PulseResult
		if p := k.deps.Publisher; died && p != nil && json.Unmarshal(line, &res) == nil {
			if err := p.PublishPulse(res); err != nil {
				k.metrics.publishFailures.Inc()
				k.log.Error("relay result not queued again after a crash", "event_id", res.EventID, "err", err)
			}
		}
		return
	}
	if rec.Kind != "" || rec.Decision != record.DecisionGranted || rec.Relay != record.RelayPending {
		return
	}
	// The daemon may have died after the audit write and before the
	// outbox's: queue the grant again before its result (at least once:
	// consumers drop a duplicate by event_id).
	var ev record.Event
	decoded := json.Unmarshal(line, &ev) == nil
	if p := k.deps.Publisher; p != nil && decoded {
		if err := p.PublishEvent(ev); err != nil {
			k.metrics.publishFailures.Inc()
			k.log.Error("interrupted grant not queued again", "event_id", ev.EventID, "err", err)
		}
	}
	if decoded {
		k.passbackInterrupted(ev)
	}
	k.recordPulse(record.PulseResult{EventID: rec.EventID, Relay: record.RelayInterrupted})
	k.alert(AlertRelayInterrupted, "facegate stopped during grant "+rec.EventID+" (crash or power loss): whether the gate opened is unknown", rec.EventID)
}

// recoverInterruptedHold records the end of an evacuation hold that the
// run before left held when it died (its running mark is still there):
// its line stopped being driven then. New calls it, before the site can
// hold the relay again for an evacuation still on, whose new hold it
// would take for the old one.
func (k *Kiosk) recoverInterruptedHold() {
	if _, err := os.Stat(filepath.Join(k.kdir, runningName)); err != nil {
		return
	}
	line, err := k.lastAuditRecord(func(l []byte) bool {
		var r struct {
			Kind string `json:"kind"`
		}
		return json.Unmarshal(l, &r) == nil && r.Kind == relayHoldKind
	})
	if err != nil || line == nil {
		return
	}
	var rec relayHoldRecord
	if json.Unmarshal(line, &rec) != nil || !rec.Held {
		return
	}
	k.writeAudit(relayHoldRecord{Kind: relayHoldKind, Held: false, EvacuationID: rec.EvacuationID, Reason: record.RelayInterrupted,
		TS: record.Timestamp(k.now()), Site: k.site, Gate: k.gate}, "the end of an evacuation hold a crash interrupted")
	k.alert(AlertRelayInterrupted, "facegate stopped during the evacuation hold of "+clip(rec.EvacuationID)+" (crash or power loss): the relay was released then", "")
}

// passbackInterrupted counts an interrupted grant as an entry for
// anti-passback: the gate may have opened, and the save in the pulse's
// energised callback may not have reached the disk (until 2026-12-07 the
// same worker was let in again at once). The audit line's submission id is
// plain or its sha256 (privacy: hash), both the memory's key; with
// privacy: omit there is nothing to count.
func (k *Kiosk) passbackInterrupted(ev record.Event) {
	ap := k.settings().policy.AntiPassback
	if ap.Mode == "off" {
		return
	}
	key, ok := submissionKey(ev.SubmissionID)
	at, err := time.Parse(time.RFC3339Nano, ev.TS)
	if !ok || err != nil {
		k.log.Warn("interrupted grant not counted for anti-passback: its audit line carries no submission id or time", "event_id", ev.EventID)
		return
	}
	if err := k.passback.grantKey(key, at, k.now(), ap.Window); err != nil {
		k.log.Error("anti-passback memory not saved", "err", err)
		k.alert("state_dir", "anti-passback memory could not be saved (a restart would forget an interrupted grant): "+err.Error(), "")
	}
}

// lastAuditRecord is lastAuditLine of the audit log, or of the file before
// it when the current one has none: a line that matches nothing (a gate
// input, an unlock) may have rotated the log right after the one sought.
func (k *Kiosk) lastAuditRecord(keep func([]byte) bool) ([]byte, error) {
	path := filepath.Join(k.audit.dir, auditName)
	line, err := lastAuditLine(path, keep)
	if err == nil && line == nil {
		line, err = lastAuditLine(path+".1", keep)
	}
	return line, err
}

// lastAuditLine returns the newest whole record of the audit log that
// matches keep (nil when there is none): a torn tail (no final newline), or
// a torn line that a repair terminated, is not a record and is skipped.
func lastAuditLine(path string, keep func([]byte) bool) ([]byte, error) {
	return lastAuditLineFrom(path, keep, 256<<10)
}

// lastAuditLineFrom is lastAuditLine reading a first window of window
// bytes from the end.
func lastAuditLineFrom(path string, keep func([]byte) bool, window int64) ([]byte, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The newest lines first: a window from the end, grown until a line
	// matches or the file is read whole (lines that do not match, a gate's
	// exit presses, may fill any window).
	for tail := window; ; tail *= 4 {
		off := max(0, st.Size()-tail)
		b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
		if err != nil {
			return nil, err
		}
		if end := bytes.LastIndexByte(b, '\n'); end >= 0 {
			lines := bytes.Split(b[:end], []byte("\n"))
			first := 0
			if off > 0 {
				first = 1 // cut by the window
			}
			for i := len(lines) - 1; i >= first; i-- {
				if l := bytes.TrimSpace(lines[i]); json.Valid(l) && keep(l) {
					return l, nil
				}
			}
		}
		if off == 0 {
			return nil, nil
		}
	}
}

func (k *Kiosk) alert(code, msg, eventID string) {
	k.metrics.alerts.WithLabelValues(code).Inc()
	k.sendAlert(code, msg, eventID)
}

// sendAlert is alert without its count (inputRepeats: the repeats were
// counted as they came).
func (k *Kiosk) sendAlert(code, msg, eventID string) {
	// An error quoted in full can be long: the alert must still go out.
	msg = clipTo(msg, maxAlertMessage-len("…"))
	k.log.Error("operator alert", "code", code, "message", msg, "event_id", eventID)
	if p := k.deps.Publisher; p != nil {
		if err := p.PublishAlert(Alert{Code: code, Message: msg, At: k.now().UTC(), EventID: eventID}); err != nil {
			k.log.Warn("alert publish failed", "code", code, "err", err)
		}
	}
}

// pageDecision is a decision as /events sends it: what the page shows
// (kiosk.js reads seq and decision), not who it was. /events needs no
// token; the identity, zones and scores go to the audit log and MQTT.
type pageDecision struct {
	EventID  string          `json:"event_id"`
	Seq      uint64          `json:"seq"`
	Decision record.Decision `json:"decision"`
}
