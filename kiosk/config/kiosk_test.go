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
	if c.Kiosk.Listen != "127.0.0.1:8080" || c.Identity.Timeout != 10*time.Second || !c.Identity.QR.Enabled ||
		c.Policy.MaxFaces != 1 || c.Policy.AntiPassback.Mode != "off" || c.Audit.MaxFiles != 5 || c.Audit.SaveCrops {
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
		{"identity:\n  timeout: 0s\n", nil, "f.yaml:2: identity.timeout: 0s must be between"},
		{"identity:\n  fixed:\n    submission_id: \"a b\"\n", nil, `f.yaml:3: identity.fixed.submission_id: "a b" must be`},
		{"identity:\n  fixed:\n    display_name: Ana\n", nil, `identity.fixed.submission_id: "" must be`},
		{"identity:\n  http:\n    enabled: true\n", nil, "f.yaml:2: identity.http.token: identity.http is enabled: a token of at least 16 characters is required"},
		{"identity:\n  http:\n    enabled: true\n    token: short\n", nil, "identity.http.token: identity.http is enabled"},
		{"policy:\n  min_scores:\n    head_cover: 120\n", nil, "f.yaml:3: policy.min_scores.head_cover: 120 must be between 0 and 100"},
		{"policy:\n  anti_passback:\n    mode: strict\n", nil, `f.yaml:3: policy.anti_passback.mode: "strict" is not off, soft or hard`},
		{"policy:\n  anti_passback:\n    mode: hard\n    window: 0s\n", nil, "policy.anti_passback.window: 0s must be between"},
		{"policy:\n  attempts:\n    max: 3\n    per: 0s\n", nil, "f.yaml:4: policy.attempts.per: 0s must be between"},
		{"policy:\n  require_broker: true\n", nil, "f.yaml:2: policy.require_broker: needs mqtt.enabled: true (without a broker the guard can never be met)"},
		{"policy:\n  max_faces: -1\n", nil, "f.yaml:2: policy.max_faces: -1 must be between 0"},
		{"policy:\n  max_age: 0s\n", nil, "f.yaml:2: policy.max_age: 0s must be between"},
		{"policy:\n  liveness: strict\n", nil, `f.yaml:2: policy.liveness: "strict" is not off, passive or challenge`},
		{"policy:\n  liveness_lockout:\n    max: -1\n", nil, "f.yaml:3: policy.liveness_lockout.max: -1 must be between 0 (no lockout) and 100"},
		{"policy:\n  liveness_lockout:\n    max: 3\n    per: 0s\n", nil, "f.yaml:4: policy.liveness_lockout.per: 0s must be between"},
		{"audit:\n  max_files: 0\n", nil, "f.yaml:2: audit.max_files: 0 must be between 1 and 100"},
		{"audit:\n  crop_days: 365\n", nil, "f.yaml:2: audit.crop_days: 365 must be between 1 and 90"},
		{"audit:\n  rotate: true\n", nil, "f.yaml:2: field rotate is not a known key"},
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
}

func TestLivenessDefaults(t *testing.T) {
	c, err := Parse("f.yaml", []byte(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Liveness != "challenge" || c.Policy.LivenessLockout.Max != 3 || c.Policy.LivenessLockout.Per != 10*time.Minute {
		t.Fatalf("liveness defaults %q %+v, want challenge, 3 per 10m", c.Policy.Liveness, c.Policy.LivenessLockout)
	}
	c, err = Parse("f.yaml", []byte("policy:\n  liveness: \"off\"\n  liveness_lockout: {max: 0}\n"), nil)
	if err != nil || c.Policy.Liveness != "off" || c.Policy.LivenessLockout.Max != 0 {
		t.Fatalf("liveness off: %v %+v", err, c.Policy)
	}
}
