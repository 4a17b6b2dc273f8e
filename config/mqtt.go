package config

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/internal/mqttrules"
	"github.com/facegate/facegate/internal/redact"
)

// MQTT is the broker connection, topics, outbox and commands.
type MQTT struct {
	Enabled bool `yaml:"enabled"`
	// URLs are tried in order: tcp://, ssl://, ws://, wss://.
	URLs []string `yaml:"urls"`
	// ClientID defaults to facegate-<site>-<gate> (see ClientIDFor). It must
	// be unique on the broker: the persistent session is keyed by it.
	ClientID string  `yaml:"client_id"`
	Username string  `yaml:"username"`
	Password Secret  `yaml:"password"`
	TLS      MQTTTLS `yaml:"tls"`
	// KeepAlive is the MQTT keepalive; a dead link is noticed after ~1.5x it.
	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	Reconnect      Backoff       `yaml:"reconnect"`
	// Prefix defaults to facegate/<site>/<gate> (see PrefixFor).
	Prefix string     `yaml:"prefix"`
	Outbox MQTTOutbox `yaml:"outbox"`
	// SubmissionID is how an event carries the worker's KYC submission id:
	// plain, hash ("sha256:<hex>") or omit.
	SubmissionID  string        `yaml:"submission_id"`
	Commands      MQTTCommands  `yaml:"commands"`
	HomeAssistant HomeAssistant `yaml:"home_assistant"`
}

// MQTTTLS is used with ssl:// and wss:// URLs. Empty CA means the system pool.
type MQTTTLS struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// Backoff is the reconnect delay: doubles from Min to Max, with jitter.
type Backoff struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// MQTTOutbox is the durable on-disk queue of decision events.
type MQTTOutbox struct {
	// Path defaults to <state_dir>/mqtt-outbox.log (see OutboxPathFor).
	Path string `yaml:"path"`
	// MaxEvents bounds the queue; a decision that does not fit is refused
	// (and stays in the audit log).
	MaxEvents int `yaml:"max_events"`
	// MaxBytes bounds the live size of the queue on disk.
	MaxBytes int64 `yaml:"max_bytes"`
}

// MQTTCommands are the inbound command topics.
type MQTTCommands struct {
	// Identify subscribes to <prefix>/cmd/identify (badge readers).
	Identify bool        `yaml:"identify"`
	Open     OpenCommand `yaml:"open"`
}

// OpenCommand is the remote unlock: off by default, HMAC-signed when on.
type OpenCommand struct {
	Enabled bool `yaml:"enabled"`
	// Secret is the shared HMAC-SHA256 key (mqttrules.MinOpenSecret bytes; required
	// when enabled, checked once secrets are resolved).
	Secret Secret `yaml:"secret"`
	// MaxSkew is how far a command's timestamp may be from the gate's clock.
	MaxSkew time.Duration `yaml:"max_skew"`
}

// HomeAssistant is MQTT discovery.
type HomeAssistant struct {
	Enabled bool `yaml:"enabled"`
	// DiscoveryPrefix is Home Assistant's discovery prefix.
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// ConfigurationURL is the device's link in Home Assistant, e.g. the
	// kiosk page as Home Assistant's users reach it (optional).
	ConfigurationURL string `yaml:"configuration_url"`
}

func (m *MQTT) setDefaults() {
	m.KeepAlive = 30 * time.Second
	m.ConnectTimeout = 10 * time.Second
	m.Reconnect = Backoff{Min: time.Second, Max: time.Minute}
	m.Outbox.MaxEvents = 100000
	m.Outbox.MaxBytes = 256 << 20
	m.SubmissionID = "hash"
	m.Commands.Identify = true
	m.Commands.Open.MaxSkew = 30 * time.Second
	m.HomeAssistant.DiscoveryPrefix = "homeassistant"
}

// ClientIDFor is the effective client id: the configured one or
// facegate-<site>-<gate>.
func (m *MQTT) ClientIDFor(site, gate string) string {
	if m.ClientID != "" {
		return m.ClientID
	}
	return "facegate-" + site + "-" + gate
}

// PrefixFor is the effective topic prefix: the configured one or
// facegate/<site>/<gate>.
func (m *MQTT) PrefixFor(site, gate string) string {
	if m.Prefix != "" {
		return m.Prefix
	}
	return "facegate/" + site + "/" + gate
}

// OutboxPathFor is the effective outbox file.
func (m *MQTT) OutboxPathFor(stateDir string) string {
	if m.Outbox.Path != "" {
		return m.Outbox.Path
	}
	return strings.TrimRight(stateDir, "/") + "/mqtt-outbox.log"
}

func (m *MQTT) validate() error {
	// Used by the audit log whether or not MQTT is enabled.
	if err := enum("mqtt.submission_id", m.SubmissionID, "plain", "hash", "omit"); err != nil {
		return err
	}
	if !m.Enabled {
		return nil
	}
	if len(m.URLs) == 0 {
		return fieldError("mqtt.urls", "at least one broker URL is needed when mqtt is enabled")
	}
	tlsURL := false
	for _, s := range m.URLs {
		u, isTLS, err := mqttrules.BrokerURL(s)
		if err != nil {
			return fieldError("mqtt.urls", "%v", err)
		}
		tlsURL = tlsURL || isTLS
		// paho dials host:port as written: tcp and ssl have no default port.
		port := u.Port()
		if port == "" && u.Scheme != "ws" && u.Scheme != "wss" {
			return fieldError("mqtt.urls", "%q has no port (e.g. :1883, or :8883 for ssl)", redact.URL(s))
		}
		if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
			return fieldError("mqtt.urls", "%q: port %s is not a number from 1 to 65535", redact.URL(s), port)
		}
	}
	if len(m.ClientID) > 128 || strings.ContainsAny(m.ClientID, "+#/ ") {
		return fieldError("mqtt.client_id", "%q must be at most 128 characters without '+', '#', '/' or spaces", m.ClientID)
	}
	if (m.TLS.Cert == "") != (m.TLS.Key == "") {
		return fieldError("mqtt.tls.cert", "a client certificate needs both cert and key")
	}
	if !tlsURL && (m.TLS.CA != "" || m.TLS.Cert != "") {
		return fieldError("mqtt.tls", "TLS settings are given but no URL is ssl:// or wss://")
	}
	if err := between("mqtt.keepalive", m.KeepAlive, 5*time.Second, 20*time.Minute); err != nil {
		return err
	}
	if err := between("mqtt.connect_timeout", m.ConnectTimeout, time.Second, 5*time.Minute); err != nil {
		return err
	}
	if m.Reconnect.Min <= 0 {
		return fieldError("mqtt.reconnect.min", "must be positive")
	}
	if m.Reconnect.Max < m.Reconnect.Min || m.Reconnect.Max > time.Hour {
		return fieldError("mqtt.reconnect.max", "%s must be between reconnect.min (%s) and 1h", m.Reconnect.Max, m.Reconnect.Min)
	}
	if m.Prefix != "" && !validTopic(m.Prefix) {
		return fieldError("mqtt.prefix", "%q must be a topic without wildcards, empty levels or a leading/trailing '/'", m.Prefix)
	}
	if err := between("mqtt.outbox.max_events", m.Outbox.MaxEvents, 1000, 10_000_000); err != nil {
		return err
	}
	if m.Outbox.MaxBytes < 1<<20 {
		return fieldError("mqtt.outbox.max_bytes", "%d must be at least 1 MiB (1048576)", m.Outbox.MaxBytes)
	}
	if err := between("mqtt.commands.open.max_skew", m.Commands.Open.MaxSkew, time.Second, 5*time.Minute); err != nil {
		return err
	}
	if m.HomeAssistant.Enabled && !validTopic(m.HomeAssistant.DiscoveryPrefix) {
		return fieldError("mqtt.home_assistant.discovery_prefix", "%q must be a topic without wildcards or empty levels", m.HomeAssistant.DiscoveryPrefix)
	}
	if u := m.HomeAssistant.ConfigurationURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fieldError("mqtt.home_assistant.configuration_url", "%q is not an http:// or https:// URL", redact.URL(u))
		}
		// Published retained in the discovery config: every client of
		// the broker reads it.
		// (Compared with the URL as Go writes it: a path redact merely
		// escapes again is no credential.)
		if shown := redact.URL(u); p.User != nil || shown != p.String() {
			return fieldError("mqtt.home_assistant.configuration_url", "%q carries a login or a token, and the link is published (retained) to every client of the broker: give Home Assistant a link without it", shown)
		}
	}
	return nil
}

// validTopic accepts a publish topic: no wildcards, no empty level, not
// starting with '$'.
func validTopic(t string) bool {
	if t == "" || len(t) > 512 || strings.HasPrefix(t, "$") || strings.ContainsAny(t, "+#\x00") {
		return false
	}
	for _, level := range strings.Split(t, "/") {
		if level == "" {
			return false
		}
	}
	return true
}

// validateSecrets runs once the secrets are resolved, so that `config check`
// already refuses a remote unlock without a usable key.
// With zones on the same secret signs the site commands (cmd/evacuate,
// cmd/correct): a set but short one would turn them off without a word.
func (m *MQTT) validateSecrets(zones bool) error {
	n := len(m.Commands.Open.Secret.Value())
	if m.Enabled && m.Commands.Open.Enabled && n < mqttrules.MinOpenSecret {
		return fieldError("mqtt.commands.open.secret", "required when open is enabled, at least %d bytes (FACEGATE_OPEN_SECRET, secret.file or the systemd credential facegate-open-secret)", mqttrules.MinOpenSecret)
	}
	if m.Enabled && zones && n > 0 && n < mqttrules.MinOpenSecret {
		return fieldError("mqtt.commands.open.secret", "with zones on it signs the site commands: at least %d bytes, or unset to turn the site commands off", mqttrules.MinOpenSecret)
	}
	if why := guessable(m.Commands.Open.Secret.Value()); m.Enabled && n > 0 && (m.Commands.Open.Enabled || zones) && why != "" {
		return fieldError("mqtt.commands.open.secret", "is guessable: it %s; use a random one (openssl rand -hex 32)", why)
	}
	return nil
}

// PasswordInClear lists the broker URLs (redacted) that carry a password
// in clear: mqtt.password, or one in the URL itself, over plain tcp:// or
// ws:// to a host other than this machine. Anyone on the path reads it.
// A warning, not an error: sites on a closed network run so.
func (m *MQTT) PasswordInClear() []string {
	if !m.Enabled {
		return nil
	}
	var out []string
	for _, s := range m.URLs {
		u, isTLS, err := mqttrules.BrokerURL(s)
		if err != nil || isTLS || loopbackHost(u.Hostname()) {
			continue
		}
		if _, inURL := u.User.Password(); m.Password.IsSet() || inURL {
			out = append(out, redact.URL(s))
		}
	}
	return out
}
