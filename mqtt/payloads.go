package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/facegate/facegate/record"
)

// Camera health statuses.
const (
	CameraOK       = "ok"
	CameraDegraded = "degraded"
	CameraLost     = "lost"
)

// CameraHealth is the retained payload of <prefix>/camera.
type CameraHealth struct {
	Status string  `json:"status"` // ok, degraded, lost
	FPS    float64 `json:"fps"`
	// LastFrameAgeMS is the age of the newest frame; -1 when none yet.
	LastFrameAgeMS int64  `json:"last_frame_age_ms"`
	Message        string `json:"message,omitempty"`
	// TS is filled by PublishHealth when empty.
	TS string `json:"ts"`
}

func (h CameraHealth) validate() error {
	switch h.Status {
	case CameraOK, CameraDegraded, CameraLost:
		return nil
	}
	return fmt.Errorf("camera health status %q is not ok, degraded or lost", h.Status)
}

// SelfTest is the retained payload of <prefix>/health: the overall status
// (ok, degraded, down) and each check (camera, detector, api, broker).
type SelfTest struct {
	Status string               `json:"status"`
	Checks map[string]CheckInfo `json:"checks,omitempty"`
	// TS is filled by PublishSelfTest when empty.
	TS string `json:"ts"`
}

// CheckInfo is one self-test item. Value and Unit carry the check's
// number (fps, ms per frame, queued events) for dashboards that cannot
// parse Detail.
type CheckInfo struct {
	Status string   `json:"status"`
	Detail string   `json:"detail,omitempty"`
	Value  *float64 `json:"value,omitempty"`
	Unit   string   `json:"unit,omitempty"`
}

func (h SelfTest) validate() error {
	switch h.Status {
	case "ok", "degraded", "down":
		return nil
	}
	return fmt.Errorf("self-test status %q is not ok, degraded or down", h.Status)
}

// Alert is the retained payload of <prefix>/alert: something a person
// must fix (the kiosk keeps denying until then).
type Alert struct {
	// Code is a machine code, e.g. "api_config", "api_client", "relay_failed".
	Code    string `json:"code"`
	Message string `json:"message"`
	// EventID is the decision that raised it, if any.
	EventID string `json:"event_id,omitempty"`
	// TS is filled by PublishAlert when empty.
	TS string `json:"ts"`
}

func (a Alert) validate() error {
	if a.Code == "" || len(a.Code) > 64 {
		return fmt.Errorf("alert code %q must be 1 to 64 bytes", a.Code)
	}
	if len(a.Message) > 1024 {
		return fmt.Errorf("alert message is %d bytes, more than 1024", len(a.Message))
	}
	return nil
}

// StatePayload is the retained payload of <prefix>/state.
type StatePayload struct {
	// State is the kiosk session state: idle, identified, capturing,
	// authenticating, granted, denied, error, cooldown, stopped. A result
	// state (granted, denied, error) is always published together with
	// the decision it shows in LastDecision.
	State string `json:"state"`
	// TS is when the gate entered State (the time key of every payload).
	TS string `json:"ts"`
	// Since is TS under its old name: deprecated, kept for consumers
	// written before ts.
	Since        string           `json:"since"`
	LastDecision *DecisionSummary `json:"last_decision,omitempty"`
}

// resultState reports whether a kiosk state shows a decision.
func resultState(s string) bool {
	switch record.Decision(s) {
	case record.DecisionGranted, record.DecisionDenied, record.DecisionError:
		return true
	}
	return false
}

// DecisionSummary is the last decision as carried by the state topic.
type DecisionSummary struct {
	EventID        string          `json:"event_id"`
	Seq            uint64          `json:"seq"`
	TS             string          `json:"ts"`
	Decision       record.Decision `json:"decision"`
	Reason         []string        `json:"reason"`
	UserID         string          `json:"user_id,omitempty"`
	FaceSimilarity *float64        `json:"face_similarity_score,omitempty"`
}

// Summarize extracts the summary of an event.
func Summarize(ev record.Event) *DecisionSummary {
	s := &DecisionSummary{EventID: ev.EventID, Seq: ev.Seq, TS: ev.TS, Decision: ev.Decision, Reason: ev.Reason, UserID: ev.UserID}
	if ev.Auth != nil {
		s.FaceSimilarity = ev.Auth.Score.FaceSimilarity
	}
	return s
}

func onOff(open bool) []byte {
	if open {
		return []byte("open")
	}
	return []byte("closed")
}

func validEvent(ev record.Event) error {
	if ev.EventID == "" {
		return fmt.Errorf("%w: event_id is empty", ErrInvalidEvent)
	}
	if len(ev.EventID) > 128 {
		return fmt.Errorf("%w: event_id is %d bytes (max 128)", ErrInvalidEvent, len(ev.EventID))
	}
	switch ev.Decision {
	case record.DecisionGranted, record.DecisionDenied, record.DecisionError:
	default:
		return fmt.Errorf("%w: decision %q is not granted, denied or error", ErrInvalidEvent, ev.Decision)
	}
	return validSiteFields(ev)
}

// Limits of the site fields of an event (docs/mqtt.md).
const (
	maxZoneName     = 64
	maxCode         = 64
	maxEvacuationID = 128
)

// validSiteFields checks the event's zone fields: names are printable
// text (they end up on the site page, in CSV and in HA entity names),
// the enumerations take their documented values only.
func validSiteFields(ev record.Event) error {
	for _, f := range []struct {
		key, v string
		max    int
	}{
		{"zone_from", ev.ZoneFrom, maxZoneName}, {"zone_to", ev.ZoneTo, maxZoneName},
		{"evacuation_id", ev.EvacuationID, maxEvacuationID},
	} {
		if err := validName(f.v, f.max); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidEvent, f.key, err)
		}
	}
	if ev.ZoneFrom != "" && ev.ZoneTo == "" {
		return fmt.Errorf("%w: zone_from without zone_to", ErrInvalidEvent)
	}
	switch ev.Direction {
	case "", record.DirectionEntry, record.DirectionExit, record.DirectionBoth:
	default:
		return fmt.Errorf("%w: direction %q is not entry, exit or both", ErrInvalidEvent, ev.Direction)
	}
	switch ev.SiteView {
	case "", record.SiteViewSite, record.SiteViewLocal:
	default:
		return fmt.Errorf("%w: site_view %q is not site or local", ErrInvalidEvent, ev.SiteView)
	}
	switch ev.Mode {
	case "", "gate", record.ModeMuster:
	default:
		return fmt.Errorf("%w: mode %q is not gate or muster", ErrInvalidEvent, ev.Mode)
	}
	if ev.Passback != "" && !validCode(ev.Passback) {
		return fmt.Errorf("%w: passback %q is not a code (1 to %d of a-z 0-9 _)", ErrInvalidEvent, ev.Passback, maxCode)
	}
	return nil
}

// validName accepts "" or printable UTF-8 text of at most max bytes
// without surrounding spaces.
func validName(s string, max int) error {
	if s == "" {
		return nil
	}
	if len(s) > max {
		return fmt.Errorf("%d bytes, at most %d allowed", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	if strings.TrimSpace(s) != s {
		return errors.New("leading or trailing space")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("unprintable character %U", r)
		}
	}
	return nil
}

// validCode reports whether s is a machine code: 1 to maxCode of a-z 0-9 _.
func validCode(s string) bool {
	if s == "" || len(s) > maxCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
