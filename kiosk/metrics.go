package kiosk

import (
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// metrics live on a private registry (no global state, no submission ids
// as labels: every label value comes from a closed set).
type metrics struct {
	reg             *prometheus.Registry
	decisions       *prometheus.CounterVec
	reasons         *prometheus.CounterVec
	failCodes       *prometheus.CounterVec
	apiErrors       *prometheus.CounterVec
	identifications *prometheus.CounterVec
	alerts          *prometheus.CounterVec
	timeToDecision  prometheus.Histogram
	apiLatency      prometheus.Histogram
	liveness        *prometheus.CounterVec
	livenessShadow  *prometheus.CounterVec
	livenessTurn    *prometheus.HistogramVec
	livenessPeers   prometheus.Counter
	livenessUnlocks *prometheus.CounterVec
	relayPulses     prometheus.Counter
	otherOpenings   *prometheus.CounterVec
	relayFailures   prometheus.Counter
	auditFailures   prometheus.Counter
	publishFailures prometheus.Counter
	stateGauge      *prometheus.GaugeVec
	checks          *prometheus.GaugeVec
	healthy         prometheus.Gauge
	detection       prometheus.Histogram
}

// Label values known in advance: their series start at 0, so that a rate()
// or an alert on them works before the first increment.
var (
	knownAPIClasses = []faceauth.Class{faceauth.ClassIdentity, faceauth.ClassConfig, faceauth.ClassRecapture,
		faceauth.ClassTransient, faceauth.ClassClient}
	knownAlerts = append([]string{ReasonAPIPrefix + string(faceauth.ClassConfig), ReasonAPIPrefix + string(faceauth.ClassClient),
		AlertRelayFault, ReasonRelayFailed, "state_dir", AlertLivenessLockout, AlertConfigReload, AlertCameraDown, AlertAPIDown,
		AlertRecordFailed, AlertRelayInterrupted, AlertAPIInvalidResponse, AlertDiskLow, AlertAuditLog, AlertOutboxFilling, AlertOutboxCorrupt, AlertMQTTStopped}, inputAlertCodes()...)
	knownSources = []string{SourceQR, SourceMQTT, SourceHTTP, SourceRoster, SourceFixed}
	// knownResults are the identify results (metrics.identify callers).
	knownResults = []string{"accepted", "busy", "invalid", "unknown_badge", "disabled", "not_running", "unauthorized"}
)

// knownReasons bounds the reason label; anything else counts as "other".
var knownReasons = func() map[string]bool {
	m := map[string]bool{}
	for code := range coaching {
		m[code] = true
	}
	return m
}()

var allStates = []State{StateIdle, StateIdentified, StateCapturing, StateChallenge, StateAuthenticating, StateGranted, StateDenied, StateError, StateCooldown, StateStopped}

func newMetrics(k *Kiosk) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_decisions_total", Help: "Sessions ended, by decision (granted, denied, error).",
		}, []string{"result"}),
		reasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_decision_reasons_total", Help: "Reason codes of decisions (unknown codes as \"other\").",
		}, []string{"reason"}),
		failCodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_fail_codes_total", Help: "FaceAuth fail codes of rejections, lower-cased (unknown codes as \"other\").",
		}, []string{"code"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_api_errors_total", Help: "FaceAuth API errors by class (identity, config, recapture, transient, client).",
		}, []string{"class"}),
		identifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_identifications_total", Help: "Identities received, by source and result (accepted, busy, invalid, unknown_badge, disabled, not_running).",
		}, []string{"source", "result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_operator_alerts_total", Help: "Operator alerts raised, by code.",
		}, []string{"code"}),
		timeToDecision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "facegate_time_to_decision_seconds",
			Help:    "From the first acceptable face (or the identification when none) to the decision.",
			Buckets: []float64{0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10, 20},
		}),
		apiLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "facegate_api_latency_seconds",
			Help:    "Duration of FaceAuth authentication calls, errors included.",
			Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20},
		}),
		liveness: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_liveness_total", Help: "Liveness (presentation-attack) checks by outcome (live, failed, unavailable, locked).",
		}, []string{"outcome"}),
		livenessShadow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_liveness_shadow_total",
			Help: "Liveness checks in shadow mode (recorded, never enforced) by outcome (live, failed, unavailable, error) and the session's decision without them.",
		}, []string{"outcome", "decision"}),
		livenessTurn: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "facegate_liveness_turn_face_widths",
			Help: "How far the head had turned the asked way when a liveness challenge decided (face widths, the event's liveness.yaw; a passing check stops once the turn has held), by measure (landmarks: YuNet's, needs 0.035; tracked: tracked points, needs 0.02) and policy mode (challenge, shadow).",
			// Around what the check needs (0.02, 0.035) and the lab's
			// refused real turns (below 0.07).
			Buckets: []float64{0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3},
		}, []string{"measure", "mode"}),
		livenessPeers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facegate_liveness_site_failures_total",
			Help: "Liveness failures at other gates of the site counted towards this gate's lockout (zones on).",
		}),
		livenessUnlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_liveness_unlocks_total",
			Help: "Identities whose liveness failures an operator cleared, by source (http: this gate's POST /api/liveness/unlock; site: another gate's signed cmd/unlock; site_list: one this gate missed, from that gate's unlock list).",
		}, []string{"source"}),
		relayPulses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facegate_relay_pulses_total", Help: "Relay pulses of sessions (gate openings for a grant or a remote open).",
		}),
		otherOpenings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facegate_other_openings_total",
			Help: "Gate openings outside sessions, by cause (exit_button: a press of the exit button; evacuation_hold: the relay held open for an evacuation).",
		}, []string{"cause"}),
		relayFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facegate_relay_failures_total", Help: "Relay pulses that failed.",
		}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facegate_audit_write_failures_total", Help: "Decisions that could not be written to the audit log.",
		}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "facegate_event_publish_failures_total", Help: "Decisions the publisher refused to queue.",
		}),
		stateGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facegate_session_state", Help: "1 for the current session state.",
		}, []string{"state"}),
		checks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "facegate_health_check", Help: "Self-test checks: 2 ok, 1 degraded, 0 down (absent checks are not exported).",
		}, []string{"check"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "facegate_health", Help: "Self-test summary: 2 ok, 1 degraded, 0 down.",
		}),
		detection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "facegate_detection_duration_seconds",
			Help:    "Time of each full face detection on a frame (empty-scene skips excluded).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 2},
		}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "facegate_build_info", Help: "Always 1; the labels say which build runs.",
	}, []string{"version", "goversion"})
	version := k.deps.Version
	if version == "" {
		version = "unknown"
	}
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.decisions, m.reasons, m.failCodes, m.apiErrors, m.identifications, m.alerts,
		m.timeToDecision, m.apiLatency, m.liveness, m.livenessShadow, m.livenessTurn, m.livenessPeers, m.livenessUnlocks, m.relayPulses, m.otherOpenings, m.relayFailures, m.auditFailures, m.publishFailures,
		m.stateGauge, m.checks, m.healthy, m.detection, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, d := range []record.Decision{record.DecisionGranted, record.DecisionDenied, record.DecisionError} {
		m.decisions.WithLabelValues(string(d))
	}
	for _, o := range []string{livenessLive, livenessFailed, livenessUnavailable, livenessLocked} {
		m.liveness.WithLabelValues(o)
	}
	for _, o := range []string{livenessLive, livenessFailed, livenessUnavailable, livenessError} {
		for _, d := range []record.Decision{record.DecisionGranted, record.DecisionDenied, record.DecisionError} {
			m.livenessShadow.WithLabelValues(o, string(d))
		}
	}
	for _, c := range []string{openingExitButton, openingEvacuationHold} {
		m.otherOpenings.WithLabelValues(c)
	}
	for _, src := range []string{unlockHTTP, unlockSite, unlockSiteList} {
		m.livenessUnlocks.WithLabelValues(src)
	}
	for _, measure := range []string{turnLandmarks, turnTracked} {
		for _, mode := range []string{LivenessChallenge, LivenessShadow} {
			m.livenessTurn.WithLabelValues(measure, mode)
		}
	}
	for _, s := range allStates {
		m.stateGauge.WithLabelValues(string(s))
	}
	for _, c := range knownAPIClasses {
		m.apiErrors.WithLabelValues(string(c))
	}
	for _, a := range knownAlerts {
		m.alerts.WithLabelValues(a)
	}
	for _, src := range knownSources {
		for _, res := range knownResults {
			m.identifications.WithLabelValues(src, res)
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "facegate_liveness_locked_identities",
		Help: "Identities the liveness lockout refuses now (GET /api/liveness/lockouts lists them).",
	}, func() float64 {
		p := k.settings().policy.LivenessLockout
		return float64(k.pad.lockedCount(k.now(), p.Max, p.Per))
	}))
	if cam := k.deps.Camera; cam != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facegate_camera_fps", Help: "Frames read from the camera per second.",
		}, func() float64 { return cam.CameraHealth().FPS }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "facegate_camera_frames_total", Help: "Frames read from the camera (decoded or not) since start.",
		}, func() float64 { return float64(cam.CameraHealth().Frames) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facegate_detector_seconds", Help: "Recent face detection time per frame.",
		}, func() float64 { return cam.CameraHealth().DetectorTime.Seconds() }))
	}
	if b := k.deps.Broker; b != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facegate_outbox_depth", Help: "Events queued on disk, not yet delivered to the broker.",
		}, func() float64 { return float64(b.OutboxDepth()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facegate_broker_connected", Help: "1 when connected to the MQTT broker.",
		}, func() float64 {
			if b.Connected() {
				return 1
			}
			return 0
		}))
	}
	return m
}

func (m *metrics) state(s State) {
	for _, x := range allStates {
		v := 0.0
		if x == s {
			v = 1
		}
		m.stateGauge.WithLabelValues(string(x)).Set(v)
	}
}

func (m *metrics) identify(source, result string) {
	switch source {
	case SourceQR, SourceMQTT, SourceHTTP, SourceRoster, SourceFixed:
	default:
		source = "other"
	}
	m.identifications.WithLabelValues(source, result).Inc()
}

func (m *metrics) failCode(fc faceauth.FailCode) {
	code := "other"
	if c := faceauth.ParseFailCode(string(fc)); c.Known() {
		code = strings.ToLower(string(c))
	}
	m.failCodes.WithLabelValues(code).Inc()
}

func (m *metrics) apiError(class string) {
	switch faceauth.Class(class) {
	case faceauth.ClassIdentity, faceauth.ClassConfig, faceauth.ClassRecapture, faceauth.ClassTransient, faceauth.ClassClient:
	default:
		class = "other"
	}
	m.apiErrors.WithLabelValues(class).Inc()
}

func (m *metrics) decision(ev *record.Event, s *session) {
	m.decisions.WithLabelValues(string(ev.Decision)).Inc()
	for _, r := range ev.Reason {
		if !knownReasons[r] {
			r = "other"
		}
		m.reasons.WithLabelValues(r).Inc()
	}
	m.timeToDecision.Observe(float64(ev.LatencyMS.Total) / 1000)
}

func healthValue(s string) float64 {
	switch s {
	case HealthOK:
		return 2
	case HealthDegraded:
		return 1
	}
	return 0
}

// ObserveDetection records one face detection's duration in the
// facegate_detection_duration_seconds histogram. The wiring calls it from
// the capture analyser's goroutine for every full detection; it does not
// block.
func (k *Kiosk) ObserveDetection(d time.Duration) {
	k.metrics.detection.Observe(d.Seconds())
}
