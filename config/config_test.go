package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env { return func(k string) string { return m[k] } }

// TestInvalidExamples loads every file of testdata/ and checks the exact
// message a user reads.
func TestInvalidExamples(t *testing.T) {
	tests := []struct{ file, want string }{
		{"unknown_key.yaml", "testdata/unknown_key.yaml:5: api: field colour is not a known key"},
		{"unknown_secret_key.yaml", "testdata/unknown_secret_key.yaml:6: api.key: field path is not a known key of a secret (value, file)"},
		{"bad_syntax.yaml", "testdata/bad_syntax.yaml:2: did not find expected ',' or ']'"},
		{"bad_duration.yaml", "testdata/bad_duration.yaml:3: api.timeout: `forever` is not a duration (such as 30s or 500ms)"},
		{"timeout_too_long.yaml", "testdata/timeout_too_long.yaml:4: api.timeout: 10m0s must be between 1ms and 5m"},
		{"bad_scheme.yaml", `testdata/bad_scheme.yaml:2: api.url: "ftp://files.example.com/v3" is not an http(s) URL with a host`},
		{"remote_http.yaml", "testdata/remote_http.yaml:2: api.url: plain http to api.example.com is refused: use https, or set api.allow_insecure_http: true"},
		{"url_with_secret.yaml", "testdata/url_with_secret.yaml:2: api.url: must not carry user info, a query or a fragment (the key goes in api.key)"},
		{"bad_site.yaml", `testdata/bad_site.yaml:1: site: "north gate" must be 1-64 characters of letters, digits, '-' or '_'`},
		{"missing_ca.yaml", "testdata/missing_ca.yaml:2: api.ca_file: stat /nonexistent/ca.pem: no such file or directory"},
		{"missing_key_file.yaml", "testdata/missing_key_file.yaml:3: api.key.file: cannot read secret file: open /nonexistent/facegate-api-key: no such file or directory"},
		{"two_documents.yaml", "testdata/two_documents.yaml:2: only one YAML document is allowed"},
		{"duplicate_key.yaml", `testdata/duplicate_key.yaml:2: mapping key "site" already defined at line 1`},
		{"not_a_mapping.yaml", "testdata/not_a_mapping.yaml:1: cannot unmarshal !!seq into config.Config"},
		{"secret_list.yaml", "testdata/secret_list.yaml:2: api.key: a secret is a string or {value: …, file: …}"},
		{"secret_file_list.yaml", "testdata/secret_file_list.yaml:3: api.key.file: must be a string, not a list"},
		{"secret_value_map.yaml", "testdata/secret_value_map.yaml:2: api.key.value: must be a string, not a mapping"},
		{"listen_bad_port.yaml", "testdata/listen_bad_port.yaml:2: kiosk.listen: \"localhost:99999\": port \"99999\" is not a number from 0 to 65535"},
		{"listen_remote.yaml", "testdata/listen_remote.yaml:2: kiosk.listen: \"0.0.0.0:8080\" is reachable from other machines, and the kiosk speaks plain HTTP (the identify token would travel in clear): listen on 127.0.0.1, or set kiosk.allow_remote: true"},
		{"listen_all_interfaces.yaml", "testdata/listen_all_interfaces.yaml:3: kiosk.listen: \":8080\" is reachable from other machines, and the kiosk speaks plain HTTP (the identify token would travel in clear): listen on 127.0.0.1, or set kiosk.allow_remote: true"},
		{"listen_bad_host.yaml", "testdata/listen_bad_host.yaml:2: kiosk.listen: \"gate_1.local:8080\": \"gate_1.local\" is not an IP address or a host name"},
		{"duration_without_unit.yaml", "testdata/duration_without_unit.yaml:2: policy.cooldown: 30 has no unit: write a duration such as 30s or 30ms"},
		{"inline_duration_without_unit.yaml", "testdata/inline_duration_without_unit.yaml:4: io.door.debounce: 20 has no unit: write a duration such as 20s or 20ms"},
		{"score_nan.yaml", "testdata/score_nan.yaml:3: policy.min_scores.face_similarity: NaN must be between 0 and 100"},
		{"broker_port_range.yaml", "testdata/broker_port_range.yaml:3: mqtt.urls: \"tcp://broker.example.com:99999\": port 99999 is not a number from 1 to 65535"},
		{"broker_no_port.yaml", "testdata/broker_no_port.yaml:3: mqtt.urls: \"tcp://broker.example.com\" has no port (e.g. :1883, or :8883 for ssl)"},
		{"submission_id_mqtt_off.yaml", "testdata/submission_id_mqtt_off.yaml:3: mqtt.submission_id: \"sha1\" is not plain, hash or omit"},
		{"pulse_below_1ms.yaml", "testdata/pulse_below_1ms.yaml:3: io.relay.pulse: 500µs must be between 1ms and max_pulse (10s)"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file), envOf(nil))
			if err == nil {
				t.Fatal("loaded without error")
			}
			if err.Error() != tc.want {
				t.Fatalf("got  %s\nwant %s", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line == 0 || ce.File == "" {
				t.Fatalf("not an *Error with file and line: %#v", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("message shows a password from the URL")
			}
		})
	}
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no expected message in this table", f)
		}
	}
}

func TestDefaultsAndEmptyFile(t *testing.T) {
	for name, data := range map[string]string{"empty": "", "comments only": "# nothing here\n"} {
		c, err := Parse("f.yaml", []byte(data), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.API.URL != "https://rest-api.argosidentity.com/v3" || c.API.Timeout != 15*time.Second || c.API.Key.IsSet() || c.Path != "f.yaml" {
			t.Fatalf("%s: %+v", name, c.API)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestAPIOverridesAndLoopback(t *testing.T) {
	c, err := Parse("f.yaml", []byte("api:\n  url: https://a.example.com/v3\n"), envOf(map[string]string{"FACEGATE_API_URL": "http://127.0.0.1:8089/v3"}))
	if err != nil || c.API.URL != "http://127.0.0.1:8089/v3" {
		t.Fatalf("FACEGATE_API_URL: %v %q", err, c.API.URL)
	}
	for _, u := range []string{"http://localhost:8089/v3", "http://[::1]:1/v3"} {
		if _, err := Parse("f.yaml", []byte("api:\n  url: "+u+"\n"), nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := Parse("f.yaml", []byte("api:\n  url: http://10.0.0.5/v3\n  allow_insecure_http: true\n"), nil); err != nil {
		t.Fatal(err)
	}
}

// TestSecretSources: environment, then key.file, then systemd's
// credentials folder, then the inline value.
func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("  from-file\n"), 0o600)
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "facegate-api-key"), []byte("from-credential\n"), 0o600)
	broken := filepath.Join(dir, "broken")
	os.MkdirAll(filepath.Join(broken, "facegate-api-key"), 0o700) // a folder where the credential should be
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	tests := []struct {
		name, yaml  string
		env         map[string]string
		want, from  string
		errContains string
	}{
		{"inline", "api:\n  key: inline-key\n", nil, "inline-key", "config file", ""},
		{"inline mapping", "api:\n  key: {value: inline-key}\n", nil, "inline-key", "config file", ""},
		{"env wins", "api:\n  key: {value: inline-key, file: " + keyFile + "}\n", map[string]string{"FACEGATE_API_KEY": "from-env", "CREDENTIALS_DIRECTORY": creds}, "from-env", "environment FACEGATE_API_KEY", ""},
		{"file before credential", "api:\n  key: {file: " + keyFile + "}\n", map[string]string{"CREDENTIALS_DIRECTORY": creds}, "from-file", "file " + keyFile, ""},
		{"credential before inline", "api:\n  key: inline-key\n", map[string]string{"CREDENTIALS_DIRECTORY": creds}, "from-credential", "systemd credential facegate-api-key", ""},
		{"credential folder without the key", "api:\n  key: inline-key\n", map[string]string{"CREDENTIALS_DIRECTORY": dir}, "inline-key", "config file", ""},
		{"unset", "site: s\n", nil, "", "", ""},
		{"unreadable credential", "api:\n  key: inline-key\n", map[string]string{"CREDENTIALS_DIRECTORY": broken}, "", "",
			"f.yaml:2: api.key: cannot read systemd credential facegate-api-key: read " + filepath.Join(broken, "facegate-api-key") + ": is a directory"},
		{"empty file", "api:\n  key: {file: " + empty + "}\n", nil, "", "", "f.yaml:2: api.key.file: secret file " + empty + " is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tc.yaml), envOf(tc.env))
			if tc.errContains != "" {
				if err == nil || err.Error() != tc.errContains {
					t.Fatalf("got %v, want %s", err, tc.errContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.API.Key.Value() != tc.want || c.API.Key.Source != tc.from {
				t.Fatalf("value %q from %q, want %q from %q", c.API.Key.Value(), c.API.Key.Source, tc.want, tc.from)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("file-secret-123"), 0o600)
	yml := "api:\n  key: {file: " + keyFile + "}\nmqtt:\n  password: inline-mqtt-secret\n" +
		"  enabled: true\n  urls: [\"tcp://gate:url-secret-1@broker:1883\", \"ws://broker/mqtt?token=url-secret-2\"]\n" +
		"camera:\n  source: rtsp://admin:url-secret-3@10.0.0.7/stream1\n"
	c, err := Parse("f.yaml", []byte(yml), envOf(map[string]string{"FACEGATE_OPEN_SECRET": "env-open-secret-456"}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"file-secret-123", "inline-mqtt-secret", "env-open-secret-456", "url-secret"} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("Redacted shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"key: <redacted, from file " + keyFile + ">", "password: <redacted, from config file>", "url: https://rest-api.argosidentity.com/v3", "timeout: 15s",
		"- tcp://xxxxx@broker:1883", "- ws://broker/mqtt?token=xxxxx", "source: rtsp://xxxxx@10.0.0.7/stream1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	// %v and %+v of the config never show a secret either.
	for _, s := range []string{c.API.Key.String(), strings.Join([]string{c.MQTT.Password.String()}, "")} {
		if s != "<redacted>" {
			t.Errorf("String() = %q", s)
		}
	}
	// The redacted output is itself a valid config (without the secrets).
	if _, err := Parse("redacted.yaml", out, nil); err != nil {
		t.Fatalf("redacted output does not load: %v\n%s", err, out)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("site: a\napi:\n  key: k\n  timeout: 3s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
	})
}

// The one range message: the value as Go prints it, the bounds as the docs
// write them.
func TestBetween(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{between("a", 2*time.Minute, time.Millisecond, time.Minute), "a: 2m0s must be between 1ms and 60s"},
		{between("a", -time.Second, 0, 10*time.Second), "a: -1s must be between 0 and 10s"},
		{between("a", 0, 5*time.Second, 20*time.Minute), "a: 0s must be between 5s and 20m"},
		{between("a", 25*time.Hour, time.Second, 24*time.Hour), "a: 25h0m0s must be between 1s and 24h"},
		{between("a", 0, 1, 600), "a: 0 must be between 1 and 600"},
		{between("a", time.Hour, time.Second, time.Hour), ""},
		{between("a", 1, 1, 600), ""},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// The one message of a key with a fixed set of values; "" (the default)
// is accepted and not named.
func TestEnum(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{enum("a", "x", "deny", "open"), `a: "x" is not deny or open`},
		{enum("a", "x", "off", "soft", "hard"), `a: "x" is not off, soft or hard`},
		{enum("a", "x", drives...), `a: "x" is not push-pull, open-drain or open-source`},
		{enum("a", "", "plain", "hash", "omit"), `a: "" is not plain, hash or omit`},
		{enum("a", "x", "only"), `a: "x" is not only`},
		{enum("a", "", biases...), ""},
		{enum("a", "soft", "off", "soft", "hard"), ""},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		if got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
