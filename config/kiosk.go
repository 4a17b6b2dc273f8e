package config

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kiosk is the local web UI and the periodic self-test.
type Kiosk struct {
	// Listen is the address of the kiosk page, /metrics and the API:
	// host:port, port 0..65535 (0 picks a free one). The host must be
	// loopback (127.0.0.1, ::1, localhost) unless AllowRemote is set.
	Listen string `yaml:"listen"`
	// AllowRemote permits a Listen address reachable from other machines
	// (0.0.0.0, ":8080", a LAN address or host name). The kiosk speaks plain
	// HTTP: the page, /metrics and the identify token of POST /api/identify
	// then travel in clear, so the daemon logs a warning at start.
	AllowRemote bool `yaml:"allow_remote"`
	// Title is shown at the top of the kiosk page.
	Title string `yaml:"title"`
	// HealthInterval is the period of the self-test (camera, detector, API,
	// broker) behind /healthz and the published health value.
	HealthInterval time.Duration `yaml:"health_interval"`
	// MaxDetectorTime: a slower face detection makes the health "degraded".
	MaxDetectorTime time.Duration `yaml:"max_detector_time"`
	// MinFreeMB: less free space (MiB) than this on the state directory's
	// file system (or the MQTT outbox's, when another) makes the health
	// "degraded" and alerts; 0 turns it off.
	MinFreeMB int `yaml:"min_free_mb"`
	// ShowName shows the worker's roster display name on the screen (the
	// greeting and the result). Off by default: anyone passing sees it.
	ShowName bool `yaml:"show_name"`
	// AllowedHosts are extra names the page may be reached by (the Host
	// header, without port), e.g. the Pi's mDNS name. IP addresses,
	// localhost and the host of kiosk.listen are always accepted; any other
	// name is refused, which stops DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// RemotePreview serves the camera preview /stream.mjpg to clients
	// other than this machine (off: loopback only, whatever kiosk.listen).
	RemotePreview bool `yaml:"remote_preview"`
	// Open is POST /api/open, the remote unlock over HTTP (Home
	// Assistant's rest_command); it also guards POST /api/liveness/unlock.
	Open HTTPOpen `yaml:"open"`
}

// HTTPOpen is POST /api/open: off by default; a bearer token of its own;
// accepted only from loopback (a TLS reverse proxy on the Pi), rate-limited.
type HTTPOpen struct {
	Enabled bool   `yaml:"enabled"`
	Token   Secret `yaml:"token"`
	// PerMinute bounds the requests (right or wrong token) per minute.
	PerMinute int `yaml:"per_minute"`
}

func (k *Kiosk) setDefaults() {
	k.Listen = "127.0.0.1:8080"
	k.Title = "Face check"
	k.HealthInterval = 30 * time.Second
	k.MaxDetectorTime = 500 * time.Millisecond
	k.MinFreeMB = 50
	k.Open.PerMinute = 6
}

func (k *Kiosk) validate() error {
	host, port, err := net.SplitHostPort(k.Listen)
	if err != nil {
		return fieldError("kiosk.listen", "%q is not host:port (e.g. 127.0.0.1:8080)", k.Listen)
	}
	if n, err := strconv.Atoi(port); err != nil || !isDigits(port) || n > 65535 {
		return fieldError("kiosk.listen", "%q: port %q is not a number from 0 to 65535", k.Listen, port)
	}
	if host != "" && !validHost(host) {
		return fieldError("kiosk.listen", "%q: %q is not an IP address or a host name", k.Listen, host)
	}
	if k.Remote() && !k.AllowRemote {
		return fieldError("kiosk.listen", "%q is reachable from other machines, and the kiosk speaks plain HTTP (the identify token would travel in clear): listen on 127.0.0.1, or set kiosk.allow_remote: true", k.Listen)
	}
	if len(k.Title) > 80 {
		return fieldError("kiosk.title", "must be at most 80 characters")
	}
	if err := between("kiosk.health_interval", k.HealthInterval, time.Second, time.Hour); err != nil {
		return err
	}
	if err := between("kiosk.max_detector_time", k.MaxDetectorTime, time.Millisecond, 10*time.Second); err != nil {
		return err
	}
	if k.MinFreeMB < 0 || k.MinFreeMB > 1<<20 {
		return fieldError("kiosk.min_free_mb", "%d must be between 0 (check off) and 1048576", k.MinFreeMB)
	}
	for _, h := range k.AllowedHosts {
		if !hostName.MatchString(strings.TrimSuffix(h, ".")) {
			return fieldError("kiosk.allowed_hosts", "%q is not a host name (letters, digits, '-' and '.', no port)", h)
		}
	}
	if err := between("kiosk.open.per_minute", k.Open.PerMinute, 1, 600); err != nil {
		return err
	}
	return nil
}

// httpOpenTokenMinLen: the open token unlocks the gate.
const httpOpenTokenMinLen = 24

// validateSecrets runs after secrets are resolved.
func (k *Kiosk) validateSecrets(identify Secret) error {
	if !k.Open.Enabled {
		return nil
	}
	if len(k.Open.Token.Value()) < httpOpenTokenMinLen {
		return fieldError("kiosk.open.token", "kiosk.open is enabled: a token of at least %d characters is required (FACEGATE_OPEN_TOKEN, token.file or the systemd credential facegate-open-token)", httpOpenTokenMinLen)
	}
	if why := guessable(k.Open.Token.Value()); why != "" {
		return fieldError("kiosk.open.token", "is guessable: it %s; use a random one (openssl rand -hex 16)", why)
	}
	if identify.IsSet() && identify.Value() == k.Open.Token.Value() {
		return fieldError("kiosk.open.token", "must differ from identity.http.token (whoever may identify must not be able to open)")
	}
	return nil
}

// Remote reports whether Listen is reachable beyond this machine: any host
// that is not loopback, and an empty host or 0.0.0.0 (every interface).
func (k *Kiosk) Remote() bool {
	host, _, err := net.SplitHostPort(k.Listen)
	return err != nil || !loopbackHost(host)
}

// hostName is a DNS name: dot-separated labels of letters, digits and '-'.
var hostName = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return len(h) <= 253 && hostName.MatchString(h)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Identity is how a worker tells the gate who they are.
type Identity struct {
	// Timeout is how long an identified worker has to show a face.
	Timeout time.Duration `yaml:"timeout"`
	// CaptureTimeout bounds the selection once a face is in view (the
	// capture window plus the time to encode the crop).
	CaptureTimeout time.Duration `yaml:"capture_timeout"`
	// (How the submission id appears in events and the audit log is
	// mqtt.submission_id, used whether or not MQTT is enabled.)
	HTTP   HTTPIdentity `yaml:"http"`
	QR     QRIdentity   `yaml:"qr"`
	Roster Roster       `yaml:"roster"`
	Fixed  Fixed        `yaml:"fixed"`
}

// HTTPIdentity is POST /api/identify.
type HTTPIdentity struct {
	Enabled bool   `yaml:"enabled"`
	Token   Secret `yaml:"token"`
}

// QRIdentity is a badge QR code held up to the camera (docs/kiosk.md has
// the payload format).
type QRIdentity struct {
	Enabled bool `yaml:"enabled"`
	// AllowSubmission accepts "FG1:S:<submission id>" payloads; with it off
	// only roster badges ("FG1:B:<badge id>") identify.
	AllowSubmission bool `yaml:"allow_submission"`
}

// Roster maps badge ids to workers.
type Roster struct {
	// File is a CSV with the header badge_id,submission_id,user_id,display_name.
	File string `yaml:"file"`
}

// Fixed is the single-user kiosk: a session starts whenever a face is seen.
type Fixed struct {
	SubmissionID string `yaml:"submission_id"`
	UserID       string `yaml:"user_id"`
	DisplayName  string `yaml:"display_name"`
}

func (i *Identity) setDefaults() {
	i.Timeout = 10 * time.Second
	i.CaptureTimeout = 5 * time.Second
	i.QR.Enabled = true
	i.QR.AllowSubmission = true
}

// idPattern is the character set of submission, user and badge ids
// (kiosk.ValidID says the same; kept here so that config does not import kiosk).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (i *Identity) validate() error {
	if err := between("identity.timeout", i.Timeout, time.Millisecond, 10*time.Minute); err != nil {
		return err
	}
	if err := between("identity.capture_timeout", i.CaptureTimeout, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if f := i.Fixed; f.SubmissionID != "" || f.UserID != "" || f.DisplayName != "" {
		if !idPattern.MatchString(f.SubmissionID) {
			return fieldError("identity.fixed.submission_id", "%q must be 1-128 characters of letters, digits, '.', '_' or '-'", f.SubmissionID)
		}
		if f.UserID != "" && !idPattern.MatchString(f.UserID) {
			return fieldError("identity.fixed.user_id", "%q must be 1-128 characters of letters, digits, '.', '_' or '-'", f.UserID)
		}
		if len(f.DisplayName) > 64 {
			return fieldError("identity.fixed.display_name", "must be at most 64 characters")
		}
	}
	return nil
}

// httpTokenMinLen keeps guessable tokens out of production.
const httpTokenMinLen = 16

// validateSecrets runs after secrets are resolved.
func (i *Identity) validateSecrets() error {
	if i.HTTP.Enabled && len(i.HTTP.Token.Value()) < httpTokenMinLen {
		return fieldError("identity.http.token", "identity.http is enabled: a token of at least %d characters is required (FACEGATE_HTTP_TOKEN, token.file or the systemd credential facegate-http-token)", httpTokenMinLen)
	}
	if why := guessable(i.HTTP.Token.Value()); i.HTTP.Enabled && why != "" {
		return fieldError("identity.http.token", "is guessable: it %s; use a random one (openssl rand -hex 16)", why)
	}
	return nil
}

// Policy is the gate's local rules on top of the API's verdict.
type Policy struct {
	// MaxAge: an approval for a frame captured longer ago than this does not open.
	MaxAge time.Duration `yaml:"max_age"`
	// Cooldown after each decision before the next session.
	Cooldown time.Duration `yaml:"cooldown"`
	// MinScores are local minimums (0..100); 0 means no local minimum.
	// A score that is required here but absent from the answer denies.
	MinScores MinScores `yaml:"min_scores"`
	// MaxFaces is the tailgating guard: more faces than this at capture
	// denies without calling the API (0 disables the guard).
	MaxFaces     int          `yaml:"max_faces"`
	AntiPassback AntiPassback `yaml:"anti_passback"`
	Attempts     Attempts     `yaml:"attempts"`
	// RequireBroker denies while the MQTT broker is disconnected (events
	// are queued on disk either way).
	RequireBroker bool `yaml:"require_broker"`
	// OnRecordFailure is what a grant does when its decision cannot be
	// written durably (audit log and outbox) before the relay would move:
	// "deny" (the default: no opening without a record) or "open" (open
	// anyway and alert; for sites where egress matters more than the record).
	OnRecordFailure string `yaml:"on_record_failure"`
	// Liveness is the presentation-attack check: off, passive (a still
	// picture fails), challenge (the worker turns the head on request;
	// docs/liveness.md) or shadow (the challenge runs and its verdict is
	// recorded, never enforced: a trial before challenge). In passive and
	// challenge a failure is a hard denial.
	Liveness string `yaml:"liveness"`
	// LivenessLockout: Max liveness failures for one identity within Per
	// lock it out (denied without a check) until Per has passed since the
	// last failure, and alert the operator. Max 0 disables the lockout.
	LivenessLockout Attempts `yaml:"liveness_lockout"`
}

// The values of Policy.OnRecordFailure.
const (
	RecordFailureDeny = "deny"
	RecordFailureOpen = "open"
)

// MinScores are the FaceAuth score names.
type MinScores struct {
	FaceSimilarity float64 `yaml:"face_similarity"`
	Occluded       float64 `yaml:"occluded"`
	FaceCover      float64 `yaml:"face_cover"`
	HeadCover      float64 `yaml:"head_cover"`
}

// AntiPassback refuses (hard) or flags (soft) a second grant for the same
// worker within Window.
type AntiPassback struct {
	// Mode is off, soft or hard.
	Mode   string        `yaml:"mode"`
	Window time.Duration `yaml:"window"`
}

// Attempts limits sessions per submission id: at most Max within Per.
type Attempts struct {
	Max int           `yaml:"max"`
	Per time.Duration `yaml:"per"`
}

func (p *Policy) setDefaults() {
	p.MaxAge = 5 * time.Second
	p.Cooldown = 3 * time.Second
	p.MaxFaces = 1
	p.AntiPassback.Mode = "off"
	p.AntiPassback.Window = 5 * time.Minute
	p.Attempts.Max = 5
	p.Attempts.Per = 5 * time.Minute
	p.OnRecordFailure = RecordFailureDeny
	// Off until the challenge is shown to refuse few enough real workers
	// (docs/liveness.md "Why off by default"); off logs a warning at start.
	p.Liveness = "off"
	p.LivenessLockout.Max = 3
	p.LivenessLockout.Per = 10 * time.Minute
}

func (p *Policy) validate() error {
	if err := between("policy.max_age", p.MaxAge, time.Millisecond, 5*time.Minute); err != nil {
		return err
	}
	if err := between("policy.cooldown", p.Cooldown, 0, time.Minute); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		v    float64
	}{
		{"face_similarity", p.MinScores.FaceSimilarity}, {"occluded", p.MinScores.Occluded},
		{"face_cover", p.MinScores.FaceCover}, {"head_cover", p.MinScores.HeadCover},
	} {
		if !(s.v >= 0 && s.v <= 100) { // written so that NaN fails too
			return fieldError("policy.min_scores."+s.name, "%g must be between 0 and 100", s.v)
		}
	}
	if p.MaxFaces < 0 || p.MaxFaces > 20 {
		return fieldError("policy.max_faces", "%d must be between 0 (guard off) and 20", p.MaxFaces)
	}
	if err := enum("policy.anti_passback.mode", p.AntiPassback.Mode, "off", "soft", "hard"); err != nil {
		return err
	}
	if p.AntiPassback.Mode != "off" {
		if err := between("policy.anti_passback.window", p.AntiPassback.Window, time.Millisecond, 24*time.Hour); err != nil {
			return err
		}
	}
	if p.Attempts.Max < 0 || p.Attempts.Max > 1000 {
		return fieldError("policy.attempts.max", "%d must be between 0 (no limit) and 1000", p.Attempts.Max)
	}
	if p.Attempts.Max > 0 {
		if err := between("policy.attempts.per", p.Attempts.Per, time.Millisecond, 24*time.Hour); err != nil {
			return err
		}
	}
	if err := enum("policy.on_record_failure", p.OnRecordFailure, RecordFailureDeny, RecordFailureOpen); err != nil {
		return err
	}
	if err := enum("policy.liveness", p.Liveness, "off", "passive", "challenge", "shadow"); err != nil {
		return err
	}
	if p.LivenessLockout.Max < 0 || p.LivenessLockout.Max > 100 {
		return fieldError("policy.liveness_lockout.max", "%d must be between 0 (no lockout) and 100", p.LivenessLockout.Max)
	}
	if p.LivenessLockout.Max > 0 {
		if err := between("policy.liveness_lockout.per", p.LivenessLockout.Per, time.Millisecond, 24*time.Hour); err != nil {
			return err
		}
	}
	return nil
}

// Audit is the local JSON-lines decision log.
type Audit struct {
	// MaxSizeMB rotates audit.jsonl when it would grow past this size.
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxFiles is how many files are kept, the current one included.
	MaxFiles int `yaml:"max_files"`
	// SaveCrops keeps the JPEG sent to the API (debugging; off by default).
	SaveCrops bool `yaml:"save_crops"`
	// CropDays: saved crops older than this are deleted.
	CropDays int `yaml:"crop_days"`
	// SaveLivenessClips keeps each liveness check's camera frames as a clip
	// with its verdict in <state_dir>/liveness-clips, to measure the check at
	// this gate (docs/liveness.md; faces of workers: off by default).
	SaveLivenessClips bool `yaml:"save_liveness_clips"`
	// LivenessClipDays: saved clips older than this are deleted.
	LivenessClipDays int `yaml:"liveness_clip_days"`
	// LivenessClipMaxMB: past this the oldest saved clips are deleted.
	LivenessClipMaxMB int `yaml:"liveness_clip_max_mb"`
}

func (a *Audit) setDefaults() {
	a.MaxSizeMB = 10
	a.MaxFiles = 5
	a.CropDays = 7
	a.LivenessClipDays = 7
	a.LivenessClipMaxMB = 1024
}

func (a *Audit) validate() error {
	if err := between("audit.max_size_mb", a.MaxSizeMB, 1, 1024); err != nil {
		return err
	}
	if err := between("audit.max_files", a.MaxFiles, 1, 100); err != nil {
		return err
	}
	if err := between("audit.crop_days", a.CropDays, 1, 90); err != nil {
		return err
	}
	if err := between("audit.liveness_clip_days", a.LivenessClipDays, 1, 90); err != nil {
		return err
	}
	if err := between("audit.liveness_clip_max_mb", a.LivenessClipMaxMB, 10, 1<<20); err != nil {
		return err
	}
	return nil
}
