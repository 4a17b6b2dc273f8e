package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
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

// Every option the kiosk and the gate take is filled from the file: a field
// added to kiosk.Options or gate.IO that the mapping forgets stays zero here.
func TestMappingFillsEveryOption(t *testing.T) {
	c := config.Default()
	c.StateDir = t.TempDir()
	c.Kiosk.ShowName, c.Kiosk.RemotePreview = true, true
	c.Kiosk.AllowedHosts = []string{"gate.lan"}
	c.Kiosk.Open.Enabled = true
	c.Kiosk.Open.Token = config.NewSecret("open-token-0123456789abcdef", "test")
	c.Identity.HTTP.Enabled = true
	c.Identity.HTTP.Token = config.NewSecret("http-token-0123456789", "test")
	c.Identity.Roster.File = "/etc/facegate/roster.csv"
	c.Identity.Fixed = config.Fixed{SubmissionID: "s", UserID: "u", DisplayName: "Ana"}
	c.Policy.MinScores = config.MinScores{FaceSimilarity: 90, Occluded: 1, FaceCover: 2, HeadCover: 3}
	c.Policy.MaxFaces = 2
	c.Policy.AntiPassback = config.AntiPassback{Mode: "hard", Window: time.Minute}
	c.Policy.RequireBroker = true
	c.Audit.SaveCrops = true
	c.MQTT.Enabled = true // the outbox's folder (OutboxDir)
	c.Mode = config.ModeMuster
	c.Zones.PageToken = config.NewSecret("site-page-token-0123456789", "test")
	c.Zones.AdminToken = config.NewSecret("site-admin-token-0123456789", "test")
	c.IO.Relay.ActiveLow, c.IO.Relay.Drive, c.IO.Relay.Bias = true, "open-drain", "pull-up"
	c.IO.Door = config.Door{InputLine: config.InputLine{Chip: "c1", Line: "d", ActiveLow: true, Bias: "pull-up", Debounce: 1},
		HeldOpenAfter: time.Minute, GrantGrace: time.Second}
	c.IO.ExitButton = config.ExitButton{InputLine: config.InputLine{Chip: "c1", Line: "e", ActiveLow: true, Bias: "pull-up", Debounce: 1}, Pulse: time.Second}
	c.IO.Tamper = config.InputLine{Chip: "c1", Line: "t", ActiveLow: true, Bias: "pull-up", Debounce: 1}
	out := config.OutputLine{Chip: "c1", Line: "o", ActiveLow: true, Drive: "open-drain"}
	c.IO.LEDs.Green, c.IO.LEDs.Red, c.IO.Buzzer = out, out, out

	for name, v := range map[string]any{"kiosk.Options": kioskOptions(c), "gate.IO": gateIO(c.IO)} {
		if zero := zeroFields(reflect.ValueOf(v), name); len(zero) > 0 {
			t.Errorf("not mapped (zero): %s", strings.Join(zero, ", "))
		}
	}
	if o := kioskOptions(c); o.Page.Open.Token != "open-token-0123456789abcdef" || o.Identity.HTTP.Token != "http-token-0123456789" {
		t.Errorf("tokens: %+v %+v", o.Page.Open, o.Identity.HTTP)
	}
}

// zeroFields lists the zero fields of struct v, recursively, by path.
func zeroFields(v reflect.Value, path string) []string {
	if v.Kind() != reflect.Struct {
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
	var out []string
	for i := 0; i < v.NumField(); i++ {
		out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return out
}

// stillFrames is a camera that never delivers a frame.
type stillFrames struct{}

func (stillFrames) Next(ctx context.Context, _ uint64, _ *gocv.Mat) (capture.FrameInfo, error) {
	<-ctx.Done()
	return capture.FrameInfo{}, ctx.Err()
}

// A part that cannot be built is named once in the error: by its package
// (capture, mqtt) or by its config section, never both.
func TestBuildPartsNamesThePartOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    func(c *config.Config)
		prefix string
	}{
		{"capture", func(c *config.Config) {
			c.Capture.Detector, c.Capture.Cascade = capture.DetectorHaar, "/nonexistent/cascade.xml"
		},
			"capture: face detector unusable"},
		{"mqtt", func(c *config.Config) {
			c.MQTT.Enabled, c.MQTT.URLs = true, []string{"ssl://127.0.0.1:1"}
			c.MQTT.TLS.CA = filepath.Join(t.TempDir(), "missing-ca.pem")
		}, "mqtt: invalid options: mqtt.tls.ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.StateDir = t.TempDir()
			c.API.URL = "http://127.0.0.1:1/v3"
			c.API.Key = config.NewSecret("test-key-123", "test")
			tc.mod(c)
			p, err := buildParts(context.Background(), c, wireOptions{log: slog.New(slog.DiscardHandler), frames: stillFrames{}})
			if err == nil {
				p.close()
				t.Fatal("built")
			}
			if !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Fatalf("err = %q, want it to start with %q", err, tc.prefix)
			}
		})
	}
}

// The config package checks the brightness limits against the built-in
// ones that 0 stands for; they are the capture package's.
func TestConfigKnowsTheBuiltInBrightnessLimits(t *testing.T) {
	if config.DefaultMinBrightness != capture.DefaultThresholds.MinBrightness || config.DefaultMaxBrightness != capture.DefaultThresholds.MaxBrightness {
		t.Fatalf("config's built-in brightness %v..%v, capture's %v..%v", config.DefaultMinBrightness, config.DefaultMaxBrightness,
			capture.DefaultThresholds.MinBrightness, capture.DefaultThresholds.MaxBrightness)
	}
}
