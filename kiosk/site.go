package kiosk

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/facegate/facegate/record"
	"github.com/facegate/facegate/site"
)

// The site (docs/site.md): with zones on, every gate of a site shares who
// is in which zone. The kiosk consults that presence through SiteGuard at
// the end of the policy (site-wide anti-passback, occupancy), refuses every
// session but a way out during an evacuation, and in mode muster checks people
// off the muster list instead of opening anything. cmd/facegate adapts the
// site package and the broker's reachability to these ports.

// SiteGuard is the site's presence as a session consults and feeds it.
// Every method is called from the kiosk's goroutines (the session's; the
// idle screen's for Evacuation; RecordRelay also at start, for a grant a
// crash interrupted) and must not block on the network: it answers from
// the local copy.
type SiteGuard interface {
	// Check decides whether person may pass this gate at now: where the
	// passage leads (the door's direction resolved from the presence) and
	// the verdict. person is the event's user_id, "" when the identity
	// has none (personOf).
	Check(person string, now time.Time) (SitePassage, SiteVerdict)
	// Evacuation is the site's evacuation now.
	Evacuation() SiteEvacuation
	// Record applies one of this gate's own decision events at once, so
	// that this gate's view never waits for the broker (the event also
	// reaches every gate, this one included, through MQTT; the presence is
	// idempotent). Only grants and muster check-ins change anything.
	Record(ev record.Event)
	// RecordRelay applies how a grant's pulse ended (a grant whose relay
	// never energised is taken back).
	RecordRelay(r record.PulseResult)
}

// SitePassage is where passing this gate takes a person.
type SitePassage struct {
	From, To string
	// Direction is the door's declared direction (record.DirectionEntry …).
	Direction string
	// Exit: the passage leaves a zone (an exit door, or a two-way door
	// taken outwards). Exits are never denied, not even in an evacuation.
	Exit bool
}

// SiteVerdict is the site's answer for one passage.
type SiteVerdict struct {
	// Allowed false is a hard denial; Allowed with Soft is a flagged grant.
	Allowed, Soft bool
	// Code says why when not plainly allowed: one of the Reason* site
	// codes (passback_same_zone, passback_no_path, occupancy_full, …).
	Code string
	// Detail is for the log and the operator alert (never the screen).
	Detail string
	// View is record.SiteViewSite, or record.SiteViewLocal when this gate
	// decided on its own knowledge because it could not reach the broker.
	View string
}

// SiteEvacuation is the site's evacuation state.
type SiteEvacuation struct {
	Active bool      `json:"active"`
	ID     string    `json:"id,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// Reason codes of the site (coaching has a message for each).
const (
	ReasonPassbackSameZone = "passback_same_zone"  // entering a zone the person is recorded in
	ReasonPassbackNoPath   = "passback_no_path"    // entering a zone without being recorded where the door starts
	ReasonOccupancyFull    = "occupancy_full"      // the zone is at its maximum (hard)
	ReasonEvacuation       = "evacuation"          // an evacuation is in progress: no normal sessions
	ReasonMustered         = "mustered"            // checked in at the assembly point
	ReasonNoEvacuation     = "no_evacuation"       // a muster kiosk outside an evacuation
	ReasonSiteUnknown      = "site_unknown_person" // no user id to track the person by
)

// Alert codes of the site raised by the kiosk.
const (
	AlertPassbackSoft     = "passback_soft"
	AlertOccupancyReached = "occupancy_reached"
	// AlertOccupancyBelow: a zone at its maximum fell below it again (the
	// wiring raises it, as it raises occupancy_reached).
	AlertOccupancyBelow = "occupancy_below"
	AlertEvacuation     = "evacuation"
	// AlertSiteUnreachable: the gate checks the site on its own copy (the
	// wiring raises it once per broker outage).
	AlertSiteUnreachable = "site_unreachable"
	// AlertClockSkew: a peer's facts or daily reset are stamped too far
	// ahead of this gate's clock and were not applied (check NTP); the
	// wiring raises it at most once an hour.
	AlertClockSkew = "clock_skew"
	// AlertResetMismatch: a peer reset the site off this gate's schedule
	// (zones.reset_at or zones.time_zone differ); at most once an hour.
	AlertResetMismatch = "reset_mismatch"
	// AlertBrokerDropped: the broker acknowledged this gate's cmd/evacuate
	// but never delivered it back (mqtt.ErrNotDelivered: an ACL denying
	// it); the wiring raises it.
	AlertBrokerDropped = "broker_dropped"
)

// Screen texts of the site.
const (
	msgEvacuation     = "Evacuation — leave by the nearest exit"
	msgMusterIdle     = "Scan your badge to check in"
	msgMusterNoEvac   = "No evacuation in progress"
	msgMusterCheckIn  = "Checked in at assembly point"
	siteFallbackCoach = "Not allowed here — see the site office"
)

var siteCoaching = map[string]string{
	ReasonPassbackSameZone: "Already inside — see the site office",
	ReasonPassbackNoPath:   "No entry recorded on your way here — see the site office",
	ReasonOccupancyFull:    "Zone full — wait for someone to leave",
	ReasonEvacuation:       msgEvacuation,
	ReasonMustered:         msgMusterCheckIn,
	ReasonNoEvacuation:     msgMusterNoEvac,
	ReasonSiteUnknown:      "Badge without a worker id — see the site office",
}

// withSite adds siteCoaching to m.
func withSite(m map[string]string) map[string]string {
	for code, msg := range siteCoaching {
		m[code] = msg
	}
	return m
}

// SiteOptions are the kiosk's site settings (cmd/facegate maps them from
// mode and the zones section).
type SiteOptions struct {
	// Muster makes this kiosk an assembly point (mode: muster): no relay
	// ever; a match checks the person in during an evacuation.
	Muster bool
	// PageToken lets other machines read the site page (zones.page_token);
	// AdminToken allows the site admin API (zones.admin_token). "" is none.
	PageToken, AdminToken string
}

// siteState is the kiosk's part of the site: the mode and the guard's
// metrics.
type siteState struct {
	muster   bool
	verdicts *prometheus.CounterVec
	// pageToken and adminToken guard the site page and admin API
	// (kiosk/website.go); read at start.
	pageToken, adminToken string
	adminLimit            rateWindow // requests with the admin token
	adminGuesses          rateWindow // requests without it
	pageGuesses           rateWindow // wrong page tokens
}

// initSite takes the site options and registers the site metrics (called
// by New).
func (k *Kiosk) initSite(o SiteOptions) {
	k.sitest.muster = o.Muster
	k.sitest.pageToken, k.sitest.adminToken = o.PageToken, o.AdminToken
	k.sitest.verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "facegate_site_verdicts_total", Help: "Site checks at this gate, by code (allowed, or the passback/occupancy code; unknown codes as \"other\") and result (allowed, soft, denied).",
	}, []string{"code", "result"})
	k.metrics.reg.MustRegister(k.sitest.verdicts)
	if k.deps.Site != nil {
		// The site's alert series start at 0 like the input ones: an alert
		// rule on them works before the first evacuation.
		for _, a := range []string{AlertEvacuation, AlertPassbackSoft, AlertOccupancyReached, AlertOccupancyBelow,
			AlertSiteUnreachable, site.AlertSiteState, AlertClockSkew, AlertResetMismatch, AlertBrokerDropped} {
			k.metrics.alerts.WithLabelValues(a)
		}
		for _, c := range []string{"allowed", ReasonPassbackSameZone, ReasonPassbackNoPath, ReasonOccupancyFull} {
			for _, r := range []string{"allowed", "soft", "denied"} {
				if (c == "allowed") == (r == "allowed") {
					k.sitest.verdicts.WithLabelValues(c, r)
				}
			}
		}
	}
	if b := k.deps.SiteBoard; b != nil {
		k.metrics.reg.MustRegister(occupancyCollector{b})
	}
}

// occupancyCollector exports the site's occupancy as this gate sees it.
type occupancyCollector struct{ b SiteBoard }

var (
	occupancyDesc = prometheus.NewDesc("facegate_zone_occupancy",
		"People inside each zone of the site (nested zones count) as this gate's copy of the presence has it.", []string{"zone"}, nil)
	occupancyMaxDesc = prometheus.NewDesc("facegate_zone_max_occupancy",
		"The configured maximum of each zone that has one.", []string{"zone"}, nil)
	evacuationDesc = prometheus.NewDesc("facegate_site_evacuation",
		"1 while the site is being evacuated.", nil, nil)
	missingDesc = prometheus.NewDesc("facegate_site_missing",
		"People recorded inside and not yet mustered during the evacuation (0 outside one).", nil, nil)
)

func (c occupancyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- occupancyDesc
	ch <- occupancyMaxDesc
	ch <- evacuationDesc
	ch <- missingDesc
}

func (c occupancyCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.b.Report()
	for _, z := range r.Zones {
		ch <- prometheus.MustNewConstMetric(occupancyDesc, prometheus.GaugeValue, float64(z.Occupancy), z.Name)
		if z.Max > 0 {
			ch <- prometheus.MustNewConstMetric(occupancyMaxDesc, prometheus.GaugeValue, float64(z.Max), z.Name)
		}
	}
	ev, missing := 0.0, 0.0
	if r.Evacuation.Active {
		ev = 1
		if r.Muster != nil {
			missing = float64(len(r.Muster.Missing))
		}
	}
	ch <- prometheus.MustNewConstMetric(evacuationDesc, prometheus.GaugeValue, ev)
	ch <- prometheus.MustNewConstMetric(missingDesc, prometheus.GaugeValue, missing)
}

func (k *Kiosk) countVerdict(v SiteVerdict) {
	code, result := "allowed", "allowed"
	switch {
	case !v.Allowed:
		code, result = v.Code, "denied"
	case v.Soft:
		code, result = v.Code, "soft"
	}
	if result != "allowed" && !knownReasons[code] {
		code = "other"
	}
	k.sitest.verdicts.WithLabelValues(code, result).Inc()
}

// sessionSite is what the site said about one session.
type sessionSite struct {
	passage    SitePassage
	verdict    SiteVerdict
	checked    bool   // Check ran: the event carries the zones
	evacuation string // the evacuation in progress at the decision
}

// personOf is the key the site tracks a person by: the event's user_id
// (a passage without one is no fact of the presence; the guard decides
// whether such a person may pass).
func (k *Kiosk) personOf(id Identity) string { return id.UserID }

// siteGate is the check at the start of a session, before any capture: an
// evacuation refuses every session but a way out; a muster kiosk has
// nothing to do outside one. ok false ends the session with o.
func (k *Kiosk) siteGate(s *session) (o outcome, ok bool) {
	g := k.deps.Site
	if g == nil {
		return outcome{}, true
	}
	ev := g.Evacuation()
	if ev.Active {
		s.site.evacuation = ev.ID
	}
	switch {
	case k.sitest.muster && !ev.Active:
		return denied(ReasonNoEvacuation), false
	case !k.sitest.muster && ev.Active && !k.exitFor(s):
		return denied(ReasonEvacuation), false
	}
	return outcome{}, true
}

// exitFor reports whether this gate takes the session's person out of a
// zone (asked of the site; exits stay open to an evacuation).
func (k *Kiosk) exitFor(s *session) bool {
	p, _ := k.deps.Site.Check(k.personOf(s.id), k.now())
	return p.Exit
}

// sitePolicy is the tail of the policy once the API and the local rules
// approved: the muster check-in, or the site's verdict on the passage.
// It returns the outcome to use instead of a plain grant, and whether
// there is one.
func (k *Kiosk) sitePolicy(s *session, now time.Time) (outcome, bool) {
	g := k.deps.Site
	if g == nil {
		return outcome{}, false
	}
	ev := g.Evacuation()
	if k.sitest.muster {
		if !ev.Active {
			return denied(ReasonNoEvacuation), true
		}
		s.site.evacuation = ev.ID
		return outcome{decision: record.DecisionGranted, reasons: []string{ReasonMustered}, message: coaching[ReasonMustered], noRelay: true}, true
	}
	person := k.personOf(s.id)
	p, v := g.Check(person, now)
	if ev.Active && !p.Exit { // started while this session ran
		s.site.evacuation = ev.ID
		return denied(ReasonEvacuation), true
	}
	if ev.Active { // a way out during an evacuation
		s.site.evacuation = ev.ID
	}
	s.site.passage, s.site.verdict, s.site.checked = p, v, true
	k.countVerdict(v)
	switch {
	case !v.Allowed:
		code := v.Code
		if code == "" {
			code = ReasonSiteUnknown
		}
		k.log.Info("site denied the passage", "code", code, "detail", v.Detail, "view", v.View, "from", p.From, "to", p.To)
		o := denied(code)
		if _, known := siteCoaching[code]; !known {
			o.message = siteFallbackCoach
		}
		return o, true
	case v.Soft:
		alert := AlertPassbackSoft
		if strings.HasPrefix(v.Code, "occupancy") {
			alert = AlertOccupancyReached
		}
		o := outcome{decision: record.DecisionGranted, reasons: []string{ReasonApproved}, message: coaching[ReasonApproved],
			alert: alert, alertMsg: fmt.Sprintf("allowed and flagged at %s: %s (%s → %s) %s", k.gate, v.Code, p.From, p.To, v.Detail)}
		return o, true
	}
	return outcome{}, false
}

// siteEvent puts the session's site fields on its event.
func (k *Kiosk) siteEvent(s *session, ev *record.Event) {
	ev.EvacuationID = s.site.evacuation
	if k.sitest.muster && k.deps.Site != nil {
		ev.Mode = record.ModeMuster
	}
	if !s.site.checked {
		return
	}
	p, v := s.site.passage, s.site.verdict
	ev.ZoneFrom, ev.ZoneTo, ev.Direction, ev.SiteView = p.From, p.To, p.Direction, v.View
	if v.Allowed && v.Soft {
		ev.Passback = v.Code
	}
}

// SetEvacuation tells the kiosk the site's evacuation changed (the wiring
// calls it from the presence's notifications, once per change): an
// operator alert, and the idle screen's instruction. The guard stays the
// source of truth for sessions. Safe from any goroutine.
func (k *Kiosk) SetEvacuation(e SiteEvacuation) {
	if e.Active {
		k.alert(AlertEvacuation, fmt.Sprintf("evacuation %s started by %s: %s", e.ID, orUnknown(e.By), clip(e.Reason)), "")
	} else {
		k.alert(AlertEvacuation, fmt.Sprintf("evacuation %s ended by %s", e.ID, orUnknown(e.By)), "")
	}
	k.mu.Lock()
	idle := k.status.State == StateIdle
	k.mu.Unlock()
	// The message asks the guard: computed before k.mu is taken, so the
	// guard is never called under the kiosk's lock.
	msg := ""
	if idle {
		msg = k.idleMessage()
	}
	k.updateStatus(func(s *Status) {
		s.Evacuation = e.Active
		if idle && s.State == StateIdle {
			s.Message = msg
		}
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return clip(s)
}

// siteIdleMessage is the idle instruction when the site has something to
// say, else "".
func (k *Kiosk) siteIdleMessage() string {
	g := k.deps.Site
	if g == nil {
		return ""
	}
	active := g.Evacuation().Active
	switch {
	case k.sitest.muster && active:
		return msgMusterIdle
	case k.sitest.muster:
		return msgMusterNoEvac
	case active:
		return msgEvacuation
	}
	return ""
}

// Muster reports whether this kiosk is an assembly point (mode muster).
func (k *Kiosk) Muster() bool { return k.sitest.muster }
