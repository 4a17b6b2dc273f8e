package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/record"
)

// haRestCommand is one Home Assistant rest_command entry as documented.
type haRestCommand struct {
	URL         string            `yaml:"url"`
	Method      string            `yaml:"method"`
	Headers     map[string]string `yaml:"headers"`
	ContentType string            `yaml:"content_type"`
	Payload     string            `yaml:"payload"`
	Timeout     int               `yaml:"timeout"`
}

// documentedRestCommand reads the rest_command block of docs/kiosk.md,
// resolving `!secret name` from secrets as Home Assistant does.
func documentedRestCommand(t *testing.T, secrets map[string]string) (string, haRestCommand) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "kiosk.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```yaml\nrest_command:\n")
	if !ok {
		t.Fatal("docs/kiosk.md has no ```yaml block starting with rest_command:")
	}
	block, _, _ = strings.Cut(block, "```")
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("rest_command:\n"+block), &root); err != nil {
		t.Fatalf("the documented rest_command is not YAML: %v", err)
	}
	var resolve func(n *yaml.Node)
	resolve = func(n *yaml.Node) {
		if n.Tag == "!secret" {
			v, ok := secrets[n.Value]
			if !ok {
				t.Fatalf("the documented rest_command uses the secret %q, which the test does not know", n.Value)
			}
			n.Tag, n.Value = "!!str", v
		}
		for _, c := range n.Content {
			resolve(c)
		}
	}
	resolve(&root)
	var doc2 struct {
		RestCommand map[string]haRestCommand `yaml:"rest_command"`
	}
	if err := root.Decode(&doc2); err != nil {
		t.Fatal(err)
	}
	if len(doc2.RestCommand) != 1 {
		t.Fatalf("want one documented rest_command, got %d", len(doc2.RestCommand))
	}
	for name, c := range doc2.RestCommand {
		return name, c
	}
	return "", haRestCommand{}
}

// TestHomeAssistantRestCommandOpensTheGate sends the request that the
// rest_command documented in docs/kiosk.md makes (method, headers, content
// type, payload; only the TLS proxy's address is replaced by the daemon's)
// through a running daemon and follows it to the recorded open: the relay
// pulse, the MQTT event and the audit line. It also checks the metrics
// listener serves nothing but /metrics.
func TestHomeAssistantRestCommandOpensTheGate(t *testing.T) {
	r := newRig(t, 0)
	const token = "ha-open-token-0123456789abcdef"
	r.env["FACEGATE_OPEN_TOKEN"] = token
	yml := strings.Replace(r.cfgYAML, "kiosk:\n  listen: 127.0.0.1:0\n",
		"kiosk:\n  listen: 127.0.0.1:0\n  open:\n    enabled: true\n", 1)
	r.writeConfig(yml + "metrics:\n  listen: 127.0.0.1:0\n")
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 15*time.Second, 20*time.Millisecond, "the kiosk to be idle")

	name, cmd := documentedRestCommand(t, map[string]string{"facegate_open_authorization": "Bearer " + token})
	u, err := url.Parse(cmd.URL)
	if err != nil {
		t.Fatalf("rest_command %s: url %q: %v", name, cmd.URL, err)
	}
	u.Scheme, u.Host = "http", r.d.addrString() // the daemon behind the TLS proxy
	do := func(auth string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(strings.ToUpper(cmd.Method), u.String(), strings.NewReader(cmd.Payload))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range cmd.Headers {
			req.Header.Set(k, v)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", cmd.ContentType)
		req.Header.Set("User-Agent", "HomeAssistant/2025.1 aiohttp/3.11")
		c := &http.Client{Timeout: time.Duration(cmd.Timeout) * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do("Bearer wrong-" + token)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", resp.StatusCode)
	}
	resp = do("")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("rest_command %s: %d %s", name, resp.StatusCode, body)
	}

	var ev record.Event
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		for _, e := range r.bl.events {
			if e.IdentitySource == kiosk.SourceHTTP {
				ev = e
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond, "the remote open event")
	if ev.Decision != record.DecisionGranted || len(ev.Reason) != 1 || ev.Reason[0] != kiosk.ReasonRemoteOpen ||
		ev.UserID != "home-assistant" || ev.Relay != record.RelayPending {
		t.Errorf("event %+v", ev)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		for _, res := range r.bl.results {
			if res.EventID == ev.EventID && res.Relay == record.RelayPulsed {
				return true
			}
		}
		return false
	}, 15*time.Second, 20*time.Millisecond, "the open's relay result")
	audit, err := os.ReadFile(filepath.Join(r.d.cfg.StateDir, "audit", "audit.jsonl"))
	if err != nil || !bytes.Contains(audit, []byte(ev.EventID)) || !bytes.Contains(audit, []byte(`"identity_source":"http"`)) {
		t.Errorf("audit log lacks the open %s: %v\n%s", ev.EventID, err, audit)
	}

	// The metrics listener: /metrics, and nothing of the kiosk.
	if r.d.metricsAddr == nil {
		t.Fatal("no metrics listener")
	}
	for path, want := range map[string]int{"/metrics": 200, "/stream.mjpg": 404, "/": 404, "/api/status": 404} {
		resp, err := http.Get(fmt.Sprintf("http://%s%s", r.d.metricsAddr, path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("metrics listener %s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/metrics" && !bytes.Contains(b, []byte(`facegate_identifications_total{result="accepted",source="http"} 1`)) {
			t.Errorf("the scrape does not count the open:\n%s", b)
		}
	}
	if code := r.stop(); code != exitOK {
		t.Errorf("exit %d", code)
	}
}
