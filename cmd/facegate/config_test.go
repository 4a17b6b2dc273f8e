package main

import (
	"fmt"
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

// TestConfigCheckKioskListen: a kiosk reachable from other machines is
// refused without kiosk.allow_remote, and warned about with it.
func TestConfigCheckKioskListen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, yml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	remote := write("remote.yaml", "kiosk:\n  listen: 0.0.0.0:8080\n")
	code, _, stderr := runCmd(t, nil, "config", "check", "--config", remote)
	if code != exitError || !strings.Contains(stderr, remote+`:2: kiosk.listen: "0.0.0.0:8080" is reachable from other machines`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	allowed := write("allowed.yaml", "kiosk:\n  listen: 0.0.0.0:8080\n  allow_remote: true\n")
	code, _, stderr = runCmd(t, nil, "config", "check", "--config", allowed)
	if code != exitOK || !strings.Contains(stderr, "warning: kiosk.listen 0.0.0.0:8080 is reachable from other machines over plain HTTP") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	badPort := write("port.yaml", "kiosk:\n  listen: localhost:99999\n")
	if code, _, stderr = runCmd(t, nil, "config", "check", "--config", badPort); code != exitError || !strings.Contains(stderr, badPort+`:2: kiosk.listen: "localhost:99999": port "99999" is not a number from 0 to 65535`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	loopback := write("loopback.yaml", "kiosk:\n  listen: 127.0.0.1:8080\n")
	if code, _, stderr = runCmd(t, nil, "config", "check", "--config", loopback); code != exitOK || strings.Contains(stderr, "reachable") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestRunWarnsAboutARemoteKiosk: kiosk.allow_remote lets the daemon listen
// on every interface, and it says so at start.
func TestRunWarnsAboutARemoteKiosk(t *testing.T) {
	r := newRig(t, 0)
	remote := strings.Replace(r.cfgYAML, "listen: 127.0.0.1:0\n", "listen: 0.0.0.0:0\n  allow_remote: true\n", 1)
	if remote == r.cfgYAML {
		t.Fatal("the rig's config has no kiosk listen line to change")
	}
	r.writeConfig(remote)
	r.start()
	if !strings.Contains(r.logs.String(), `level=WARN msg="kiosk reachable from other machines over plain http" listen=0.0.0.0:0`) {
		t.Fatalf("no warning at start:\n%s", r.logs.String())
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestConfigCheckWarnsAboutAPasswordInClear: a broker password over plain
// tcp:// or ws:// to another machine is readable on the path; config check
// and the start say so (a warning: closed site networks run so).
func TestConfigCheckWarnsAboutAPasswordInClear(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct {
		urls, password string
		warned         []string
	}{
		{"[tcp://broker.example.com:1883]", "pw-not-shown-1", []string{"tcp://broker.example.com:1883"}},
		{"[ws://10.0.0.5:9001/mqtt]", "pw-not-shown-2", []string{"ws://10.0.0.5:9001/mqtt"}},
		{"[tcp://gate:pw-not-shown-3@broker.example.com:1883]", "", []string{"tcp://xxxxx@broker.example.com:1883"}},
		{"[ssl://broker.example.com:8883, tcp://backup.example.com:1883]", "pw-not-shown-4", []string{"tcp://backup.example.com:1883"}},
		{"[ssl://broker.example.com:8883]", "pw-not-shown-5", nil},
		{"[tcp://127.0.0.1:1883]", "pw-not-shown-6", nil},
		{"[tcp://broker.example.com:1883]", "", nil},
	} {
		yml := "mqtt:\n  enabled: true\n  urls: " + c.urls + "\n"
		if c.password != "" {
			yml += "  password: " + c.password + "\n"
		}
		p := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCmd(t, nil, "config", "check", "--config", p)
		if code != exitOK || strings.Contains(stderr, "pw-not-shown") {
			t.Fatalf("%s: exit %d: %s", c.urls, code, stderr)
		}
		if got := strings.Count(stderr, "sends the broker password in clear"); got != len(c.warned) {
			t.Errorf("%s: %d warnings, want %d:\n%s", c.urls, got, len(c.warned), stderr)
		}
		for _, u := range c.warned {
			if !strings.Contains(stderr, "warning: mqtt.urls "+u+" sends the broker password in clear: use ssl:// or wss://") {
				t.Errorf("%s: no warning naming %s:\n%s", c.urls, u, stderr)
			}
		}
	}
}

// `config check` names a setting an assembly-point kiosk never uses
// (until 2026-12-08 accepted without a word).
func TestConfigCheckWarnsAboutUnusedSettings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "muster.yaml")
	yml := "mode: muster\nzones: {enabled: true, list: [{name: site}]}\nkiosk:\n  open: {enabled: true, token: 8c3f0a9e2b7d4e61a5c8f3b2d9e0a7c4}\n"
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, nil, "config", "check", "--config", p)
	if code != exitOK || !strings.Contains(stderr, "warning: kiosk.open.enabled: an assembly-point kiosk (mode: muster) opens nothing") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestRunWarnsAboutAPasswordInClear: the start says it too, naming the URL
// and not the password.
func TestRunWarnsAboutAPasswordInClear(t *testing.T) {
	r := newRig(t, 0)
	// 192.0.2.1 (TEST-NET-1) is never reached: only the warning matters.
	clear := strings.Replace(r.cfgYAML, "  urls: [", "  password: pw-not-shown-7\n  urls: [tcp://192.0.2.1:1883, ", 1)
	if clear == r.cfgYAML {
		t.Fatal("the rig's config has no mqtt urls line to change")
	}
	r.writeConfig(clear)
	r.start()
	logs := r.logs.String()
	if !strings.Contains(logs, `level=WARN msg="mqtt broker password sent in clear" url=tcp://192.0.2.1:1883`) || strings.Contains(logs, "pw-not-shown") {
		t.Fatalf("no warning at start, or the password shown:\n%s", logs)
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
