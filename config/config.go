// Package config loads facegate's one YAML configuration file: strict (unknown
// keys rejected with file and line), defaulted, validated in one place, with
// secrets from the environment, a file or systemd's credentials folder.
//
// Each section lives in its own file (api.go, camera.go, gate.go, mqtt.go,
// kiosk.go) with its defaults and its validation.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/facegate/facegate/internal/redact"
	"github.com/facegate/facegate/internal/regularfile"
	"github.com/facegate/facegate/internal/zonerules"
)

// DefaultPath is where the daemon looks without --config.
const DefaultPath = "/etc/facegate/facegate.yaml"

// Config is the whole file.
type Config struct {
	// Site and Gate name this gate in MQTT topics, events and logs.
	Site string `yaml:"site"`
	Gate string `yaml:"gate"`
	// StateDir holds the outbox, audit log and saved crops
	// (systemd's StateDirectory= by default).
	StateDir string `yaml:"state_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Mode is gate (identify, face, relay) or muster (an assembly-point
	// kiosk: no relay ever; zones.go).
	Mode string `yaml:"mode"`

	API      API      `yaml:"api"`
	Camera   Camera   `yaml:"camera"`
	Capture  Capture  `yaml:"capture"`
	IO       GateIO   `yaml:"io"`
	MQTT     MQTT     `yaml:"mqtt"`
	Kiosk    Kiosk    `yaml:"kiosk"`
	Identity Identity `yaml:"identity"`
	Policy   Policy   `yaml:"policy"`
	Audit    Audit    `yaml:"audit"`
	Metrics  Metrics  `yaml:"metrics"`
	Zones    Zones    `yaml:"zones"`

	// Path is the file this was loaded from ("" for defaults only).
	Path string `yaml:"-"`
}

// Env is how the loader sees the environment (os.Getenv in production).
type Env func(key string) string

// Error is a configuration problem with the place it was found.
type Error struct {
	File  string // "" when the value came from defaults or the environment
	Line  int    // 0 when unknown
	Field string // dotted path, e.g. "api.timeout"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// fieldError is what section validators return; Load adds file and line.
func fieldError(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// between is the one range check of a number or a duration key, with the
// one message a user reads for it: "<value> must be between <lo> and <hi>".
func between[T int | time.Duration](field string, v, lo, hi T) error {
	if v >= lo && v <= hi {
		return nil
	}
	if d, ok := any(v).(time.Duration); ok {
		return fieldError(field, "%s must be between %s and %s", d, bound(time.Duration(lo)), bound(time.Duration(hi)))
	}
	return fieldError(field, "%d must be between %d and %d", v, lo, hi)
}

// zeroMeans adds what 0 means to a range error of a key where 0 is
// special (untimed, no maximum): the range alone does not say it.
func zeroMeans(err error, meaning string) error {
	var e *Error
	if errors.As(err, &e) {
		e.Msg += "; 0 means " + meaning
	}
	return err
}

// enum is the one check of a key with a fixed set of values, with its one
// message: "<value> is not a, b or c". An empty string among values is
// accepted without being named (it means "the default").
func enum(field, v string, values ...string) error {
	if slices.Contains(values, v) {
		return nil
	}
	named := slices.DeleteFunc(slices.Clone(values), func(s string) bool { return s == "" })
	list := named[len(named)-1]
	if len(named) > 1 {
		list = strings.Join(named[:len(named)-1], ", ") + " or " + list
	}
	return fieldError(field, "%q is not %s", v, list)
}

// bound writes a range's end as the docs do: 0, 1ms, 60s, 5m, 24h (not
// time.Duration's 1m0s).
func bound(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d <= time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}

// Default returns the configuration used for every key the file leaves out.
func Default() *Config {
	c := &Config{
		Site:     "site",
		Gate:     "gate",
		StateDir: "/var/lib/facegate",
		LogLevel: "info",
		Mode:     ModeGate,
	}
	c.API.setDefaults()
	c.Camera.setDefaults()
	c.Capture.setDefaults()
	c.IO.setDefaults()
	c.MQTT.setDefaults()
	c.Kiosk.setDefaults()
	c.Identity.setDefaults()
	c.Policy.setDefaults()
	c.Audit.setDefaults()
	c.Zones.setDefaults()
	return c
}

// Load reads, defaults, overrides from env and validates the file at path.
// A missing file at DefaultPath is an error too: the daemon never runs on
// guesses. Errors are *Error (or wrap one) with file and line.
func Load(path string, env Env) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, env)
}

// maxConfigFile bounds the configuration file: the documented one with
// every key is about 30 KB.
const maxConfigFile = 4 << 20

// readConfigFile reads the configuration without blocking: a FIFO or a
// device at its path is refused, not waited on (a reload runs on the
// goroutine that also handles SIGTERM; found by a red-team pass), and a
// file over maxConfigFile is refused.
func readConfigFile(path string) ([]byte, error) {
	return regularfile.Read(path, maxConfigFile)
}

// LoadSettings is Load for a file that must set something: one that is
// empty or holds only comments (an editor saving in place, caught half
// way) is an error instead of the built-in defaults. The daemon's reload
// uses it.
func LoadSettings(path string, env Env) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && (len(root.Content) == 0 || root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
		return nil, &Error{File: path, Msg: "sets nothing (empty, or comments only): a file still being written? It is not read as the defaults"}
	}
	return Parse(path, data, env)
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte, env Env) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := Default()
	c.Path = name
	var root yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, data, err)
		}
		// A second document would be ignored silently by the struct decoder.
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return nil, &Error{File: name, Line: extra.Line, Msg: "only one YAML document is allowed"}
		} else if !errors.Is(err, io.EOF) {
			return nil, yamlError(name, data, err)
		}
		// Before the strict decoder, whose message for this ("cannot
		// unmarshal !!int `30` into time.Duration") names neither the key
		// nor the fix.
		if fe := bareNumberMistake(&root, reflect.TypeOf(*c), "", map[numberVisit]bool{}); fe != nil {
			fe.File = name
			return nil, fe
		}
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		if err := strict.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			var le *lineError
			if errors.As(err, &le) {
				return nil, &Error{File: name, Line: le.Line, Field: pathAt(&root, le.Line, le.Column), Msg: le.Msg}
			}
			return nil, namedKey(yamlError(name, data, err), &root)
		}
	}
	c.applyEnv(env)
	if err := c.Validate(); err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			fe.File = name
			fe.Line = lineOf(&root, fe.Field)
		}
		return nil, err
	}
	if err := c.resolveSecrets(env); err != nil {
		var fe *Error
		if errors.As(err, &fe) {
			fe.File = name
			fe.Line = lineOf(&root, fe.Field)
		}
		return nil, err
	}
	return c, nil
}

// applyEnv applies the documented environment overrides.
func (c *Config) applyEnv(env Env) {
	if v := env("FACEGATE_API_URL"); v != "" {
		c.API.URL = v
	}
}

// resolveSecrets fills every Secret from its configured source.
func (c *Config) resolveSecrets(env Env) error {
	if err := c.API.Key.resolve("api.key", "FACEGATE_API_KEY", "facegate-api-key", env); err != nil {
		return err
	}
	if err := c.MQTT.Password.resolve("mqtt.password", "FACEGATE_MQTT_PASSWORD", "facegate-mqtt-password", env); err != nil {
		return err
	}
	if err := c.MQTT.Commands.Open.Secret.resolve("mqtt.commands.open.secret", "FACEGATE_OPEN_SECRET", "facegate-open-secret", env); err != nil {
		return err
	}
	if err := c.Identity.HTTP.Token.resolve("identity.http.token", "FACEGATE_HTTP_TOKEN", "facegate-http-token", env); err != nil {
		return err
	}
	if err := c.Kiosk.Open.Token.resolve("kiosk.open.token", "FACEGATE_OPEN_TOKEN", "facegate-open-token", env); err != nil {
		return err
	}
	if err := c.Zones.PageToken.resolve("zones.page_token", "FACEGATE_SITE_TOKEN", "facegate-site-token", env); err != nil {
		return err
	}
	if err := c.Zones.AdminToken.resolve("zones.admin_token", "FACEGATE_SITE_ADMIN_TOKEN", "facegate-site-admin-token", env); err != nil {
		return err
	}
	if err := c.Zones.validateSecrets(c.Kiosk.Open.Token, c.Identity.HTTP.Token); err != nil {
		return err
	}
	if err := c.MQTT.validateSecrets(c.Zones.Enabled); err != nil {
		return err
	}
	// The command secret signs cmd/open and, with zones on, the site's
	// evacuation (which releases the relays): no token handed to screens
	// or badge readers may be it.
	if sec := c.MQTT.Commands.Open.Secret; c.MQTT.Enabled && sec.IsSet() && (c.MQTT.Commands.Open.Enabled || c.Zones.Enabled) {
		for _, o := range []struct {
			key string
			s   Secret
		}{{"identity.http.token", c.Identity.HTTP.Token}, {"zones.page_token", c.Zones.PageToken}} {
			if o.s.IsSet() && o.s.Value() == sec.Value() {
				return fieldError(o.key, "must differ from mqtt.commands.open.secret (whoever holds it could sign an open or an evacuation)")
			}
		}
	}
	if err := c.Kiosk.validateSecrets(c.Identity.HTTP.Token); err != nil {
		return err
	}
	return c.Identity.validateSecrets()
}

// Validate checks every section; the first problem is returned as *Error.
func (c *Config) Validate() error {
	if !zonerules.ValidName(c.Site) {
		return fieldError("site", "%q %s", c.Site, zonerules.NameRule)
	}
	if !zonerules.ValidName(c.Gate) {
		return fieldError("gate", "%q %s", c.Gate, zonerules.NameRule)
	}
	if c.StateDir == "" {
		return fieldError("state_dir", "must not be empty")
	}
	if err := enum("log_level", c.LogLevel, "debug", "info", "warn", "error"); err != nil {
		return err
	}
	for _, v := range []interface{ validate() error }{
		&c.API, &c.Camera, &c.Capture, &c.IO, &c.MQTT, &c.Kiosk, &c.Identity, &c.Policy, &c.Audit, &c.Metrics,
	} {
		if err := v.validate(); err != nil {
			return err
		}
	}
	if c.Metrics.Listen != "" && c.Metrics.Listen == c.Kiosk.Listen && !strings.HasSuffix(c.Metrics.Listen, ":0") {
		return fieldError("metrics.listen", "%q is kiosk.listen too: give the metrics listener its own port", c.Metrics.Listen)
	}
	if err := c.validateZones(); err != nil {
		return err
	}
	// Across sections: a guard that could never deny is a configuration error.
	if c.Policy.RequireBroker && !c.MQTT.Enabled {
		return fieldError("policy.require_broker", "needs mqtt.enabled: true (without a broker the guard can never be met)")
	}
	return nil
}

// Redacted returns the effective configuration as YAML with every secret
// replaced by "<redacted>" (or "" when unset), and the passwords and secret
// query values of URLs (mqtt.urls, camera.source, api.url) masked.
func (c *Config) Redacted() ([]byte, error) {
	shown := *c
	shown.API.URL = redact.URL(c.API.URL)
	shown.Camera.Source = redact.URL(c.Camera.Source)
	shown.MQTT.URLs = redact.URLs(c.MQTT.URLs)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&shown); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlError turns yaml.v3's messages ("yaml: line 3: ...", or a list of
// "line 5: field x not found in type config.API") into "file:line: ...".
func yamlError(name string, data []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		line := 0
		if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		msg = strings.Replace(msg, "not found in type", "is not a known key of", 1)
		return &Error{File: name, Line: line, Msg: msg}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	if line == 0 {
		line = lineOfYAMLError(msg, data)
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// namedKey gives a decoder's error (err, an *Error with a line) the key
// it is about, in the operator's words: a value of the wrong type names
// its key and what it should be ("policy.max_faces: `two` is not a whole
// number"), an unknown key the section it is in ("policy.anti_passback:
// field mdoe is not a known key"), instead of yaml.v3's Go types.
func namedKey(err error, root *yaml.Node) error {
	var fe *Error
	if !errors.As(err, &fe) || fe.Line == 0 || fe.Field != "" {
		return err
	}
	if rest, ok := strings.CutPrefix(fe.Msg, "field "); ok {
		if key, of, ok := strings.Cut(rest, " is not a known key of "); ok {
			path := keyOnLine(root, fe.Line, func(k, _ *yaml.Node) bool { return k.Value == key })
			if path == "" {
				return err
			}
			fe.Field, _ = cutLast(path)
			fe.Msg = "field " + key + " is not a known key"
			if strings.HasPrefix(of, "a ") { // a secret (value, file): says what is known
				fe.Msg += " of " + of
			}
		}
		return err
	}
	if m := cannotUnmarshal.FindStringSubmatch(fe.Msg); m != nil {
		path := keyOnLine(root, fe.Line, func(_, v *yaml.Node) bool {
			if m[2] != "" {
				return v.Kind == yaml.ScalarNode && "`"+v.Value+"`" == m[2]
			}
			return v.Tag == m[1] || v.ShortTag() == m[1]
		})
		if path == "" {
			return err
		}
		fe.Field = path
		if m[2] != "" {
			fe.Msg = m[2] + " is not " + plainType(m[3])
		} else {
			fe.Msg = "a " + strings.TrimPrefix(m[1], "!!") + " is not " + plainType(m[3])
		}
		return err
	}
	if strings.HasPrefix(fe.Msg, "a secret ") {
		fe.Field = keyOnLine(root, fe.Line, func(_, v *yaml.Node) bool {
			return v.Kind == yaml.SequenceNode || v.Kind == yaml.AliasNode
		})
	}
	return err
}

// cannotUnmarshal is yaml.v3's message for a value of the wrong type:
// its tag, the value for a scalar, and the Go type.
var cannotUnmarshal = regexp.MustCompile("^cannot unmarshal (!![a-z]+)(?: (`.*`))? into (.+)$")

// plainType says a Go type of the configuration as an operator writes it.
func plainType(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration (such as 30s or 500ms)"
	case goType == "bool":
		return "true or false (unquoted)"
	case goType == "string":
		return "text"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "a list (- item lines, or [a, b])"
	case strings.HasPrefix(goType, "map["):
		return "a mapping (key: value lines)"
	default:
		return "a section (key: value lines)"
	}
}

// keyOnLine is the dotted path of the key written on line, or "". Of
// several keys on the line (a flow mapping: `policy: {max_faces: two}`)
// it is the one pick accepts (its key and value nodes), else the deepest.
// A line inside a node an alias points to is named by no key: the mistake
// may be at the alias (another section) as well as at the anchor.
func keyOnLine(root *yaml.Node, line int, pick func(k, v *yaml.Node) bool) string {
	if aliasedLine(root, line) {
		return ""
	}
	type cand struct {
		path string
		k, v *yaml.Node
	}
	var all []cand
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				if k.Line == line {
					all = append(all, cand{p, k, v})
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, e := range n.Content {
				walk(e, fmt.Sprintf("%s[%d]", prefix, i))
			}
		}
	}
	walk(root, "")
	if len(all) == 0 {
		return ""
	}
	for _, c := range all {
		if pick != nil && pick(c.k, c.v) {
			return c.path
		}
	}
	if len(all) > 1 {
		return "" // several keys, none known to be the one
	}
	return all[0].path
}

// aliasedLine reports whether an alias of the document points to a node
// that spans line (each node visited once, however many aliases).
func aliasedLine(root *yaml.Node, line int) bool {
	var targets []*yaml.Node
	seen := map[*yaml.Node]bool{}
	var find func(n *yaml.Node)
	find = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			targets = append(targets, n.Alias)
		}
		for _, c := range n.Content {
			find(c)
		}
	}
	find(root)
	clear(seen)
	var spans func(n *yaml.Node) bool
	spans = func(n *yaml.Node) bool {
		if n == nil || seen[n] {
			return false
		}
		seen[n] = true
		if n.Line == line {
			return true
		}
		for _, c := range n.Content {
			if spans(c) {
				return true
			}
		}
		return false
	}
	for _, t := range targets {
		if spans(t) {
			return true
		}
	}
	return false
}

// cutLast splits "a.b.c" into "a.b" and "c" ("" and "a" for "a").
func cutLast(path string) (string, string) {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// lineOfYAMLError finds the line of the errors yaml.v3 reports without one
// (an unknown alias, a control character), or 0: every refused file must
// name its line.
func lineOfYAMLError(msg string, data []byte) int {
	at := -1
	var anchor string
	if _, err := fmt.Sscanf(msg, "unknown anchor %s referenced", &anchor); err == nil {
		at = bytes.Index(data, []byte("*"+strings.Trim(anchor, "'")))
	} else if strings.Contains(msg, "control characters") {
		at = bytes.IndexFunc(data, func(r rune) bool {
			return r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r == 0x7f)
		})
	}
	if at < 0 {
		return 0
	}
	return bytes.Count(data[:at], []byte("\n")) + 1
}

var durationType = reflect.TypeOf(time.Duration(0))

// bareNumberMistake finds a duration written as a bare number ("cooldown:
// 30": seconds? milliseconds?; 0 needs no unit), and a count written with
// a fraction ("max_faces: 0.5"), which yaml.v3 would truncate.
//
// Each node is checked once for each type: a node merged or aliased many
// times (nested merge keys, 10^n mappings once expanded from a few
// hundred bytes) is not walked again (found by a red-team pass: 48 s for a
// 418-byte file).
func bareNumberMistake(n *yaml.Node, t reflect.Type, path string, seen map[numberVisit]bool) *Error {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil { // "max_faces: *half": the anchored value
		n = n.Alias
	}
	v := numberVisit{n, t}
	if seen[v] {
		return nil
	}
	seen[v] = true
	switch {
	case t == durationType:
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") && strings.Trim(n.Value, "0.+-") != "" {
			return &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf("%s has no unit: write a duration such as %ss or %sms", n.Value, n.Value, n.Value)}
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		// yaml.v3 truncates a float into an int field: "max_faces: 0.5"
		// would read as 0 (the guard off) without a word.
		// A whole number written as one ("max_faces: 1.0") reads as it says.
		if n.Kind == yaml.ScalarNode && n.Tag == "!!float" {
			if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
				return &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf("%s is not a whole number", n.Value)}
			}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if key == "<<" && n.Content[i].Tag == "!!merge" { // merged in: its keys are this struct's
				v := n.Content[i+1]
				if v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					if fe := bareNumberMistake(m, t, path, seen); fe != nil {
						return fe
					}
				}
				continue
			}
			if ft, ok := fields[key]; ok {
				p := key
				if path != "" {
					p = path + "." + key
				}
				if fe := bareNumberMistake(n.Content[i+1], ft, p, seen); fe != nil {
					return fe
				}
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, e := range n.Content {
			if fe := bareNumberMistake(e, t.Elem(), path, seen); fe != nil {
				return fe
			}
		}
	}
	return nil
}

// numberVisit is a node checked by bareNumberMistake as a type.
type numberVisit struct {
	n *yaml.Node
	t reflect.Type
}

// yamlFields maps the YAML keys of struct t (inline structs included) to
// their types.
func yamlFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case opts == "inline":
			yamlFields(f.Type, out)
		case name == "":
			out[strings.ToLower(f.Name)] = f.Type
		default:
			out[name] = f.Type
		}
	}
}

// pathAt is the dotted key path of the value at line and column, or ""
// when no mapping value is there.
func pathAt(n *yaml.Node, line, column int) string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Line == line && v.Column == column {
			return k.Value
		}
		if p := pathAt(v, line, column); p != "" {
			return k.Value + "." + p
		}
	}
	return ""
}

// lineOf finds the line of a dotted key path in the document, or of its
// nearest existing parent; 0 when the path is not in the file at all.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, key := range strings.Split(path, ".") {
		// "list[2]": the key, then the third item of its sequence.
		index := -1
		if k, rest, ok := strings.Cut(key, "["); ok {
			if i, err := strconv.Atoi(strings.TrimSuffix(rest, "]")); err == nil {
				key, index = k, i
			}
		}
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		if index >= 0 {
			if next.Kind != yaml.SequenceNode || index >= len(next.Content) {
				return line
			}
			next = next.Content[index]
			line = next.Line
		}
		n = next
	}
	return line
}
