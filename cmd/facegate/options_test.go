package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/testpki"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

func TestMQTTOptions(t *testing.T) {
	dir := t.TempDir()
	pki, err := testpki.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	yml := `site: plant-a
gate: north
state_dir: ` + dir + `
mqtt:
  enabled: true
  urls: [ssl://127.0.0.1:8883]
  username: gate
  tls: {ca: ` + pki.CAFile + `, cert: ` + pki.ClientCertFile + `, key: ` + pki.ClientKeyFile + `, server_name: broker}
  submission_id: omit
  commands:
    open: {enabled: true}
  home_assistant: {enabled: true, configuration_url: "http://gate-north.lan:8080/"}
io:
  door: {chip: gpiochip0, line: "17"}
`
	env := map[string]string{"FACEGATE_MQTT_PASSWORD": "pw", "FACEGATE_OPEN_SECRET": "0123456789abcdef0123"}
	cfg, err := config.Parse("f.yaml", []byte(yml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	o, err := mqttOptions(cfg, "v1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if o.ClientID != "facegate-plant-a-north" || o.Prefix != "facegate/plant-a/north" || o.Password != "pw" ||
		string(o.Open.Secret) != env["FACEGATE_OPEN_SECRET"] || o.SubmissionID != record.PrivacyOmit ||
		o.OutboxPath != filepath.Join(dir, "mqtt-outbox.log") || !o.HomeAssistant.Enabled ||
		!o.HomeAssistant.Door || o.HomeAssistant.ConfigurationURL != "http://gate-north.lan:8080/" ||
		o.TLS == nil || o.TLS.ServerName != "broker" || len(o.TLS.Certificates) != 1 || o.TLS.RootCAs == nil {
		t.Fatalf("options = %+v", o)
	}
	c, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())

	delete(env, "FACEGATE_OPEN_SECRET")
	if _, err := config.Parse("f.yaml", []byte(yml), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "mqtt.commands.open.secret") {
		t.Fatalf("config check of open without a secret: %v", err)
	}
	// A config built in code skips the file checks: mqtt.New checks the
	// options again (the secret's length is checked there and in config,
	// no longer in the mapping too).
	noSecret := *cfg
	noSecret.MQTT.Commands.Open.Secret = config.Secret{}
	o, err = mqttOptions(&noSecret, "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mqtt.New(o); !errors.Is(err, mqtt.ErrInvalidOptions) || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("open without a secret: %v", err)
	}

	os.Remove(pki.CAFile)
	env["FACEGATE_OPEN_SECRET"] = "0123456789abcdef0123"
	cfg, _ = config.Parse("f.yaml", []byte(yml), func(k string) string { return env[k] })
	if _, err := mqttOptions(cfg, "v1", nil); !errors.Is(err, mqtt.ErrInvalidOptions) || !strings.Contains(err.Error(), "mqtt.tls.ca") {
		t.Fatalf("missing CA file: %v", err)
	}
}
