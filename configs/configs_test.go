package configs

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/facegate/facegate/config"
)

func noEnv(string) string { return "" }

// keyPaths lists the dotted paths of every mapping key in a YAML document.
func keyPaths(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, prefix)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := prefix + n.Content[i].Value
			out[p] = true
			walk(n.Content[i+1], p+".")
		}
	}
	walk(&root, "")
	return out
}

// TestExampleLoadsWithTheDefaults: facegate.yaml is what the package
// installs as /etc/facegate/facegate.yaml; it loads, and its values are the
// defaults (so that it documents them truthfully).
func TestExampleLoadsWithTheDefaults(t *testing.T) {
	cfg, err := config.Load("facegate.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Default().Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("configs/facegate.yaml does not hold the defaults:\n--- file\n%s\n--- defaults\n%s", got, want)
	}
}

// TestExampleDocumentsEveryKey: every key of every section is in the file.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("facegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := config.Default().Redacted()
	if err != nil {
		t.Fatal(err)
	}
	have := keyPaths(t, data)
	var missing []string
	for k := range keyPaths(t, defaults) {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("configs/facegate.yaml does not document: %s", strings.Join(missing, ", "))
	}
}

func TestDemoLoads(t *testing.T) {
	if _, err := config.Load("demo.yaml", noEnv); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(DemoName, Demo, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.MQTT.Enabled || cfg.IO.Relay.Driver != "sim" || cfg.Policy.MinScores.HeadCover == 0 {
		t.Fatalf("the demo needs MQTT, the sim relay and a head-cover minimum: %+v", cfg)
	}
}
