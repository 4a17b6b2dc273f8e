package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/record"
)

// OptionsFromConfig turns the loaded configuration (its mqtt section, site,
// gate and state_dir) into Options, reading the TLS files. version names
// the software in Home Assistant.
func OptionsFromConfig(c *config.Config, version string, log *slog.Logger) (Options, error) {
	m := &c.MQTT
	o := Options{
		URLs:            m.URLs,
		ClientID:        m.ClientIDFor(c.Site, c.Gate),
		Username:        m.Username,
		Password:        m.Password.Value(),
		KeepAlive:       m.KeepAlive,
		ConnectTimeout:  m.ConnectTimeout,
		ReconnectMin:    m.Reconnect.Min,
		ReconnectMax:    m.Reconnect.Max,
		Prefix:          m.PrefixFor(c.Site, c.Gate),
		Site:            c.Site,
		Gate:            c.Gate,
		Version:         version,
		OutboxPath:      m.OutboxPathFor(c.StateDir),
		OutboxMaxEvents: m.Outbox.MaxEvents,
		OutboxMaxBytes:  m.Outbox.MaxBytes,
		SubmissionID:    record.Privacy(m.SubmissionID),
		Identify:        m.Commands.Identify,
		Open: OpenOptions{
			Enabled: m.Commands.Open.Enabled,
			Secret:  []byte(m.Commands.Open.Secret.Value()),
			MaxSkew: m.Commands.Open.MaxSkew,
			// In state_dir even when the outbox is elsewhere: it is what
			// stops a captured command from opening again after a restart.
			ReplayPath: filepath.Join(c.StateDir, replayFileName),
		},
		HomeAssistant: HomeAssistantOptions{
			Enabled:          m.HomeAssistant.Enabled,
			DiscoveryPrefix:  m.HomeAssistant.DiscoveryPrefix,
			Door:             c.IO.Door.Line != "",
			ConfigurationURL: m.HomeAssistant.ConfigurationURL,
		},
		Logger: log,
	}
	if o.Open.Enabled && len(o.Open.Secret) < 16 {
		return o, fmt.Errorf("%w: mqtt.commands.open.secret: required when open is enabled, at least 16 bytes (FACEGATE_OPEN_SECRET, a file or a systemd credential)", ErrInvalidOptions)
	}
	if m.TLS.CA != "" || m.TLS.Cert != "" || m.TLS.ServerName != "" {
		t, err := LoadTLS(m.TLS.CA, m.TLS.Cert, m.TLS.Key, m.TLS.ServerName)
		if err != nil {
			return o, err
		}
		o.TLS = t
	}
	return o, nil
}

// LoadTLS builds a client TLS configuration: ca (PEM file, empty for the
// system roots), an optional client certificate and key, and the server
// name to verify (empty: the host of the URL).
func LoadTLS(ca, cert, key, serverName string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: mqtt.tls.ca: %w", ErrInvalidOptions, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: mqtt.tls.ca: %s holds no PEM certificate", ErrInvalidOptions, ca)
		}
		t.RootCAs = pool
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: mqtt.tls.cert/key: %w", ErrInvalidOptions, err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}
