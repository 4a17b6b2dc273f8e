package kiosk

import (
	"context"
	"fmt"
	"math"
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
// the API (Ping), the broker and the relay (a stuck line is down). The summary is the worst check; a missing
// dependency is "absent" and does not count.
func (k *Kiosk) selfTest(ctx context.Context) Health {
	now := k.now()
	set := k.settings()
	checks := map[string]Check{}
	if cam := k.deps.Camera; cam != nil {
		ch := cam.CameraHealth()
		switch {
		case ch.Err != nil:
			checks["camera"] = Check{Status: HealthDown, Detail: clip(ch.Err.Error())}
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
			checks["api"] = Check{Status: HealthDown, Detail: "configuration: " + clip(err.Error())}
		default:
			checks["api"] = Check{Status: HealthDown, Detail: clip(err.Error())}
		}
	} else {
		checks["api"] = Check{Status: "absent"}
	}
	if b := k.deps.Broker; b != nil {
		n := b.OutboxDepth()
		if b.Connected() {
			checks["broker"] = Check{Status: HealthOK, Detail: fmt.Sprintf("outbox %d", n)}.measured(float64(n), "events")
		} else {
			checks["broker"] = Check{Status: HealthDegraded, Detail: fmt.Sprintf("disconnected, outbox %d", n)}.measured(float64(n), "events")
		}
	} else {
		checks["broker"] = Check{Status: "absent"}
	}
	checks["relay"] = k.relayCheck()
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
	k.health = h
	k.mu.Unlock()
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
	if h.Status != HealthOK {
		for name, c := range h.Checks {
			if c.Status == HealthDown || c.Status == HealthDegraded {
				k.log.Warn("self-test check failing", "check", name, "status", c.Status, "detail", c.Detail)
			}
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

// relayCheck is down once a pulse left the line stuck (until restart: the
// line needs a person) or while the Relay, when it is a RelayMonitor,
// reports a fault.
func (k *Kiosk) relayCheck() Check {
	fault := k.relayFault.Load()
	if m, ok := k.deps.Relay.(RelayMonitor); ok && m.RelayFault() {
		fault = true
	}
	if fault {
		return Check{Status: HealthDown, Detail: "relay line could not be driven inactive: check the wiring"}
	}
	return Check{Status: HealthOK}
}
