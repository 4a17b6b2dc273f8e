package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/facegate/facegate/internal/mqttrules"
	"github.com/facegate/facegate/record"
)

// Options configure a Client. Zero durations and sizes take the defaults
// written next to them.
type Options struct {
	// URLs of the broker, tried in order: tcp://, ssl://, ws://, wss://.
	URLs []string
	// ClientID keys the persistent session on the broker; required.
	ClientID string
	Username string
	Password string
	// TLS is used for ssl:// and wss:// URLs (nil: system roots).
	TLS *tls.Config

	KeepAlive      time.Duration // 30s
	ConnectTimeout time.Duration // 10s
	// WriteTimeout bounds each write to the broker (10s). A publish caught
	// by a connection loss can block in paho this long before Run
	// reconnects (Connected reports false before).
	WriteTimeout time.Duration
	// ReconnectMin (1s) doubles up to ReconnectMax, with jitter; a wait
	// ends early once a broker port seen closed accepts TCP again.
	ReconnectMin time.Duration
	ReconnectMax time.Duration // 60s
	// AckTimeout: a connection whose oldest event waits longer than this for
	// its PUBACK is dropped and made again (30s).
	AckTimeout time.Duration

	// Prefix of every topic, e.g. facegate/<site>/<gate>; required.
	Prefix string
	// Site and Gate fill events that lack them and name the Home Assistant device.
	Site, Gate string
	// Version is shown as the Home Assistant device's software version.
	Version string

	// OutboxPath is the durable queue file; required.
	OutboxPath      string
	OutboxMaxEvents int   // 100,000
	OutboxMaxBytes  int64 // 256 MiB
	// Window is how many events may wait for their PUBACK at once (256).
	Window int

	// SubmissionID is applied to every event's submission_id (default hash).
	SubmissionID record.Privacy

	// Identify subscribes to <prefix>/cmd/identify.
	Identify bool
	// Open enables <prefix>/cmd/open when Open.Enabled. Open.MaxSkew also
	// bounds the age of an identify that carries a timestamp.
	Open OpenOptions
	// HomeAssistant enables MQTT discovery when HomeAssistant.Enabled.
	HomeAssistant HomeAssistantOptions
	// Zones enables the site transport when Zones.Enabled (config
	// section zones:, docs/site.md).
	Zones SiteOptions

	// Clock is the time source for command windows and timestamps.
	Clock  Clock
	Logger *slog.Logger
}

// OpenOptions configure the remote unlock command.
type OpenOptions struct {
	Enabled bool
	// Secret is the shared HMAC-SHA256 key, at least
	// mqttrules.MinOpenSecret (16) bytes.
	Secret []byte
	// MaxSkew is the allowed distance between the command's timestamp and
	// the gate's clock (30s).
	MaxSkew time.Duration
	// ReplayPath is the file that remembers accepted commands across
	// restarts (default: ReplayFileName beside the outbox; facegate puts
	// it in state_dir).
	ReplayPath string
}

// HomeAssistantOptions configure MQTT discovery.
type HomeAssistantOptions struct {
	Enabled bool
	// DiscoveryPrefix is Home Assistant's (homeassistant).
	DiscoveryPrefix string
	// Door announces the door binary sensor: set it only when a door
	// input is wired, or the entity stays "unknown" for ever.
	Door bool
	// ConfigurationURL is the device's link in Home Assistant (the kiosk
	// page, e.g. http://gate-north.lan:8080/); omitted when empty.
	ConfigurationURL string
}

func (o *Options) setDefaults() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, a...))
	}
	if len(o.URLs) == 0 {
		return bad("no broker URL")
	}
	for _, s := range o.URLs {
		if _, _, err := mqttrules.BrokerURL(s); err != nil {
			return bad("%v", err)
		}
	}
	if o.ClientID == "" {
		return bad("no client id")
	}
	if o.Prefix == "" || strings.ContainsAny(o.Prefix, "+#") || strings.HasSuffix(o.Prefix, "/") {
		return bad("prefix %q must be a topic without wildcards or trailing '/'", o.Prefix)
	}
	if o.OutboxPath == "" {
		return bad("no outbox path")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAlive, 30*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.ReconnectMin, time.Second)
	def(&o.ReconnectMax, time.Minute)
	def(&o.AckTimeout, 30*time.Second)
	def(&o.Open.MaxSkew, 30*time.Second)
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.OutboxMaxEvents <= 0 {
		o.OutboxMaxEvents = 100000
	}
	if o.OutboxMaxBytes <= 0 {
		o.OutboxMaxBytes = 256 << 20
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.Window > 10000 {
		return bad("window %d is more than 10000", o.Window)
	}
	if o.SubmissionID == "" {
		o.SubmissionID = record.PrivacyHash
	}
	if !o.SubmissionID.Valid() {
		return bad("submission id privacy %q is not plain, hash or omit", o.SubmissionID)
	}
	if o.Open.Enabled && len(o.Open.Secret) < mqttrules.MinOpenSecret {
		return bad("cmd/open is enabled but its secret is %d bytes (at least %d needed)", len(o.Open.Secret), mqttrules.MinOpenSecret)
	}
	if o.Open.ReplayPath == "" {
		o.Open.ReplayPath = filepath.Join(filepath.Dir(o.OutboxPath), ReplayFileName)
	}
	if o.HomeAssistant.DiscoveryPrefix == "" {
		o.HomeAssistant.DiscoveryPrefix = "homeassistant"
	}
	if err := o.Zones.setDefaults(o); err != nil {
		return bad("site: %v", err)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func (s *SiteOptions) setDefaults(o *Options) error {
	if !s.Enabled {
		return nil
	}
	if s.Topic == "" || strings.ContainsAny(s.Topic, "+#") || strings.HasSuffix(s.Topic, "/") {
		return fmt.Errorf("topic %q must be a topic without wildcards or trailing '/'", s.Topic)
	}
	if gate, ok := strings.CutPrefix(o.Prefix, s.Topic+"/"); !ok || gate == "" || strings.Contains(gate, "/") {
		return fmt.Errorf("the prefix %q must be %s/<gate> with zones on", o.Prefix, s.Topic)
	}
	if s.Handler == nil {
		return errors.New("no handler")
	}
	if s.Commands {
		if len(s.Secret) == 0 {
			s.Secret = o.Open.Secret
		}
		if len(s.Secret) < mqttrules.MinOpenSecret {
			return fmt.Errorf("site commands are enabled but their secret is %d bytes (at least %d needed)", len(s.Secret), mqttrules.MinOpenSecret)
		}
		if s.CommandOutboxPath == "" {
			s.CommandOutboxPath = filepath.Join(filepath.Dir(o.OutboxPath), SiteCommandsFileName)
		}
	}
	if s.SnapshotInterval <= 0 {
		s.SnapshotInterval = 2 * time.Second
	}
	if s.SnapshotRate <= 0 {
		s.SnapshotRate = 32 << 10
	}
	if s.SnapshotWindow <= 0 {
		s.SnapshotWindow = 2*s.SnapshotInterval + time.Second
	}
	if s.Resync == 0 {
		s.Resync = 10 * time.Minute
	}
	if s.Refresh == 0 {
		s.Refresh = time.Minute
	}
	if s.Queue <= 0 {
		s.Queue = 4096
	}
	for _, z := range s.OccupancySensors {
		if err := validName(z, maxZoneName); err != nil || z == "" {
			return fmt.Errorf("zone %q must be 1 to %d bytes of printable text", z, maxZoneName)
		}
	}
	return nil
}
