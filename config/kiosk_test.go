package config

import (
	"strings"
	"testing"
	"time"
)

func TestKioskSectionsDefaults(t *testing.T) {
	c, err := Parse("f.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kiosk.Listen != "127.0.0.1:8080" || c.Kiosk.MinFreeMB != 50 || c.Identity.Timeout != 10*time.Second || !c.Identity.QR.Enabled ||
		c.Policy.MaxFaces != 1 || c.Policy.AntiPassback.Mode != "off" || c.Audit.MaxFiles != 5 || c.Audit.SaveCrops ||
		c.Kiosk.ShowName || c.Kiosk.RemotePreview || c.Kiosk.Open.Enabled || c.Metrics.Listen != "" {
		t.Errorf("defaults %+v %+v %+v %+v", c.Kiosk, c.Identity, c.Policy, c.Audit)
	}
}

func TestKioskSectionsValidation(t *testing.T) {
	tests := []struct {
		yaml string
		env  map[string]string
		want string
	}{
		{"kiosk:\n  listen: nowhere\n", nil, `f.yaml:2: kiosk.listen: "nowhere" is not host:port`},
		{"kiosk:\n  health_interval: 10ms\n", nil, "f.yaml:2: kiosk.health_interval: 10ms must be between 1s and 1h"},
		{"kiosk:\n  min_free_mb: -1\n", nil, "f.yaml:2: kiosk.min_free_mb: -1 must be between 0 (check off) and 1048576"},
		{"identity:\n  timeout: 0s\n", nil, "f.yaml:2: identity.timeout: 0s must be between"},
		{"identity:\n  fixed:\n    submission_id: \"a b\"\n", nil, `f.yaml:3: identity.fixed.submission_id: "a b" must be`},
		{"identity:\n  fixed:\n    display_name: Ana\n", nil, `identity.fixed.submission_id: "" must be`},
		{"identity:\n  http:\n    enabled: true\n", nil, "f.yaml:2: identity.http.token: identity.http is enabled: a token of at least 16 characters is required"},
		{"identity:\n  http:\n    enabled: true\n    token: short\n", nil, "identity.http.token: identity.http is enabled"},
		{"policy:\n  min_scores:\n    head_cover: 120\n", nil, "f.yaml:3: policy.min_scores.head_cover: 120 must be between 0 and 100"},
		{"policy:\n  min_scores:\n    face_similarity: .nan\n", nil, "f.yaml:3: policy.min_scores.face_similarity: NaN must be between 0 and 100"},
		{"policy:\n  on_record_failure: maybe\n", nil, `f.yaml:2: policy.on_record_failure: "maybe" is not deny or open`},
		{"policy:\n  anti_passback:\n    mode: strict\n", nil, `f.yaml:3: policy.anti_passback.mode: "strict" is not off, soft or hard`},
		{"policy:\n  anti_passback:\n    mode: hard\n    window: 0s\n", nil, "policy.anti_passback.window: 0s must be between"},
		{"policy:\n  attempts:\n    max: 3\n    per: 0s\n", nil, "f.yaml:4: policy.attempts.per: 0s must be between"},
		{"policy:\n  require_broker: true\n", nil, "f.yaml:2: policy.require_broker: needs mqtt.enabled: true (without a broker the guard can never be met)"},
		{"policy:\n  max_faces: -1\n", nil, "f.yaml:2: policy.max_faces: -1 must be between 0"},
		{"policy:\n  max_age: 0s\n", nil, "f.yaml:2: policy.max_age: 0s must be between"},
		{"policy:\n  liveness: strict\n", nil, `f.yaml:2: policy.liveness: "strict" is not off, passive, challenge or shadow`},
		{"policy:\n  liveness_lockout:\n    max: -1\n", nil, "f.yaml:3: policy.liveness_lockout.max: -1 must be between 0 (no lockout) and 100"},
		{"policy:\n  liveness_lockout:\n    max: 3\n    per: 0s\n", nil, "f.yaml:4: policy.liveness_lockout.per: 0s must be between"},
		// Below the 1ms its message names (was accepted).
		{"policy:\n  liveness_lockout:\n    max: 3\n    per: 500us\n", nil, "f.yaml:4: policy.liveness_lockout.per: 500µs must be between 1ms and 24h"},
		{"policy:\n  cooldown: 2m\n", nil, "f.yaml:2: policy.cooldown: 2m0s must be between 0 and 60s"},
		{"audit:\n  max_files: 0\n", nil, "f.yaml:2: audit.max_files: 0 must be between 1 and 100"},
		{"audit:\n  crop_days: 365\n", nil, "f.yaml:2: audit.crop_days: 365 must be between 1 and 90"},
		{"audit:\n  save_liveness_clips: true\n  liveness_clip_days: 0\n", nil, "f.yaml:3: audit.liveness_clip_days: 0 must be between 1 and 90"},
		{"audit:\n  liveness_clip_max_mb: 5\n", nil, "f.yaml:2: audit.liveness_clip_max_mb: 5 must be between 10 and 1048576"},
		{"audit:\n  rotate: true\n", nil, "f.yaml:2: audit: field rotate is not a known key"},
		{"kiosk:\n  allowed_hosts: [gate1.local, \"evil.example:80\"]\n", nil, `f.yaml:2: kiosk.allowed_hosts: "evil.example:80" is not a host name`},
		{"kiosk:\n  open:\n    enabled: true\n", nil, "f.yaml:2: kiosk.open.token: kiosk.open is enabled: a token of at least 24 characters is required"},
		{"kiosk:\n  open:\n    enabled: true\n    token: short\n", nil, "kiosk.open.token: kiosk.open is enabled"},
		{"kiosk:\n  open:\n    per_minute: 0\n", nil, "f.yaml:3: kiosk.open.per_minute: 0 must be between 1 and 600"},
		{"kiosk:\n  open:\n    enabled: true\nidentity:\n  http:\n    enabled: true\n",
			map[string]string{"FACEGATE_OPEN_TOKEN": "0123456789abcdef01234567", "FACEGATE_HTTP_TOKEN": "0123456789abcdef01234567"},
			"kiosk.open.token: must differ from identity.http.token"},
		{"metrics:\n  listen: nowhere\n", nil, `f.yaml:2: metrics.listen: "nowhere" is not host:port`},
		{"metrics:\n  listen: \":99999\"\n", nil, `f.yaml:2: metrics.listen: ":99999": port must be 0-65535`},
		{"metrics:\n  listen: 127.0.0.1:8080\n", nil, `f.yaml:2: metrics.listen: "127.0.0.1:8080" is kiosk.listen too`},
	}
	for _, tc := range tests {
		env := func(k string) string { return tc.env[k] }
		_, err := Parse("f.yaml", []byte(tc.yaml), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	ok := "identity:\n  http:\n    enabled: true\n"
	c, err := Parse("f.yaml", []byte(ok), func(k string) string {
		if k == "FACEGATE_HTTP_TOKEN" {
			return "0123456789abcdef"
		}
		return ""
	})
	if err != nil || c.Identity.HTTP.Token.Value() != "0123456789abcdef" {
		t.Errorf("token from env: %v", err)
	}
	ok = "kiosk:\n  show_name: true\n  remote_preview: true\n  allowed_hosts: [gate1.local]\n  open:\n    enabled: true\nmetrics:\n  listen: 0.0.0.0:9108\n"
	c, err = Parse("f.yaml", []byte(ok), func(k string) string {
		if k == "FACEGATE_OPEN_TOKEN" {
			return "0123456789abcdef01234567"
		}
		return ""
	})
	if err != nil || c.Kiosk.Open.Token.Value() != "0123456789abcdef01234567" || c.Kiosk.Open.PerMinute != 6 ||
		!c.Kiosk.ShowName || !c.Kiosk.RemotePreview || c.Metrics.Listen != "0.0.0.0:9108" || len(c.Kiosk.AllowedHosts) != 1 {
		t.Errorf("kiosk.open, show_name, remote_preview, allowed_hosts, metrics.listen: %v %+v %+v", err, c.Kiosk, c.Metrics)
	}
}

// TestKioskListen: loopback listens need nothing; anything reachable from
// other machines needs kiosk.allow_remote, and Remote says so for the
// warning at start.
func TestKioskListen(t *testing.T) {
	tests := []struct {
		listen      string
		allowRemote bool
		remote      bool
		want        string // "" valid
	}{
		{"127.0.0.1:8080", false, false, ""},
		{"127.0.0.2:0", false, false, ""},
		{"localhost:8080", false, false, ""},
		{"[::1]:8080", false, false, ""},
		{"[::ffff:127.0.0.1]:8080", false, false, ""},
		{"0.0.0.0:8080", false, true, `"0.0.0.0:8080" is reachable from other machines`},
		{":8080", false, true, `":8080" is reachable from other machines`},
		{"[::]:8080", false, true, `"[::]:8080" is reachable from other machines`},
		{"192.168.1.20:8080", false, true, `"192.168.1.20:8080" is reachable from other machines`},
		{"gate.local:8080", false, true, `"gate.local:8080" is reachable from other machines`},
		{"0.0.0.0:8080", true, true, ""},
		{":8080", true, true, ""},
		{"gate.local:8080", true, true, ""},
		{"localhost:99999", false, false, `port "99999" is not a number from 0 to 65535`},
		{"localhost:-1", false, false, `port "-1" is not a number from 0 to 65535`},
		{"localhost:http", false, false, `port "http" is not a number from 0 to 65535`},
		{"localhost:", false, false, `port "" is not a number from 0 to 65535`},
		{"bad host:80", true, true, `"bad host" is not an IP address or a host name`},
	}
	for _, tc := range tests {
		k := Kiosk{}
		k.setDefaults()
		k.Listen, k.AllowRemote = tc.listen, tc.allowRemote
		err := k.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (allow_remote %v): %v", tc.listen, tc.allowRemote, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s (allow_remote %v): %v, want %q", tc.listen, tc.allowRemote, err, tc.want)
		}
		if err == nil && k.Remote() != tc.remote {
			t.Errorf("%s: Remote() = %v", tc.listen, k.Remote())
		}
	}
}

func TestSecretNullIsUnset(t *testing.T) {
	c, err := Parse("f.yaml", []byte("api:\n  key: {file: ~, value: null}\n"), nil)
	if err != nil || c.API.Key.IsSet() {
		t.Fatalf("%v %v", err, c.API.Key.IsSet())
	}
}

func TestLivenessDefaults(t *testing.T) {
	c, err := Parse("f.yaml", []byte(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Off by default (docs/liveness.md "Why off by default"): an upgrade
	// keeps today's behaviour.
	if c.Policy.Liveness != "off" || c.Policy.LivenessLockout.Max != 3 || c.Policy.LivenessLockout.Per != 10*time.Minute {
		t.Fatalf("liveness defaults %q %+v, want off, 3 per 10m", c.Policy.Liveness, c.Policy.LivenessLockout)
	}
	c, err = Parse("f.yaml", []byte("policy:\n  liveness: challenge\n  liveness_lockout: {max: 0}\n"), nil)
	if err != nil || c.Policy.Liveness != "challenge" || c.Policy.LivenessLockout.Max != 0 {
		t.Fatalf("liveness challenge: %v %+v", err, c.Policy)
	}
	c, err = Parse("f.yaml", []byte("policy:\n  liveness: shadow\n"), nil)
	if err != nil || c.Policy.Liveness != "shadow" {
		t.Fatalf("liveness shadow: %v %+v", err, c.Policy)
	}
}
