package mqtt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
)

// docBlock returns the code of the fenced block between <!-- name --> and
// <!-- /name --> in docs/mqtt.md.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "mqtt.md"))
	if err != nil {
		t.Fatalf("read docs/mqtt.md: %v", err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- "+name+" -->"), strings.Index(s, "<!-- /"+name+" -->")
	if i < 0 || j < i {
		t.Fatalf("docs/mqtt.md has no block %s", name)
	}
	block := s[i:j]
	start := strings.Index(block, "\n```")
	block = block[start+4:]
	block = block[strings.Index(block, "\n")+1:]
	return block[:strings.LastIndex(block, "```")]
}

// setLine replaces the line starting with key in code.
func setLine(t *testing.T, code, key, line string) string {
	t.Helper()
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key) {
			lines[i] = line
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", key, code)
	return ""
}

func secretFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "open-secret")
	if err := os.WriteFile(p, append(append([]byte(nil), testSecret...), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The documented recipes produce payloads the gate accepts.
func TestDocumentedSigningRecipes(t *testing.T) {
	t.Run("shell and openssl", func(t *testing.T) {
		for _, tool := range []string{"sh", "openssl"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed: skipping the shell recipe", tool)
			}
		}
		code := docBlock(t, "sign-open-sh")
		code = setLine(t, code, "SECRET_FILE=", "SECRET_FILE="+secretFile(t))
		code = setLine(t, code, "TOPIC=", "TOPIC="+testTopic)
		code = "mosquitto_pub() { for a; do last=$a; done; printf '%s' \"$last\"; }\n" + code
		out, err := exec.Command("sh", "-c", code).CombinedOutput()
		if err != nil {
			t.Fatalf("recipe failed: %v\n%s", err, out)
		}
		checkDocPayload(t, out)
	})
	t.Run("python", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed: skipping the Python recipe")
		}
		code := docBlock(t, "sign-open-py")
		code = setLine(t, code, "import paho", "")
		code = setLine(t, code, "SECRET_FILE =", "SECRET_FILE = '"+secretFile(t)+"'")
		code = setLine(t, code, "TOPIC =", "TOPIC = '"+testTopic+"'")
		code = setLine(t, code, "publish.single", "print(payload)")
		out, err := exec.Command("python3", "-c", code).CombinedOutput()
		if err != nil {
			t.Fatalf("recipe failed: %v\n%s", err, out)
		}
		checkDocPayload(t, []byte(strings.TrimSpace(string(out))))
	})
}

func checkDocPayload(t *testing.T, payload []byte) {
	t.Helper()
	clk := &fakeClock{t: time.Now().Add(-time.Minute)}
	v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, filepath.Join(t.TempDir(), "replay.json"))
	clk.Add(time.Minute)
	if _, err := v.Verify(payload); err != nil {
		t.Fatalf("the gate refuses the documented payload %s: %v", payload, err)
	}
}

// The documented configuration is valid.
func TestDocumentedConfiguration(t *testing.T) {
	env := map[string]string{"FACEGATE_MQTT_PASSWORD": "pw", "FACEGATE_OPEN_SECRET": "0123456789abcdef"}
	cfg, err := config.Parse("docs/mqtt.md", []byte(docBlock(t, "config-example")), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the configuration in docs/mqtt.md does not load: %v", err)
	}
	if !cfg.MQTT.Enabled || cfg.MQTT.TLS.ServerName != "broker.example" || cfg.MQTT.PrefixFor(cfg.Site, cfg.Gate) != "facegate/plant-a/north-turnstile" {
		t.Fatalf("unexpected: %+v", cfg.MQTT)
	}
}
