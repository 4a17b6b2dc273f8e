package deps

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/facegate/facegate"

// Import paths, as go list prints them.
const (
	paho     = "github.com/eclipse/paho.mqtt.golang/..."
	gocv     = "gocv.io/x/gocv/..."
	gpiocdev = "github.com/warthog618/go-gpiocdev/..."
	yaml     = "gopkg.in/yaml.v3/..."
)

// A rule says that package pkg (relative to the module) must not link any
// package matching one of notLink. Patterns are go's: a path matches itself;
// "p/..." matches p and every package under it.
type rule struct {
	pkg     string
	notLink []string
	why     string
	// pending names the issue item that will make the rule hold: until
	// then a violation skips the rule instead of failing it.
	pending string
}

var rules = []rule{
	{pkg: "record", notLink: []string{module + "/...", "github.com/...", "gocv.io/...", "gopkg.in/...", "golang.org/...", "google.golang.org/..."},
		why: "the decision record is a leaf: standard library only, so everything that speaks of a decision may import it"},
	{pkg: "site", notLink: []string{module + "/kiosk", module + "/mqtt/...", module + "/gate/...", module + "/capture", module + "/liveness",
		module + "/faceauth/...", module + "/config", module + "/internal/redact", module + "/internal/mqttrules", module + "/internal/demoscene", paho, gpiocdev, "github.com/prometheus/...",
		"github.com/gorilla/...", "github.com/mochi-mqtt/...", "github.com/kardianos/...", "gocv.io/...", "gopkg.in/...", "golang.org/...", "google.golang.org/..."},
		why: "the site model (zones, presence, muster) is plain data over record: the wire is mqtt's, the configuration the caller's"},
	{pkg: "kiosk", notLink: []string{paho, gocv, gpiocdev, module + "/mqtt", module + "/capture", module + "/gate", module + "/liveness"},
		why: "the kiosk knows nothing of the MQTT wire, OpenCV or GPIO: it takes the small interfaces of kiosk/deps.go"},
	{pkg: "faceauth", notLink: []string{paho, gocv, gpiocdev, yaml, module + "/kiosk/...", module + "/mqtt/...", module + "/gate/...",
		module + "/capture/...", module + "/liveness/...", module + "/site/...", module + "/config/...", module + "/record/...", module + "/cmd/...",
		module + "/internal/redact", module + "/internal/mqttrules", module + "/internal/zonerules", module + "/internal/atomicfile"},
		why: "the FaceAuth client is a plain HTTP client of one API (the strict JSON decoder, a leaf, is all it shares)"},
	{pkg: "mqtt", notLink: []string{gocv, gpiocdev, module + "/kiosk", module + "/capture", module + "/gate", module + "/faceauth", module + "/liveness"},
		why: "mqtt encodes and delivers records; it does not know the session, the camera or the relay"},
	{pkg: "gate", notLink: []string{paho, gocv, module + "/mqtt", module + "/kiosk", module + "/capture", module + "/faceauth", module + "/record"},
		why: "the relay and the door inputs are hardware only"},
	{pkg: "capture", notLink: []string{paho, gpiocdev, yaml, module + "/mqtt", module + "/kiosk", module + "/gate", module + "/faceauth", module + "/record"},
		why: "capture turns frames into a chosen face and knows nothing of what is done with it"},
	{pkg: "liveness", notLink: []string{paho, gpiocdev, yaml, module + "/mqtt", module + "/kiosk", module + "/gate", module + "/faceauth", module + "/record"},
		why: "liveness judges frames; the kiosk decides what a verdict means"},
	{pkg: "config", notLink: []string{paho, gocv, gpiocdev, module + "/kiosk", module + "/mqtt/...", module + "/gate/...", module + "/capture", module + "/faceauth/...", module + "/record"},
		why: "the configuration is read by every part and so imports none of them"},
	{pkg: "internal/zonerules", notLink: []string{module + "/...", "github.com/...", "gocv.io/...", "gopkg.in/...", "golang.org/...", "google.golang.org/..."},
		why: "the zone rules that config, site and kiosk share (topology, names, door, reset_at) are a leaf: standard library only, so each may import it"},
	{pkg: "internal/atomicfile", notLink: []string{module + "/...", "github.com/..."},
		why: "the durable file write is shared by site and mqtt: standard library only"},
	{pkg: "internal/jsonobj", notLink: []string{module + "/...", "github.com/...", "gocv.io/...", "gopkg.in/...", "golang.org/..."},
		why: "the strict JSON object decoder is shared by every reader of outside input, faceauth's included: standard library only"},
	{pkg: "internal/owndir", notLink: []string{module + "/...", "github.com/...", "gocv.io/...", "gopkg.in/...", "golang.org/..."},
		why: "opening a folder safely as root is shared by the audit log and the model installer: standard library only"},
	{pkg: "internal/csvcell", notLink: []string{module + "/...", "github.com/...", "gocv.io/...", "gopkg.in/...", "golang.org/..."},
		why: "the CSV cell guard is shared by the site's and the history's exports: standard library only"},
	{pkg: "mqtt/outbox", notLink: []string{module + "/...", "github.com/..."},
		why: "the outbox is a file format: standard library only"},
	{pkg: "cmd/facegate", notLink: []string{"testing", "net/http/httptest", module + "/internal/leakcheck", module + "/internal/cdp", module + "/internal/testpki", module + "/gate/gatetest"},
		why: "the shipped binary carries no test code (testing also registers its flags)"},

	// Domain packages take plain Options; only cmd/facegate reads the file
	// (cmd/facegate/options.go maps it).
	{pkg: "gate", notLink: []string{yaml, module + "/config", module + "/kiosk/..."},
		why: "gate takes plain options; it does not parse YAML"},
	{pkg: "mqtt", notLink: []string{yaml, module + "/config", module + "/kiosk/..."},
		why: "mqtt takes plain options; it does not parse YAML"},
	{pkg: "kiosk", notLink: []string{yaml, module + "/config"},
		why: "the kiosk takes plain kiosk.Options; it does not parse YAML"},
	{pkg: "internal/mqttrules", notLink: []string{module + "/config", module + "/mqtt/...", yaml, paho},
		why: "the MQTT rules that config and mqtt share are a leaf both may import"},
}

// The platforms the rules are checked on: the build host and the Raspberry
// Pi targets (build constraints choose different files on each).
var platforms = []struct{ goos, goarch string }{
	{"", ""},
	{"linux", "arm64"},
	{"linux", "arm"},
}

func TestDependencies(t *testing.T) {
	// go test puts its own GOROOT/bin first on PATH: this is the toolchain
	// that built the test, whatever else PATH holds.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH (%v): cannot list dependencies", err)
	}
	roots := make([]string, 0, len(rules))
	for _, r := range rules {
		if p := module + "/" + r.pkg; !slices.Contains(roots, p) {
			roots = append(roots, p)
		}
	}
	for _, pl := range platforms {
		name := pl.goos + "_" + pl.goarch
		if pl.goos == "" {
			name = "host"
		}
		t.Run(name, func(t *testing.T) {
			g := listImports(t, goTool, pl.goos, pl.goarch, roots)
			for _, r := range rules {
				for _, bad := range r.notLink {
					path := g.pathTo(module+"/"+r.pkg, bad)
					switch {
					case path == nil:
						if r.pending != "" {
							t.Logf("pending rule holds now, drop its pending mark: %s does not link %s", r.pkg, bad)
						}
					case r.pending != "":
						t.Logf("pending (%s): %s links %s: %s", r.pending, r.pkg, bad, strings.Join(path, " → "))
					default:
						t.Errorf("%s links %s: %s\n\trule: %s", r.pkg, bad, strings.Join(path, " → "), r.why)
					}
				}
			}
		})
	}
}

// graph maps an import path to the packages it imports (test files
// excluded: what a package links, not what its tests do).
type graph map[string][]string

// listImports runs one `go list -deps` over roots for one platform.
func listImports(t *testing.T, goTool, goos, goarch string, roots []string) graph {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, roots...)
	cmd := exec.Command(goTool, args...)
	cmd.Env = os.Environ()
	if goos != "" {
		// cgo stays on so that gocv's files count as they do on the Pi.
		cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		g[f[0]] = f[1:]
	}
	for _, r := range roots {
		if _, ok := g[r]; !ok {
			t.Fatalf("go list did not list %s", r)
		}
	}
	return g
}

// pathTo returns the shortest import chain from pkg to a package matching
// pattern (see rule), or nil when pkg does not link one.
func (g graph) pathTo(pkg, pattern string) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != pkg && matches(p, pattern) {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range g[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

func matches(path, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		path, pattern string
		want          bool
	}{
		{"gocv.io/x/gocv", gocv, true},
		{"gocv.io/x/gocv/contrib", gocv, true},
		{"gocv.io/x/gocvx", gocv, false},
		{module + "/record", module + "/...", true},
		{module, module + "/...", true},
		{module + "/kiosk", module + "/kiosk", true},
		{module + "/kiosk/config", module + "/kiosk", false},
		{module + "/kiosk/config", module + "/kiosk/...", true},
		{module + "/kioskweb", module + "/kiosk/...", false},
		{"testing", "testing", true},
		{"testing/iotest", "testing", false},
		{"net/http", "net/http/httptest", false},
	} {
		if got := matches(tc.path, tc.pattern); got != tc.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tc.path, tc.pattern, got, tc.want)
		}
	}
}

// The guard must be able to fail: a made-up graph where the kiosk reaches
// gocv through capture yields that chain.
func TestPathToFindsTheChain(t *testing.T) {
	g := graph{
		module + "/kiosk":   {"fmt", module + "/capture"},
		module + "/capture": {"gocv.io/x/gocv", "image"},
		"gocv.io/x/gocv":    {"C"},
		"fmt":               {"io"},
	}
	got := fmt.Sprint(g.pathTo(module+"/kiosk", gocv))
	want := fmt.Sprint([]string{module + "/kiosk", module + "/capture", "gocv.io/x/gocv"})
	if got != want {
		t.Errorf("pathTo = %s, want %s", got, want)
	}
	if p := g.pathTo(module+"/kiosk", paho); p != nil {
		t.Errorf("pathTo(paho) = %v, want nil", p)
	}
}
