package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/record"
)

// The one place where the configuration file becomes each part's options:
// the domain packages take plain values and never import config. The
// daemon (wire.go) and the crop, relay, auth, history and model commands
// all load and map through here.

// configFlagUsage is the help text of every command's optional --config flag.
const configFlagUsage = "configuration file (default " + config.DefaultPath + " if it exists)"

// loadConfig loads the configuration for a command that can also run
// without a file. path is the --config value: when given, the file must
// exist; when empty, config.DefaultPath is used if it exists, otherwise the
// defaults. In every case the environment overrides apply
// (FACEGATE_API_URL, FACEGATE_API_KEY, CREDENTIALS_DIRECTORY, …) and the
// result is validated. Errors name the file and line and never hold a secret.
// (The daemon and `config check` use config.Load: they never run on guesses.)
func loadConfig(a *app, path string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("config %s: %w", config.DefaultPath, err)
			}
			return config.Parse("", nil, a.getenv) // defaults + environment
		}
		path = config.DefaultPath
	}
	return config.Load(path, a.getenv)
}

// apiOptions is the api section; timeout > 0 overrides api.timeout (the
// --timeout flag).
func apiOptions(c *config.Config, timeout time.Duration, log *slog.Logger) faceauth.Options {
	if timeout <= 0 {
		timeout = c.API.Timeout
	}
	return faceauth.Options{
		BaseURL:           c.API.URL,
		APIKey:            c.API.Key.Value(),
		Timeout:           timeout,
		CAFile:            c.API.CAFile,
		AllowInsecureHTTP: c.API.AllowInsecureHTTP,
		UserAgent:         "facegate/" + version,
		Logger:            log,
	}
}

// cameraOptions is the camera section.
func cameraOptions(c *config.Config) capture.CameraConfig {
	return capture.CameraConfig{
		Source: c.Camera.Source, Width: c.Camera.Width, Height: c.Camera.Height,
		FPS: c.Camera.FPS, FourCC: c.Camera.FourCC, FrozenAfter: c.Camera.FrozenAfter,
	}
}

// analyzerOptions is the capture section's detector and quality gates, with
// the model that detector auto resolves to (Config.CaptureModel). The live
// gate checks one person at a time unless capture.one_person is off (the
// kiosk's tailgating guard counts faces either way).
func analyzerOptions(c *config.Config) capture.AnalyzerConfig {
	return capture.AnalyzerConfig{
		Detector:   c.Capture.Detector,
		Cascade:    c.Capture.Cascade,
		EyeCascade: c.Capture.EyeCascade,
		Model:      c.CaptureModel(),
		Thresholds: capture.Thresholds{
			MinFaceWidth:  c.Capture.MinFaceWidth,
			MinSharpness:  c.Capture.MinSharpness,
			MinBrightness: c.Capture.MinBrightness,
			MaxBrightness: c.Capture.MaxBrightness,
			MaxRoll:       c.Capture.MaxRoll,
		},
		AllowMultiple: !c.Capture.OnePerson,
	}
}

// selectorOptions is the capture section's selection window and JPEG quality.
func selectorOptions(c *config.Config) capture.SelectorConfig {
	return capture.SelectorConfig{Window: c.Capture.Window, JPEGQuality: c.Capture.JPEGQuality}
}

// gateIO is the io section. The line types convert field for field: a key
// added to config's line types without its gate twin fails to compile here.
func gateIO(c config.GateIO) gate.IO {
	return gate.IO{
		Relay: relayLine(c.Relay),
		Door: gate.Door{InputLine: gate.InputLine(c.Door.InputLine),
			HeldOpenAfter: c.Door.HeldOpenAfter, GrantGrace: c.Door.GrantGrace},
		ExitButton: gate.ExitButton{InputLine: gate.InputLine(c.ExitButton.InputLine), Pulse: c.ExitButton.Pulse},
		Tamper:     gate.InputLine(c.Tamper),
		Green:      gate.OutputLine(c.LEDs.Green),
		Red:        gate.OutputLine(c.LEDs.Red),
		Buzzer:     gate.OutputLine(c.Buzzer),
	}
}

// relayLine is io.relay.
func relayLine(c config.Relay) gate.RelayLine { return gate.RelayLine(c) }

// mqttOptions is the mqtt section with site, gate, state_dir and whether a
// door input is wired; it reads the TLS files. version names the software
// in Home Assistant. config validated the section (Load); mqtt.New checks
// the protocol rules again for options built otherwise.
func mqttOptions(c *config.Config, version string, log *slog.Logger) (mqtt.Options, error) {
	m := &c.MQTT
	o := mqtt.Options{
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
		Open: mqtt.OpenOptions{
			Enabled: m.Commands.Open.Enabled,
			Secret:  []byte(m.Commands.Open.Secret.Value()),
			MaxSkew: m.Commands.Open.MaxSkew,
			// In state_dir even when the outbox is elsewhere: it is what
			// stops a captured command from opening again after a restart.
			ReplayPath: filepath.Join(c.StateDir, mqtt.ReplayFileName),
		},
		HomeAssistant: mqtt.HomeAssistantOptions{
			Enabled:          m.HomeAssistant.Enabled,
			DiscoveryPrefix:  m.HomeAssistant.DiscoveryPrefix,
			Door:             c.IO.Door.Line != "",
			ConfigurationURL: m.HomeAssistant.ConfigurationURL,
		},
		Logger: log,
	}
	if m.TLS.CA != "" || m.TLS.Cert != "" || m.TLS.ServerName != "" {
		t, err := mqtt.LoadTLS(m.TLS.CA, m.TLS.Cert, m.TLS.Key, m.TLS.ServerName)
		if err != nil {
			return o, err
		}
		o.TLS = t
	}
	return o, nil
}

// kioskOptions is the kiosk, identity, policy and audit sections with the
// few values of others the kiosk needs (New and Reload take the same).
func kioskOptions(c *config.Config) kiosk.Options {
	p := &c.Policy
	var outboxDir string
	if c.MQTT.Enabled {
		outboxDir = filepath.Dir(c.MQTT.OutboxPathFor(c.StateDir))
	}
	return kiosk.Options{
		Site:        c.Site,
		Gate:        c.Gate,
		StateDir:    c.StateDir,
		OutboxDir:   outboxDir,
		RelayPulse:  c.IO.Relay.Pulse,
		APITimeout:  c.API.Timeout,
		FrozenAfter: c.Camera.FrozenAfter,
		Privacy:     record.Privacy(c.MQTT.SubmissionID),
		Audit:       kiosk.AuditOptions{MaxSizeMB: c.Audit.MaxSizeMB, MaxFiles: c.Audit.MaxFiles, SaveCrops: c.Audit.SaveCrops, CropDays: c.Audit.CropDays},
		Zones: kiosk.SiteOptions{
			Muster:     c.Mode == config.ModeMuster,
			PageToken:  c.Zones.PageToken.Value(),
			AdminToken: c.Zones.AdminToken.Value(),
		},
		Page: kiosk.PageOptions{
			Listen:          c.Kiosk.Listen,
			Title:           c.Kiosk.Title,
			HealthInterval:  c.Kiosk.HealthInterval,
			MaxDetectorTime: c.Kiosk.MaxDetectorTime,
			MinFreeMB:       c.Kiosk.MinFreeMB,
			ShowName:        c.Kiosk.ShowName,
			AllowedHosts:    c.Kiosk.AllowedHosts,
			RemotePreview:   c.Kiosk.RemotePreview,
			Open: kiosk.HTTPOpenOptions{Enabled: c.Kiosk.Open.Enabled, Token: c.Kiosk.Open.Token.Value(),
				PerMinute: c.Kiosk.Open.PerMinute},
		},
		Identity: kiosk.IdentityOptions{
			Timeout:        c.Identity.Timeout,
			CaptureTimeout: c.Identity.CaptureTimeout,
			HTTP:           kiosk.HTTPIdentifyOptions{Enabled: c.Identity.HTTP.Enabled, Token: c.Identity.HTTP.Token.Value()},
			QR:             kiosk.QROptions(c.Identity.QR),
			RosterFile:     c.Identity.Roster.File,
			Fixed:          kiosk.FixedIdentity(c.Identity.Fixed),
		},
		Policy: kiosk.PolicyOptions{
			MaxAge:          p.MaxAge,
			Cooldown:        p.Cooldown,
			MinScores:       kiosk.MinScores(p.MinScores),
			MaxFaces:        p.MaxFaces,
			AntiPassback:    kiosk.AntiPassback(p.AntiPassback),
			Attempts:        kiosk.Limit(p.Attempts),
			RequireBroker:   p.RequireBroker,
			OnRecordFailure: p.OnRecordFailure,
			Liveness:        p.Liveness,
			LivenessLockout: kiosk.Limit(p.LivenessLockout),
		},
	}
}
