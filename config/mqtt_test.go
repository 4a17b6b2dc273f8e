package config

import (
	"testing"
	"time"
)

func TestMQTTDefaultsAndDerivedNames(t *testing.T) {
	c, err := Parse("f.yaml", []byte("site: plant-a\ngate: north\nmqtt:\n  enabled: true\n  urls: [tcp://127.0.0.1:1883]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if m.KeepAlive != 30*time.Second || m.Reconnect.Min != time.Second || m.Reconnect.Max != time.Minute ||
		m.Outbox.MaxEvents != 100000 || m.SubmissionID != "hash" || !m.Commands.Identify ||
		m.Commands.Open.Enabled || m.Commands.Open.MaxSkew != 30*time.Second || m.HomeAssistant.DiscoveryPrefix != "homeassistant" {
		t.Fatalf("defaults: %+v", m)
	}
	if got := m.ClientIDFor(c.Site, c.Gate); got != "facegate-plant-a-north" {
		t.Errorf("client id %q", got)
	}
	if got := m.PrefixFor(c.Site, c.Gate); got != "facegate/plant-a/north" {
		t.Errorf("prefix %q", got)
	}
	if got := m.OutboxPathFor("/var/lib/facegate/"); got != "/var/lib/facegate/mqtt-outbox.log" {
		t.Errorf("outbox %q", got)
	}
}

func TestMQTTSecretsResolve(t *testing.T) {
	env := map[string]string{"FACEGATE_MQTT_PASSWORD": "pw-from-env", "FACEGATE_OPEN_SECRET": "0123456789abcdef"}
	yml := "mqtt:\n  enabled: true\n  urls: [ssl://b:8883]\n  username: gate\n  tls: {ca: /etc/ca.pem, server_name: b}\n  commands:\n    open: {enabled: true}\n"
	c, err := Parse("f.yaml", []byte(yml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Password.Value() != "pw-from-env" || c.MQTT.Commands.Open.Secret.Value() != "0123456789abcdef" {
		t.Fatal("secrets not resolved from the environment")
	}
}

func TestMQTTErrors(t *testing.T) {
	const on = "mqtt:\n  enabled: true\n  urls: [tcp://b:1883]\n"
	tests := []struct{ yml, want string }{
		{"mqtt:\n  enabled: true\n", `f.yaml:1: mqtt.urls: at least one broker URL is needed when mqtt is enabled`},
		{"mqtt:\n  enabled: true\n  urls: [http://b]\n", `f.yaml:3: mqtt.urls: "http://b": scheme must be tcp, ssl, ws or wss`},
		{on + "  client_id: a/b\n", `f.yaml:4: mqtt.client_id: "a/b" must be at most 128 characters without '+', '#', '/' or spaces`},
		{"mqtt:\n  enabled: true\n  urls: [ssl://b:8883]\n  tls: {cert: c.pem}\n", `f.yaml:4: mqtt.tls.cert: a client certificate needs both cert and key`},
		{on + "  tls: {ca: ca.pem}\n", `f.yaml:4: mqtt.tls: TLS settings are given but no URL is ssl:// or wss://`},
		{on + "  keepalive: 1s\n", `f.yaml:4: mqtt.keepalive: 1s must be between 5s and 20m`},
		{on + "  reconnect: {min: 10s, max: 5s}\n", `f.yaml:4: mqtt.reconnect.max: 5s must be between reconnect.min (10s) and 1h`},
		{on + "  prefix: facegate/#\n", `f.yaml:4: mqtt.prefix: "facegate/#" must be a topic without wildcards, empty levels or a leading/trailing '/'`},
		{on + "  prefix: /facegate\n", `f.yaml:4: mqtt.prefix: "/facegate" must be a topic without wildcards, empty levels or a leading/trailing '/'`},
		{on + "  outbox: {max_events: 10}\n", `f.yaml:4: mqtt.outbox.max_events: 10 must be between 1000 and 10000000`},
		{on + "  submission_id: blur\n", `f.yaml:4: mqtt.submission_id: "blur" is not plain, hash or omit`},
		{on + "  commands:\n    open: {max_skew: 1h}\n", `f.yaml:5: mqtt.commands.open.max_skew: 1h0m0s must be between 1s and 5m`},
		{on + "  home_assistant: {enabled: true, discovery_prefix: \"ha/+\"}\n", `f.yaml:4: mqtt.home_assistant.discovery_prefix: "ha/+" must be a topic without wildcards or empty levels`},
		{on + "  home_assistant: {configuration_url: \"gate.lan:8080\"}\n", `f.yaml:4: mqtt.home_assistant.configuration_url: "gate.lan:8080" is not an http:// or https:// URL`},
		{on + "  qos: 2\n", `f.yaml:4: mqtt: field qos is not a known key`},
		{on + "  commands:\n    open: {enabled: true}\n", `f.yaml:5: mqtt.commands.open.secret: required when open is enabled, at least 16 bytes (FACEGATE_OPEN_SECRET, secret.file or the systemd credential facegate-open-secret)`},
		{on + "  commands:\n    open: {enabled: true, secret: short}\n", `f.yaml:5: mqtt.commands.open.secret: required when open is enabled, at least 16 bytes (FACEGATE_OPEN_SECRET, secret.file or the systemd credential facegate-open-secret)`},
	}
	for _, tc := range tests {
		_, err := Parse("f.yaml", []byte(tc.yml), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.yml, err, tc.want)
		}
	}
}
