package config

import "net/url"

// MQTT is the broker connection, topics and commands.
type MQTT struct {
	Enabled bool `yaml:"enabled"`
	// URLs are tried in order: tcp://, ssl://, ws://, wss://.
	URLs     []string `yaml:"urls"`
	ClientID string   `yaml:"client_id"`
	Username string   `yaml:"username"`
	Password Secret   `yaml:"password"`
	// Prefix defaults to facegate/<site>/<gate>.
	Prefix   string       `yaml:"prefix"`
	Commands MQTTCommands `yaml:"commands"`
}

// MQTTCommands are the inbound command topics.
type MQTTCommands struct {
	Identify bool        `yaml:"identify"`
	Open     OpenCommand `yaml:"open"`
}

// OpenCommand is the remote unlock: off by default, HMAC-signed when on.
type OpenCommand struct {
	Enabled bool   `yaml:"enabled"`
	Secret  Secret `yaml:"secret"`
}

func (m *MQTT) setDefaults() {
	m.Commands.Identify = true
}

func (m *MQTT) validate() error {
	if !m.Enabled {
		return nil
	}
	if len(m.URLs) == 0 {
		return fieldError("mqtt.urls", "at least one broker URL is needed when mqtt is enabled")
	}
	for _, s := range m.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fieldError("mqtt.urls", "%q is not a broker URL", s)
		}
		switch u.Scheme {
		case "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss":
		default:
			return fieldError("mqtt.urls", "%q: scheme must be tcp, ssl, ws or wss", s)
		}
	}
	return nil
}
