package kiosk

import (
	"errors"
	"fmt"
	"time"

	"github.com/facegate/facegate/record"
)

// Options are the kiosk's settings: plain values that cmd/facegate maps
// from the configuration file (site, gate, state_dir and the kiosk,
// identity, policy and audit sections, with io.relay.pulse, api.timeout,
// camera.frozen_after and mqtt.submission_id). The file is validated by
// config; New refuses only what the kiosk could misread (an unknown mode).
// Zero values are not defaulted.
type Options struct {
	// Site and Gate name the gate in events and on the page.
	Site, Gate string
	// StateDir holds the event sequence, the anti-passback memory, audit/
	// and crops/; required.
	StateDir string
	// OutboxDir is the MQTT outbox's directory ("" without MQTT): when it
	// is on another file system, the disk check measures that one too.
	OutboxDir string
	// RelayPulse is how long a grant's pulse lasts (io.relay.pulse).
	RelayPulse time.Duration
	// APITimeout bounds one FaceAuth call (api.timeout).
	APITimeout time.Duration
	// FrozenAfter: a camera that delivered no new frame for this long is
	// unhealthy (camera.frozen_after).
	FrozenAfter time.Duration
	// Privacy is how events and the audit log carry the submission id
	// (mqtt.submission_id, whether or not MQTT is enabled).
	Privacy record.Privacy

	Audit AuditOptions
	// Page, Identity and Policy are what Reload may change (Page.Listen
	// excepted).
	Page     PageOptions
	Identity IdentityOptions
	Policy   PolicyOptions
	// Zones is the site part of the kiosk (mode muster, the /site page's
	// and the site admin API's tokens); it needs a restart to change.
	Zones SiteOptions
}

// AuditOptions are the local JSON-lines decision log.
type AuditOptions struct {
	MaxSizeMB int  // rotate audit.jsonl past this size
	MaxFiles  int  // files kept, the current one included
	SaveCrops bool // keep the JPEG sent to the API in crops/
	CropDays  int  // saved crops older than this are deleted
}

// PageOptions are the local web page, its HTTP endpoints and the self-test
// (the kiosk section).
type PageOptions struct {
	// Listen is the page's address; its host is always an allowed Host.
	Listen string
	// Title is shown at the top of the page.
	Title string
	// HealthInterval is the period of the self-test.
	HealthInterval time.Duration
	// MaxDetectorTime: a slower face detection makes the health degraded.
	MaxDetectorTime time.Duration
	// MinFreeMB: less free space (MiB) on the state directory's file
	// system (or OutboxDir's) makes the health degraded; 0 turns the
	// check off.
	MinFreeMB int
	// ShowName shows the worker's roster display name on the screen.
	ShowName bool
	// AllowedHosts are extra names the page may be reached by (Host header).
	AllowedHosts []string
	// RemotePreview serves /stream.mjpg to clients other than this machine.
	RemotePreview bool
	// Open is POST /api/open; it also guards POST /api/liveness/unlock.
	Open HTTPOpenOptions
}

// HTTPOpenOptions are POST /api/open, the remote unlock over HTTP.
type HTTPOpenOptions struct {
	Enabled   bool
	Token     string // the bearer token
	PerMinute int    // requests (right or wrong token) per minute
}

// IdentityOptions are how a worker tells the gate who they are.
type IdentityOptions struct {
	// Timeout is how long an identified worker has to show a face.
	Timeout time.Duration
	// CaptureTimeout bounds the selection once a face is in view.
	CaptureTimeout time.Duration
	// HTTP is POST /api/identify.
	HTTP HTTPIdentifyOptions
	// QR is the badge QR code held up to the camera.
	QR QROptions
	// RosterFile is the badge roster CSV ("" for none).
	RosterFile string
	// Fixed is the single-user kiosk: a session starts whenever a face is seen.
	Fixed FixedIdentity
}

// HTTPIdentifyOptions are POST /api/identify.
type HTTPIdentifyOptions struct {
	Enabled bool
	Token   string // the bearer token
}

// QROptions are the badge QR codes.
type QROptions struct {
	Enabled bool
	// AllowSubmission accepts "FG1:S:<submission id>" payloads; with it off
	// only roster badges identify.
	AllowSubmission bool
}

// FixedIdentity is the worker of a single-user kiosk (none when SubmissionID is empty).
type FixedIdentity struct {
	SubmissionID string
	UserID       string
	DisplayName  string
}

// PolicyOptions are the gate's local rules on top of the API's verdict.
type PolicyOptions struct {
	// MaxAge: an approval for a frame captured longer ago does not open.
	MaxAge time.Duration
	// Cooldown after each decision before the next session.
	Cooldown time.Duration
	// MinScores are local minimums (0..100; 0: none). A required score
	// absent from the answer denies.
	MinScores MinScores
	// MaxFaces is the tailgating guard (0 disables it).
	MaxFaces     int
	AntiPassback AntiPassback
	// Attempts limits sessions per submission id.
	Attempts Limit
	// RequireBroker denies while the broker is disconnected.
	RequireBroker bool
	// OnRecordFailure is RecordFailureDeny or RecordFailureOpen.
	OnRecordFailure string
	// Liveness is LivenessOff, LivenessPassive, LivenessChallenge or
	// LivenessShadow.
	Liveness string
	// LivenessLockout: Max failures within Per lock an identity out.
	LivenessLockout Limit
}

// The values of PolicyOptions.OnRecordFailure: a grant whose decision
// cannot be written durably is denied, or opens anyway with an alert.
const (
	RecordFailureDeny = "deny"
	RecordFailureOpen = "open"
)

// MinScores are local minimums of the FaceAuth scores.
type MinScores struct {
	FaceSimilarity float64
	Occluded       float64
	FaceCover      float64
	HeadCover      float64
}

// AntiPassback refuses (hard) or flags (soft) a second grant for the same
// worker within Window; Mode off disables it.
type AntiPassback struct {
	Mode   string
	Window time.Duration
}

// Limit is at most Max within Per (Max 0: no limit).
type Limit struct {
	Max int
	Per time.Duration
}

// check refuses what the kiosk would misread; the ranges are config's.
func (o *Options) check() error {
	if o.StateDir == "" {
		return errors.New("kiosk: Options.StateDir is required")
	}
	p := o.Policy
	switch p.AntiPassback.Mode {
	case "off", "soft", "hard":
	default:
		return fmt.Errorf("kiosk: anti-passback mode %q is not off, soft or hard", p.AntiPassback.Mode)
	}
	switch p.OnRecordFailure {
	case RecordFailureDeny, RecordFailureOpen:
	default:
		return fmt.Errorf("kiosk: on_record_failure %q is not deny or open", p.OnRecordFailure)
	}
	switch p.Liveness {
	case LivenessOff, LivenessPassive, LivenessChallenge, LivenessShadow:
	default:
		return fmt.Errorf("kiosk: liveness %q is not off, passive, challenge or shadow", p.Liveness)
	}
	if !o.Privacy.Valid() {
		return fmt.Errorf("kiosk: submission id privacy %q is not plain, hash or omit", o.Privacy)
	}
	return nil
}
