package config

import (
	"slices"
	"strings"
	"testing"
)

// What an assembly-point kiosk never uses is named (until 2026-12-08 the
// open endpoints were accepted without a word, and answered 403).
func TestUnusedSettings(t *testing.T) {
	const muster = "mode: muster\nzones: {enabled: true, list: [{name: site}]}\n"
	const secret = "mqtt:\n  enabled: true\n  urls: [tcp://127.0.0.1:1883]\n  commands:\n    open: {enabled: true, secret: 5f0c2d6e9a1b4c7d8e3f2a1b0c9d8e7f}\n"
	for _, c := range []struct {
		name, yml string
		want      []string // the keys named
	}{
		{"gate with the open endpoints", "kiosk:\n  open: {enabled: true, token: 8c3f0a9e2b7d4e61a5c8f3b2d9e0a7c4}\n" + secret, nil},
		{"muster, nothing to open", muster, nil},
		{"muster with POST /api/open", muster + "kiosk:\n  open: {enabled: true, token: 8c3f0a9e2b7d4e61a5c8f3b2d9e0a7c4}\n", []string{"kiosk.open.enabled"}},
		{"muster with cmd/open", muster + secret, []string{"mqtt.commands.open.enabled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("f.yaml", []byte(c.yml), nil)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, u := range cfg.UnusedSettings() {
				keys = append(keys, u[:strings.Index(u, ":")])
			}
			if !slices.Equal(keys, c.want) {
				t.Errorf("unused %q, want %q", cfg.UnusedSettings(), c.want)
			}
		})
	}
}
