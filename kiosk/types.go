package kiosk

import (
	"errors"
	"strconv"
	"time"

	"github.com/facegate/facegate/record"
)

// Errors of this package. Identify and its variants return them (wrapped
// with detail); callers use errors.Is.
var (
	// ErrBusy: a session (or its cooldown) is in progress; the identity was
	// refused, not queued. The worker identifies again when the screen
	// shows the idle instruction.
	ErrBusy = errors.New("kiosk: a session is in progress")
	// ErrNotRunning: Run has not started or the kiosk is shutting down.
	ErrNotRunning = errors.New("kiosk: not accepting sessions")
	// ErrInvalidIdentity: an identity, QR payload or identify body is
	// malformed (see *InputError for which field).
	ErrInvalidIdentity = errors.New("kiosk: invalid identity")
	// ErrUnknownBadge: the badge id is not in the roster.
	ErrUnknownBadge = errors.New("kiosk: badge not in the roster")
	// ErrSourceDisabled: that identity source is off in the configuration.
	ErrSourceDisabled = errors.New("kiosk: identity source disabled")
	// ErrNoFace: a FaceSelector's window closed without a usable face.
	ErrNoFace = errors.New("kiosk: no usable face")
	// ErrAlreadyRunning: Run was called twice.
	ErrAlreadyRunning = errors.New("kiosk: already running")
	// ErrRoster: the roster file cannot be used (see *InputError).
	ErrRoster = errors.New("kiosk: invalid roster")
)

// InputError is a malformed piece of outside input: which field, on which
// line (CSV roster; 0 otherwise), and why. It matches ErrInvalidIdentity or
// ErrRoster.
type InputError struct {
	Source string // "qr", "roster.csv path", "identify body", …
	Line   int
	Field  string
	Msg    string
	kind   error
}

func (e *InputError) Error() string {
	s := e.Source
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Is matches the sentinel of the input's kind.
func (e *InputError) Is(target error) bool { return target == e.kind }

// State is where the session is.
type State string

// The session states (DESIGN.md "The kiosk session").
const (
	StateIdle           State = "idle"
	StateIdentified     State = "identified"
	StateCapturing      State = "capturing"
	StateAuthenticating State = "authenticating"
	StateChallenge      State = "challenge" // the worker is asked to turn the head (Status.Challenge)
	StateGranted        State = "granted"
	StateDenied         State = "denied"
	StateError          State = "error"
	StateCooldown       State = "cooldown"
	StateStopped        State = "stopped"
)

// Source names where an identity came from (record.Event.IdentitySource).
const (
	SourceQR     = "qr"
	SourceMQTT   = "mqtt"
	SourceHTTP   = "http"
	SourceRoster = "roster" // a badge id resolved through the roster, from any channel
	SourceFixed  = "fixed"
)

// Identity is who is in front of the gate.
type Identity struct {
	SubmissionID string
	UserID       string
	// DisplayName is shown on the screen only (never published).
	DisplayName string
	// Source is one of the Source constants.
	Source string

	remote *RemoteOpen // set for a remote unlock instead of a face check
	badge  string      // the roster badge it came from ("" for none): see revoked
	via    string      // the source the badge came in on (Source says roster)
}

// RemoteOpen is a verified remote unlock (mqtt cmd/open): no face check,
// one relay pulse, one event with reason "remote_open".
type RemoteOpen struct {
	// Source is where it came from (SourceMQTT).
	Source string
	// By and Reason are the signed audit fields of the command (By goes to
	// the event's user_id).
	By, Reason string
}

// Box is a face rectangle in fractions of the frame (0..1), for the page.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// Status is the session state as the screen and <prefix>/state show it.
type Status struct {
	State State `json:"state"`
	// Message is the instruction or result for the worker.
	Message string `json:"message"`
	// Decision and Reason are set in the end states and kept in cooldown.
	Decision record.Decision `json:"decision,omitempty"`
	Reason   []string        `json:"reason,omitempty"`
	// Name is the roster display name, for the screen's greeting.
	Name string `json:"name,omitempty"`
	// Challenge is "left" or "right" in StateChallenge: the side the worker
	// turns the head to, the person's own side (the page draws the arrow).
	Challenge string `json:"challenge,omitempty"`
	// Turn is how far the worker has turned the head the asked way in
	// StateChallenge: 0..1 of the kiosk's meter, full at TurnMeterFull
	// times the turn the check needs (docs/liveness.md), rounded down to
	// steps of 0.05; nil before the first frame measured and in every
	// other state. For the page (the MQTT state topic carries the state
	// alone).
	Turn *float64 `json:"turn,omitempty"`
	// Box is the face the selector sees, while identified or capturing.
	Box *Box `json:"box,omitempty"`
	// Since is when this state began (RFC 3339, UTC).
	Since time.Time `json:"since"`
	// Health is the last self-test summary ("ok", "degraded", "down").
	Health string `json:"health"`
	// Door and Relay are "open"/"closed" or "" when unknown.
	Door  string `json:"door,omitempty"`
	Relay string `json:"relay,omitempty"`
	// LastEventID is the id of the last decision event.
	LastEventID string `json:"last_event_id,omitempty"`
	// Evacuation: the site's evacuation is in progress (zones on); the
	// screen says so whatever the session's state.
	Evacuation bool `json:"evacuation,omitempty"`
}

// Health values, from best to worst.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthDown     = "down"
)

// Health is the self-test summary: one value and the checks behind it.
type Health struct {
	Status string           `json:"status"`
	At     time.Time        `json:"at"`
	Checks map[string]Check `json:"checks"`
}

// Check is one self-test item ("camera", "detector", "api", "broker").
type Check struct {
	Status string `json:"status"` // ok, degraded, down or absent
	Detail string `json:"detail,omitempty"`
	// Value is the check's number (the one Detail also shows), in Unit:
	// camera fps or seconds frozen, detector ms per frame, broker outbox
	// events; nil when the check has none.
	Value *float64 `json:"value,omitempty"`
	Unit  string   `json:"unit,omitempty"`
	// cause is the whole error Detail clips, for the alert of a long
	// outage (downAlerts).
	cause string
}

// measured returns c with its number.
func (c Check) measured(v float64, unit string) Check {
	c.Value, c.Unit = &v, unit
	return c
}

// maxAlertMessage is the longest alert message a publisher takes (the
// MQTT <prefix>/alert payload's limit).
const maxAlertMessage = 1024

// Alert is an operator alert: something a person must fix.
type Alert struct {
	// Code is a machine code, e.g. "api_config", "api_client", "relay_failed".
	Code string `json:"code"`
	// Message is at most maxAlertMessage bytes (the kiosk clips it).
	Message string    `json:"message"`
	At      time.Time `json:"at"`
	EventID string    `json:"event_id,omitempty"`
}
