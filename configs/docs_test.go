package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/facegate/facegate/config"
)

// docFiles are the documents an operator reads: README.md and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join("..", "README.md")}, files...)
}

// yamlBlock is one ```yaml fenced block of a document.
type yamlBlock struct {
	file string
	line int // of the block's first line
	code string
}

var fence = regexp.MustCompile("^( *)```([A-Za-z0-9_-]*)\\s*$")

// yamlBlocks returns the ```yaml blocks of file, de-indented (a block may sit
// in a list item).
func yamlBlocks(t *testing.T, file string) []yamlBlock {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out []yamlBlock
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, lang := len(m[1]), m[2]
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		if lang == "yaml" {
			var body []string
			for _, l := range lines[i+1 : j] {
				if len(l) >= indent {
					l = l[indent:]
				}
				body = append(body, l)
			}
			out = append(out, yamlBlock{file: file, line: i + 2, code: strings.Join(body, "\n") + "\n"})
		}
		i = j
	}
	return out
}

// topKeys are the top-level keys of the configuration file.
func topKeys() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(config.Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

var etcPath = regexp.MustCompile(`/etc/facegate/[A-Za-z0-9_.-]+`)

// TestDocumentedConfigurationsLoad: every ```yaml block of README.md and
// docs/*.md that is a facegate configuration (one of its top-level keys is
// a key of the file) passes `facegate config check`: an operator copies
// them. Files under /etc/facegate the example names (secrets, CA files) are
// made up in a temporary folder, each with its own content. YAML for other programs (Prometheus, Home
// Assistant, the emulator's seed) is left alone.
func TestDocumentedConfigurationsLoad(t *testing.T) {
	top := topKeys()
	checked := 0
	for _, file := range docFiles(t) {
		for _, blk := range yamlBlocks(t, file) {
			var root map[string]any
			if err := yaml.Unmarshal([]byte(blk.code), &root); err != nil {
				t.Errorf("%s:%d: a ```yaml block that is not YAML: %v", blk.file, blk.line, err)
				continue
			}
			ours := false
			for k := range root {
				ours = ours || top[k]
			}
			if !ours {
				continue
			}
			checked++
			dir := t.TempDir()
			code := etcPath.ReplaceAllStringFunc(blk.code, func(p string) string {
				q := filepath.Join(dir, filepath.Base(p))
				if err := os.WriteFile(q, []byte("Zq3v9XbT2mLw8RkN4sYp7JdH-"+filepath.Base(p)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return q
			})
			name := filepath.Base(blk.file)
			if _, err := config.Parse(name, []byte(code), noEnv); err != nil {
				t.Errorf("%s:%d: the documented configuration does not pass config check: %v", strings.TrimPrefix(blk.file, "../"), blk.line, err)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no configuration example found in the docs")
	}
}

// keyPathsOf lists every dotted key path of the configuration type ("[]"
// for a list's items, "*" for a map's keys).
func keyPathsOf(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.PkgPath() != reflect.TypeOf(config.Config{}).PkgPath() {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if opts == "inline" {
				keyPathsOf(f.Type, prefix, out)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out[p] = true
			keyPathsOf(f.Type, p, out)
		}
	case reflect.Slice:
		keyPathsOf(t.Elem(), prefix, out)
	case reflect.Map:
		keyPathsOf(t.Elem(), prefix+".*", out)
	}
}

// TestDocumentedKeysExist: every configuration key the docs name as a
// dotted path (`capture.detector`, `policy.liveness_lockout.max`) is a key
// of the file, and every key of every documented ```yaml configuration is
// one (the load test above checks that too, but names only the first).
func TestDocumentedKeysExist(t *testing.T) {
	keys := map[string]bool{}
	keyPathsOf(reflect.TypeOf(config.Config{}), "", keys)
	top := topKeys()
	var sections []string
	for k := range top {
		sections = append(sections, regexp.QuoteMeta(k))
	}
	sort.Strings(sections)
	dotted := regexp.MustCompile("`((?:" + strings.Join(sections, "|") + `)(?:\.[a-z_]+)+)`)
	for _, file := range append(docFiles(t), filepath.Join("..", "packaging", "facegate.1")) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range dotted.FindAllStringSubmatch(line, -1) {
				k := m[1]
				if strings.HasSuffix(k, ".jsonl") || strings.HasSuffix(k, ".md") || strings.HasSuffix(k, ".go") {
					continue // a file name
				}
				if !keys[k] {
					t.Errorf("%s:%d: `%s` is not a configuration key", strings.TrimPrefix(file, "../"), i+1, k)
				}
			}
		}
	}
}
