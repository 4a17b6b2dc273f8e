package configs

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// commentsOf maps each dotted key path of a YAML document to the comments
// an operator reads beside it: its own (above, on its line, below) and
// those of the keys that enclose it.
func commentsOf(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(n *yaml.Node, prefix, inherited string)
	walk = func(n *yaml.Node, prefix, inherited string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, prefix, inherited)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			own := strings.Join([]string{k.HeadComment, k.LineComment, k.FootComment, v.HeadComment, v.LineComment}, "\n")
			p := prefix + k.Value
			out[p] = own + "\n" + inherited
			walk(v, p+".", own+"\n"+inherited)
		}
	}
	walk(&root, "", "")
	return out
}

// checkedRange finds the keys whose range config check enforces with
// between("<key>", ...) or a "must be A..B" / "must be between" message.
var checkedRange = regexp.MustCompile(`between\("([a-z_]+(?:\.[a-z_]+)+)",|fieldError\("([a-z_]+(?:\.[a-z_]+)+)", "[^"]*(?:must be [0-9]+\.\.|must be between|must be at least)`)

// rangeWords is how a comment states a range: 1..100, 0-255, at most, at
// least, ≥.
var rangeWords = regexp.MustCompile(`[0-9a-z]\.\.[0-9a-z]|\.\.[0-9]|[0-9]+ ?-[0-9]+|at most|at least|≥|never more than`)

// TestExampleStatesEveryCheckedRange: configs/facegate.yaml is the
// reference of every key (the package installs it as
// /etc/facegate/facegate.yaml); each key whose range `config check`
// enforces says that range beside it, so that an operator does not learn
// it from a refused reload.
func TestExampleStatesEveryCheckedRange(t *testing.T) {
	data, err := os.ReadFile("facegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	comments := commentsOf(t, data)
	srcs, err := filepath.Glob(filepath.Join("..", "config", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range checkedRange.FindAllStringSubmatch(string(b), -1) {
			checked[m[1]+m[2]] = true
		}
	}
	if len(checked) < 10 {
		t.Fatalf("found only %d range checks in config/*.go: the pattern is out of date", len(checked))
	}
	var missing []string
	for k := range checked {
		c, ok := comments[k]
		if !ok {
			continue // not a key of the file (a list item's field)
		}
		if !rangeWords.MatchString(c) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("configs/facegate.yaml does not say the range config check enforces for: %s", strings.Join(missing, ", "))
	}
}
