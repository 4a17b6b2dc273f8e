package kiosk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/faceauth"
)

// pingTimeout bounds the API reachability check.
const pingTimeout = 10 * time.Second

// healthLoop runs the self-test now and every kiosk.health_interval.
func (k *Kiosk) healthLoop(ctx context.Context) {
	for {
		h := k.selfTest(ctx)
		if ctx.Err() != nil {
			return
		}
		k.setHealth(h)
		k.resaveAfterStep()
		k.recoverManualPulses() // one killed while the daemon runs
		t := time.NewTimer(k.settings().kiosk.HealthInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// selfTest checks the camera (frames still changing), the detector time,
// the API (Ping), the broker, the relay (a stuck line is down), the free
// space of the state directory and the audit log. The summary is the worst check; a missing
// dependency is "absent" and does not count.
func (k *Kiosk) selfTest(ctx context.Context) Health {
	now := k.now()
	set := k.settings()
	checks := map[string]Check{}
	if cam := k.deps.Camera; cam != nil {
		ch := cam.CameraHealth()
		switch {
		case ch.Err != nil:
			checks["camera"] = Check{Status: HealthDown, Detail: clip(ch.Err.Error()), cause: ch.Err.Error()}
		case ch.LastChange.IsZero():
			checks["camera"] = Check{Status: HealthDown, Detail: "no frame yet"}
		case now.Sub(ch.LastChange) > k.frozenAfter:
			frozen := now.Sub(ch.LastChange).Round(time.Second)
			checks["camera"] = Check{Status: HealthDown, Detail: fmt.Sprintf("frames unchanged for %s", frozen)}.measured(frozen.Seconds(), "s")
		default:
			checks["camera"] = Check{Status: HealthOK, Detail: fmt.Sprintf("%.1f fps", ch.FPS)}.measured(math.Round(ch.FPS*10)/10, "fps")
		}
		ms := float64(ch.DetectorTime.Round(time.Millisecond).Milliseconds())
		if ch.DetectorTime > set.kiosk.MaxDetectorTime {
			checks["detector"] = Check{Status: HealthDegraded, Detail: fmt.Sprintf("%s per frame (limit %s)", ch.DetectorTime.Round(time.Millisecond), set.kiosk.MaxDetectorTime)}.measured(ms, "ms")
		} else {
			checks["detector"] = Check{Status: HealthOK, Detail: fmt.Sprintf("%s per frame", ch.DetectorTime.Round(time.Millisecond))}.measured(ms, "ms")
		}
	} else {
		checks["camera"] = Check{Status: "absent"}
		checks["detector"] = Check{Status: "absent"}
	}
	if p := k.deps.Pinger; p != nil {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := p.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			checks["api"] = Check{Status: HealthOK}
		case faceauth.ClassOf(err) == faceauth.ClassConfig:
			checks["api"] = Check{Status: HealthDown, Detail: "configuration: " + clip(err.Error()), cause: "configuration: " + err.Error()}
		default:
			checks["api"] = Check{Status: HealthDown, Detail: clip(err.Error()), cause: err.Error()}
		}
	} else {
		checks["api"] = Check{Status: "absent"}
	}
	if b := k.deps.Broker; b != nil {
		n := b.OutboxDepth()
		if b.Connected() {
			checks["broker"] = Check{Status: HealthOK, Detail: fmt.Sprintf("outbox %d", n)}.measured(float64(n), "events")
		} else {
			c := Check{Status: HealthDegraded, Detail: fmt.Sprintf("disconnected, outbox %d", n)}
			// Why, when the client keeps it (*mqtt.Client): refused
			// credentials do not fix themselves, a rebooting broker does.
			if le, ok := b.(interface{ LastError() error }); ok {
				if err := le.LastError(); err != nil {
					c.Detail = fmt.Sprintf("disconnected, outbox %d: %s", n, clipTo(err.Error(), 160))
				}
			}
			checks["broker"] = c.measured(float64(n), "events")
		}
		checks["outbox"] = outboxCheck(n, b.OutboxCapacity())
		if e := k.outboxErr.Load(); e != nil {
			checks["outbox"] = Check{Status: HealthDegraded, Detail: "records refused: " + clip((*e).Error()) + " (no decision can be recorded until the outbox takes records again: free space where mqtt.outbox.path is, or bring the broker back if it is full)"}.measured(float64(n), "events")
		}
	} else {
		checks["broker"] = Check{Status: "absent"}
	}
	checks["relay"] = k.relayCheck()
	checks["disk"] = k.diskCheck()
	checks["audit"] = k.auditCheck()
	sum := HealthOK
	for _, c := range checks {
		if c.Status == HealthDown {
			sum = HealthDown
		} else if c.Status == HealthDegraded && sum == HealthOK {
			sum = HealthDegraded
		}
	}
	return Health{Status: sum, At: now.UTC(), Checks: checks}
}

// setHealth records a self-test result and hands it on.
func (k *Kiosk) setHealth(h Health) {
	k.mu.Lock()
	prev := k.health.Status
	prevChecks := k.health.Checks
	k.health = h
	at := k.now() // with its monotonic reading: h.At has none, and NTP's first step at boot is not an outage
	long := k.longOutages(h, at)
	k.mu.Unlock()
	for _, o := range long {
		c := h.Checks[o.name]
		why := c.cause
		if why == "" {
			why = c.Detail
		}
		k.alert(downAlerts[o.name], fmt.Sprintf("%s: down for %s: %s", o.name, at.Sub(o.since).Round(time.Second), why), "")
	}
	// Alert once when a check that needs a person turns degraded.
	for name, code := range checkAlerts {
		c := h.Checks[name]
		was := prevChecks[name].Status == HealthDegraded
		switch {
		case c.Status == HealthDegraded && !was:
			if name == "outbox" && k.outboxErr.Load() != nil {
				// Refusing records (a full card) is not filling up: the
				// operator is sent to the disk, not the broker.
				code = AlertRecordFailed
			}
			k.alert(code, name+": "+c.Detail, "")
		case c.Status == HealthOK && was:
			k.log.Info("self-test check recovered", "check", name, "detail", c.Detail)
		}
	}
	k.updateStatus(func(s *Status) { s.Health = h.Status })
	k.metrics.healthy.Set(healthValue(h.Status))
	for name, c := range h.Checks {
		if c.Status == "absent" {
			continue
		}
		k.metrics.checks.WithLabelValues(name).Set(healthValue(c.Status))
	}
	if prev != h.Status {
		k.log.Info("health changed", "from", prev, "to", h.Status)
	}
	// A failing check is logged when it starts failing (or its status
	// changes), not at every self-test while it lasts: a week's outage
	// was 120 lines an hour per check.
	for name, c := range h.Checks {
		was := prevChecks[name].Status
		switch {
		case (c.Status == HealthDown || c.Status == HealthDegraded) && was != c.Status:
			k.log.Warn("self-test check failing", "check", name, "status", c.Status, "detail", c.Detail)
		case c.Status == HealthOK && (was == HealthDown || was == HealthDegraded) && checkAlerts[name] == "":
			k.log.Info("self-test check recovered", "check", name, "detail", c.Detail) // the alerted ones above
		}
	}
	if p := k.deps.Publisher; p != nil {
		if err := p.PublishHealth(h); err != nil {
			k.log.Warn("health publish failed", "err", err)
		}
	}
	if k.deps.OnHealth != nil {
		k.deps.OnHealth(h)
	}
}

// relayCheck is down while the Relay, when it is a RelayMonitor, reports
// a fault (the daemon's relay tries a stuck line again and says when it is
// inactive), or, for a Relay that cannot tell, once a pulse left the line
// stuck (until restart).
func (k *Kiosk) relayCheck() Check {
	fault := k.relayFault.Load()
	if m, ok := k.deps.Relay.(RelayMonitor); ok {
		fault = m.RelayFault()
	}
	if fault {
		return Check{Status: HealthDown, Detail: "relay line could not be driven inactive: check the wiring"}
	}
	if why := k.relayFailed.Load(); why != nil {
		return Check{Status: HealthDown, Detail: "the last grant's pulse could not energise the relay: " + clip(*why), cause: *why}
	}
	return Check{Status: HealthOK}
}

// Operator alerts raised when the check of that name turns degraded.
const (
	// AlertDiskLow: the state directory's file system has less free space
	// than kiosk.min_free_mb; decisions may soon fail to be recorded.
	AlertDiskLow = "disk_low"
	// AlertAuditLog: the audit log cannot be written or rotated.
	AlertAuditLog = "audit_log"
	// AlertConfigReload: a reload (SIGHUP) was refused; the gate runs on
	// the configuration it had. Raised by the daemon with RaiseAlert.
	AlertConfigReload = "config_reload"
	// AlertOutboxCorrupt: the MQTT outbox held damaged records at start
	// (outbox.Recovery.Damaged); raised by the daemon with RaiseAlert.
	AlertOutboxCorrupt = "outbox_corrupt"
	// AlertOutboxFilling: the MQTT outbox holds 80 % of its bound
	// undelivered (the broker has been away long); when full, decisions
	// cannot be recorded.
	AlertOutboxFilling = "outbox_filling"
)

// RaiseAlert raises an operator alert that the daemon found outside the
// kiosk (AlertOutboxCorrupt): logged, counted in
// facegate_operator_alerts_total and published like the kiosk's own. Safe
// from any goroutine; it may block as long as Publisher.PublishAlert does.
func (k *Kiosk) RaiseAlert(code, msg string) { k.alert(code, msg, "") }

// Operator alerts raised when the check of that name has been down for
// downAlertAfter without a break.
const (
	// AlertCameraDown: the camera gives no frames, or the same frame, and
	// every worker is refused until someone plugs it back or frees it.
	AlertCameraDown = "camera_down"
	// AlertAPIDown: the FaceAuth API cannot be reached, or refuses the
	// gate's key; every worker is refused.
	AlertAPIDown = "api_down"
)

// AlertMQTTStopped: the MQTT client stopped for good (the broker refused
// the credentials at the first connect); raised by the daemon.
const AlertMQTTStopped = "mqtt_stopped"

// downAlerts are the checks that alert after a long outage. Their health
// status alone is a dashboard state that nobody is paged for (until
// 2026-12-08 an unplugged camera showed nowhere else), and a blip (a USB
// reset, a router's reboot) shorter than downAlertAfter alerts nothing.
var downAlerts = map[string]string{"camera": AlertCameraDown, "api": AlertAPIDown}

// downAlertAfter is how long a check of downAlerts is down before it alerts.
const downAlertAfter = 2 * time.Minute

// outage is a check of downAlerts that is down.
type outage struct {
	name    string
	since   time.Time
	alerted bool
}

// longOutages updates k.outages from h, taken at now, and returns the
// checks whose alert is due (once per outage). A clock stepped back starts
// the outage again rather than make it look long. Callers hold k.mu.
func (k *Kiosk) longOutages(h Health, now time.Time) []outage {
	if k.outages == nil {
		k.outages = map[string]outage{}
	}
	var due []outage
	for name := range downAlerts {
		if h.Checks[name].Status != HealthDown {
			delete(k.outages, name)
			continue
		}
		o, ok := k.outages[name]
		if !ok || now.Before(o.since) {
			o = outage{name: name, since: now}
		}
		if !o.alerted && now.Sub(o.since) >= downAlertAfter {
			o.alerted = true
			due = append(due, o)
		}
		k.outages[name] = o
	}
	slices.SortFunc(due, func(a, b outage) int { return strings.Compare(a.name, b.name) })
	return due
}

var checkAlerts = map[string]string{"disk": AlertDiskLow, "audit": AlertAuditLog, "outbox": AlertOutboxFilling}

// outboxFilling is the share of the outbox's bound at which its check
// turns degraded: a long broker outage fills it, and a full one refuses
// every new decision's record (a grant then does not open).
const outboxFilling = 0.8

// outboxCheck is degraded once n events fill outboxFilling of capacity.
func outboxCheck(n, capacity int) Check {
	c := Check{Status: HealthOK, Detail: fmt.Sprintf("%d of %d events", n, capacity)}
	if capacity > 0 && float64(n) >= outboxFilling*float64(capacity) {
		c = Check{Status: HealthDegraded, Detail: fmt.Sprintf("%d of %d events undelivered: at %d new decisions cannot be recorded (mqtt.outbox.max_events, or max_bytes); bring the broker back", n, capacity, capacity)}
	}
	return c.measured(float64(n), "events")
}

// diskCheck is degraded while the state directory's file system has less
// than kiosk.min_free_mb free (or cannot be measured), or runs out of
// inodes; and so is it for the MQTT outbox's file system when that is
// another: the audit log and the outbox need room to record decisions,
// and a full outbox refuses every grant.
func (k *Kiosk) diskCheck() Check {
	state := k.dirCheck(k.audit.stateDir(), "")
	box := k.outboxDir
	if box == "" || state.Status == "absent" || k.audit.ops.sameFileSystem(k.audit.stateDir(), box) {
		return state
	}
	outbox := k.dirCheck(box, "the MQTT outbox's ")
	switch {
	case state.Status != HealthOK:
		return state
	case outbox.Status != HealthOK:
		return outbox
	}
	return Check{Status: HealthOK, Detail: state.Detail + "; outbox " + outbox.Detail}
}

// dirCheck is diskCheck for the file system of one directory; whose
// starts the detail of a problem ("the MQTT outbox's ").
func (k *Kiosk) dirCheck(dir, whose string) Check {
	free, err := k.audit.ops.freeSpace(dir)
	minMB := k.settings().kiosk.MinFreeMB
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return Check{Status: "absent"}
	case err != nil:
		return Check{Status: HealthDegraded, Detail: whose + "free space unknown: " + clip(err.Error())}
	case minMB > 0 && free < uint64(minMB)<<20:
		return Check{Status: HealthDegraded, Detail: fmt.Sprintf("%s%s: %s free, below kiosk.min_free_mb (%d MiB)", whose, dir, mib(free), minMB)}
	}
	// Out of inodes, a file system with room refuses every new file: the
	// state files are replaced through one (sequence, anti-passback,
	// lockout), and the audit log rotates into one.
	if fi := k.audit.ops.freeInodes; fi != nil {
		if n, total, ok := fi(dir); ok && (n < minFreeInodes || n < total/100) {
			hurt := "state files cannot be replaced"
			if whose != "" {
				hurt = "the outbox cannot be compacted"
			}
			return Check{Status: HealthDegraded, Detail: fmt.Sprintf("%s%s: %d of %d inodes free: %s (remove old files: crops, clips, logs)", whose, dir, n, total, hurt)}
		}
	}
	return Check{Status: HealthOK, Detail: mib(free) + " free"}
}

// minFreeInodes: fewer free inodes than this (or than 1 % of them) make
// the disk check degraded.
const minFreeInodes = 128

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// auditCheck is degraded while the last audit write or rotation failed.
func (k *Kiosk) auditCheck() Check {
	st := k.audit.state()
	switch {
	case st.WriteErr != nil:
		return Check{Status: HealthDegraded, Detail: "write failing: " + clip(st.WriteErr.Error())}
	case st.RotateErr != nil:
		return Check{Status: HealthDegraded, Detail: "rotation failing (lines still written): " + clip(st.RotateErr.Error())}
	case st.Repaired > 0:
		return Check{Status: HealthOK, Detail: fmt.Sprintf("%d torn lines ended (a crash mid-write)", st.Repaired)}
	}
	return Check{Status: HealthOK}
}
