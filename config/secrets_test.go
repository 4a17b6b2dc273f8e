package config

import (
	"strings"
	"testing"
)

// TestTokenThatOpensIsNotAlsoAReadersToken: the configuration refuses a
// page token equal to kiosk.open.token ("with the same value they could
// open the gate") and an identify token equal to it ("whoever may identify
// must not be able to open"). mqtt.commands.open.secret opens the gate as
// well (a signed cmd/open), and with zones on it signs every gate's site
// commands: the same value as a token handed to screens (page_token, also
// sent as ?token= and kept in a cookie over plain HTTP), to badge readers
// (identity.http.token, in clear with kiosk.allow_remote) lets their
// holder sign cmd/open, or a site evacuation (which releases the relays of
// every gate with zones.evacuation.release_relay), for every gate.
func TestTokenThatOpensIsNotAlsoAReadersToken(t *testing.T) {
	const same = "same-value-for-both-0123456789"
	mq := "mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  commands:\n    open: {enabled: true, secret: " + same + "}\n"
	zones := "zones:\n  enabled: true\n  list: [{name: site}]\n"
	tests := []struct{ name, yml, key string }{
		{"page token", mq + zones + "  page_token: " + same + "\n", "zones.page_token"},
		{"identify token", mq + "identity:\n  http: {enabled: true, token: " + same + "}\n", "identity.http.token"},
		{"site commands only (open off)", strings.Replace(mq, "enabled: true, secret", "enabled: false, secret", 1) + zones + "  page_token: " + same + "\n", "zones.page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yml), nil)
			if err == nil {
				t.Fatalf("accepted: %s equals mqtt.commands.open.secret, so its holder can sign cmd/open", tt.key)
			}
			if !strings.Contains(err.Error(), tt.key) && !strings.Contains(err.Error(), "mqtt.commands.open.secret") {
				t.Fatalf("refused without naming the key: %v", err)
			}
			if strings.Contains(err.Error(), same) {
				t.Fatalf("the message shows the secret: %v", err)
			}
		})
	}
}

// TestHomeAssistantLinkCarriesNoCredential: mqtt.home_assistant.
// configuration_url is published retained in the discovery config (every
// client of the broker reads it) and printed as is by `config check`,
// whereas docs/mqtt.md promises that a login or token inside a URL is
// masked there. The kiosk's own way to log a browser in to /site is
// ?token=<zones.page_token>, the natural link to give Home Assistant.
// A link with a credential must be refused (naming the key, without
// quoting the credential).
func TestHomeAssistantLinkCarriesNoCredential(t *testing.T) {
	const pw = "hunter2-pass-0123456789abc"
	base := "mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  home_assistant:\n    enabled: true\n    configuration_url: "
	for _, u := range []string{
		"http://gate.lan:8080/site?token=" + pw,
		"https://admin:" + pw + "@gate.lan/",
		"ftp://admin:" + pw + "@gate.lan/", // refused already, but the message quoted it
	} {
		t.Run(u, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(base+"\""+u+"\"\n"), nil)
			if err != nil {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("the refusal quotes the credential: %v", err)
				}
				if !strings.Contains(err.Error(), "mqtt.home_assistant.configuration_url") {
					t.Fatalf("refused without naming the key: %v", err)
				}
				return
			}
			out, _ := c.Redacted()
			t.Fatalf("accepted: the credential goes retained to every broker client (config check shows it too: %v)",
				strings.Contains(string(out), pw))
		})
	}
}

// TestConfigCheckMasksAQuotedPipelinePassword: a GStreamer pipeline is
// how a camera whose password holds a space is reached (the location is
// quoted). config check prints camera.source through redact.URL, promised
// to mask "a GStreamer pipeline carrying one" (and the daemon logs it so
// at every start): the password is printed as written.
func TestConfigCheckMasksAQuotedPipelinePassword(t *testing.T) {
	const pw = "cam pw 42"
	for _, src := range []string{
		`rtspsrc location="rtsp://admin:` + pw + `@10.0.0.5/s" ! decodebin ! videoconvert ! appsink`,
		`rtsp://admin:` + pw + `@10.0.0.5/s`,
	} {
		c, err := Parse("f.yaml", []byte("camera:\n  source: '"+src+"'\n"), nil)
		if err != nil {
			if strings.Contains(err.Error(), pw) {
				t.Errorf("%s: the refusal shows the password: %v", src, err)
			}
			continue
		}
		out, err := c.Redacted()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), pw) {
			t.Errorf("config check shows the camera password of %s", src)
		}
	}
}

// TestGuessableSecretsAreRefused: the minimum lengths alone let 24 times
// the same letter open the gate over HTTP, and sixteen zeros sign MQTT
// opens. A token a guess list holds is refused with its key named.
func TestGuessableSecretsAreRefused(t *testing.T) {
	tests := []struct{ name, yml, key string }{
		{"open token of one letter", "kiosk:\n  open: {enabled: true, token: aaaaaaaaaaaaaaaaaaaaaaaa}\n", "kiosk.open.token"},
		{"open token counting", "kiosk:\n  open: {enabled: true, token: \"123456789012345678901234\"}\n", "kiosk.open.token"},
		{"identify token of one digit", "identity:\n  http: {enabled: true, token: \"0000000000000000\"}\n", "identity.http.token"},
		{"mqtt open secret of zeros", "mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  commands:\n    open: {enabled: true, secret: \"0000000000000000\"}\n", "mqtt.commands.open.secret"},
		{"page token repeated word", "zones:\n  page_token: passwordpasswordpassword\n", "zones.page_token"},
		{"admin token of one letter", "zones:\n  admin_token: xxxxxxxxxxxxxxxxxxxxxxxx\n", "zones.admin_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yml), nil)
			if err == nil {
				t.Fatalf("accepted a guessable %s", tt.key)
			}
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "guessable") {
				t.Fatalf("refused without naming %s as guessable: %v", tt.key, err)
			}
		})
	}
}

func TestGuessable(t *testing.T) {
	for _, v := range []string{"9f86d081884c7d659a2feaa0c55ad015", "0123456789abcdef0123", "site-admin-token-0123456789", "Kx7#pQ2m!Lr9vT4w"} {
		if why := guessable(v); why != "" {
			t.Errorf("guessable(%q) = %q, want a random-looking token accepted", v, why)
		}
	}
	for _, v := range []string{"aaaaaaaaaaaaaaaa", "abababababababab", "abcabcabcabcabcabc", "passwordpasswordpassword", "1234512345123451"} {
		if guessable(v) == "" {
			t.Errorf("guessable(%q) accepted", v)
		}
	}
}

// A link redact only escapes again (a path with ü) carries no credential
// and is accepted.
func TestHomeAssistantLinkWithoutCredentialIsAccepted(t *testing.T) {
	base := "mqtt:\n  enabled: true\n  urls: [\"tcp://b:1883\"]\n  home_assistant:\n    enabled: true\n    configuration_url: "
	for _, u := range []string{"http://gate.lan:8080/", "http://gate.lan/tür", "https://gate.lan/site?view=zones"} {
		if _, err := Parse("f.yaml", []byte(base+"\""+u+"\"\n"), nil); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}
