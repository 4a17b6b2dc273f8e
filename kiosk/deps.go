package kiosk

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/record"
)

// Face is the one face a selection produced: the 960x720 crop to send to
// the FaceAuth API and what the local policy needs to know about it.
type Face struct {
	// JPEG is the crop sent to the API. The kiosk never logs or publishes it.
	JPEG []byte
	// CapturedAt is when the chosen frame was read from the camera (the
	// freshness guard measures from it).
	CapturedAt time.Time
	// Faces is the number of faces in the chosen frame (tailgating guard).
	Faces int
	// Box is the chosen face in frame coordinates; Frame is the frame size.
	Box   image.Rectangle
	Frame image.Point
	// Score is the selector's quality score (0..1), for the audit log.
	Score float64
	// Detail is the chosen face's fine detail (capture.Selection.Detail),
	// 0 when unknown: the liveness challenge must start on a face about
	// as sharp.
	Detail float64
	// Signature is the chosen face's texture (capture.Selection.Signature),
	// nil when unknown: the liveness challenge must start on the same face.
	Signature []float32
}

// Progress is what a FaceSelector reports while it looks for a face.
type Progress struct {
	// Reason is a capture reason code (see Coach: "no_face", "too_small",
	// "multiple_faces", "too_blurry", "not_frontal", "too_dark", …) while no
	// face is acceptable; "" once an acceptable face is in view, which
	// starts the selection window (the session moves to capturing).
	Reason string
	// Box is the largest face seen in frame coordinates (empty when none),
	// Frame the frame size; the kiosk page draws it over the preview.
	Box   image.Rectangle
	Frame image.Point
}

// FaceSelector finds the best face in front of the camera.
type FaceSelector interface {
	// SelectFace watches the camera until an acceptable face has been in
	// view for the selection window and returns the best one. It calls
	// progress from its own goroutine for each analysed frame; progress
	// never blocks and must not call back into the selector. It returns
	// when ctx ends (with an error wrapping ctx.Err()), when the camera
	// fails (any other error), or when the window closed without a usable
	// face (an error wrapping ErrNoFace). The kiosk runs one SelectFace at
	// a time and bounds it with ctx: the identity timeout before the first
	// acceptable face, identity.capture_timeout after it.
	SelectFace(ctx context.Context, progress func(Progress)) (Face, error)
}

// Authenticator is the FaceAuth client (*faceauth.Client satisfies it).
type Authenticator interface {
	// Authenticate sends one face. A rejection is a Result, not an error;
	// errors are *faceauth.APIError (anything else is treated as transient).
	Authenticate(ctx context.Context, req faceauth.Request) (*faceauth.Result, error)
}

// Pinger checks that the FaceAuth API is reachable with the configured key
// (a one-record history call) for the self-test.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Relay opens the gate.
type Relay interface {
	// Pulse energises the relay for d and returns after it is released.
	// It calls energised once, from Pulse's goroutine, as soon as the line
	// is energised for this call (by it or by a running pulse it extends),
	// and never when it was not: that call, not the error, tells the kiosk
	// whether the gate was unlocked. Cancelling ctx releases it early. The
	// kiosk calls it only for a granted session whose event is recorded,
	// once, from the session goroutine.
	//
	// The error says how the pulse went: nil for a whole pulse; wrapping
	// ErrRelayFault when the line could not be driven inactive (it may
	// still be energised); any other error after energised means it was
	// released early (cancelled, halted), before it means it never was.
	Pulse(ctx context.Context, d time.Duration, energised func()) error
}

// RelayMonitor is optionally implemented by a Relay: RelayFault reports a
// line that could not be driven inactive, for the self-test.
type RelayMonitor interface {
	RelayFault() bool
}

// ErrRelayFault is what a Relay wraps when its line could not be driven
// inactive (see Relay.Pulse).
var ErrRelayFault = errors.New("kiosk: relay line stuck")

// ErrRelayStopping is what a Relay wraps when it refuses a pulse because
// the daemon is stopping (the relay was made inert before the kiosk's last
// session ended): reason shutdown, not relay_failed.
var ErrRelayStopping = errors.New("kiosk: relay inert: the daemon is stopping")

// Publisher carries the kiosk's output to MQTT. Every method is called from
// the kiosk's goroutines and must not block for long (queue, do not wait
// for the broker).
type Publisher interface {
	// PublishEvent queues one decision durably (the outbox, fsync'd); an
	// error means it was not queued. EventID and Seq are already set. A
	// grant's event is queued before the relay moves.
	PublishEvent(ev record.Event) error
	// PublishPulse queues, durably like PublishEvent, how a granted
	// event's relay pulse ended (joined to it by EventID).
	PublishPulse(p record.PulseResult) error
	// PublishState publishes the retained session state.
	PublishState(s Status) error
	// PublishHealth publishes the self-test summary.
	PublishHealth(h Health) error
	// PublishAlert tells the operator something needs a person (wrong API
	// key, missing project, relay failure).
	PublishAlert(a Alert) error
}

// CameraMonitor reports the camera's condition for the self-test and the
// metrics.
type CameraMonitor interface {
	CameraHealth() CameraHealth
}

// CameraHealth is a snapshot of the camera.
type CameraHealth struct {
	// FPS is frames read per second recently.
	FPS float64
	// Frames is how many frames were read since the camera was opened
	// (monotonic; the facegate_camera_frames_total counter).
	Frames uint64
	// LastChange is when a frame last differed from the one before
	// (zero: never); older than camera.frozen_after means frozen.
	LastChange time.Time
	// DetectorTime is the recent face detection time per frame.
	DetectorTime time.Duration
	// Err is the camera's last error (nil when frames arrive).
	Err error
}

// BrokerMonitor reports the MQTT connection for the self-test and metrics.
type BrokerMonitor interface {
	Connected() bool
	// OutboxDepth is the number of events queued on disk, not yet delivered.
	OutboxDepth() int
	// OutboxCapacity is how many it holds (mqtt.outbox.max_events, or
	// fewer where max_bytes binds first): at that depth new decisions
	// cannot be recorded.
	OutboxCapacity() int
}

// PreviewSource gives the preview frames for /stream.mjpg.
type PreviewSource interface {
	// NextPreview blocks until a preview JPEG with a sequence number greater
	// than after exists, or ctx ends. The returned bytes are not modified
	// afterwards (the kiosk writes them to several clients).
	NextPreview(ctx context.Context, after uint64) (jpeg []byte, seq uint64, err error)
}

// Deps are the parts the kiosk drives. Selector, Authenticator and Relay are
// required; the others may be nil (nothing published, no preview, the
// corresponding self-test check reported as "absent").
type Deps struct {
	Selector      FaceSelector
	Authenticator Authenticator
	Relay         Relay
	Publisher     Publisher
	Pinger        Pinger
	Camera        CameraMonitor
	Broker        BrokerMonitor
	Preview       PreviewSource
	// Site is the site's presence (zones on; kiosk/site.go); nil: this
	// gate stands alone. SiteBoard serves /site and the site admin API
	// (kiosk/website.go); nil: those answer 404.
	Site      SiteGuard
	SiteBoard SiteBoard
	// LockoutSite sends an operator's liveness unlock to the other gates
	// (kiosk/unlock.go); nil: it clears this gate's memory only.
	LockoutSite LockoutSite
	// Liveness is the presentation-attack check (kiosk/liveness.go); nil
	// means none, whatever policy.liveness says (a warning at start).
	Liveness LivenessChecker
	// Badges reads badge QR codes while the gate is idle (kiosk/badge.go);
	// nil: no badge scanning.
	Badges BadgeScanner
	// Indicator shows granted, denied and error on lamps and a buzzer
	// (kiosk/indicator.go); nil: none.
	Indicator Indicator
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now (tests use testing/synctest for timers).
	Now func() time.Time
	// OnHealth is called after each self-test, from the health goroutine
	// (the daemon pings the systemd watchdog from it). Must not block.
	OnHealth func(Health)
	// Version is shown on /healthz.
	Version string
}
