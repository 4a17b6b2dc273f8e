package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckHidesURLPasswords: `config check` says secrets are redacted;
// logins and tokens inside URLs are secrets too.
func TestConfigCheckHidesURLPasswords(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f.yaml")
	yml := "site: north\n" +
		"camera:\n  source: rtsp://admin:url-pw-1@10.0.0.7/stream1?token=url-pw-2\n" +
		"mqtt:\n  enabled: true\n  urls:\n    - tcp://gate:url-pw-3@broker.example.com:1883\n    - wss://broker.example.com/mqtt?password=url-pw-4\n"
	if err := os.WriteFile(f, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, nil, "config", "check", "--config", f)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "url-pw") {
		t.Fatalf("config check shows a password from a URL:\n%s\n%s", stdout, stderr)
	}
	for _, want := range []string{
		"source: rtsp://xxxxx@10.0.0.7/stream1?token=xxxxx",
		"- tcp://xxxxx@broker.example.com:1883",
		"- wss://broker.example.com/mqtt?password=xxxxx",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	// A URL that does not validate is not shown with its password either.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("mqtt:\n  enabled: true\n  urls: [\"ftp://gate:url-pw-5@broker\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, nil, "config", "check", "--config", bad)
	if code != exitError || !strings.Contains(stderr, `"ftp://xxxxx@broker": scheme must be tcp, ssl, ws or wss`) || strings.Contains(stderr, "url-pw") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
