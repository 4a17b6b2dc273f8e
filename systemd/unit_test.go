package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// directives parses a unit into "Section.Key" → values (repeated keys kept).
func directives(t *testing.T, unit string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line %q is not Key=Value", line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestUnitDeclaresWhatOperationsRelyOn(t *testing.T) {
	d := directives(t, Unit)
	for key, want := range map[string]string{
		"Service.Type":                    "notify",
		"Service.Restart":                 "always",
		"Service.RestartSec":              "2s",
		"Service.WatchdogSec":             "30s",
		"Service.TimeoutAbortSec":         "10s",
		"Service.StateDirectory":          "facegate",
		"Service.User":                    "facegate",
		"Service.SupplementaryGroups":     "video gpio",
		"Service.LoadCredential":          "facegate-api-key:/etc/facegate/api-key",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.PrivateTmp":              "yes",
		"Service.DevicePolicy":            "closed",
		"Service.CapabilityBoundingSet":   "",
		"Service.ExecStart":               DefaultExecStart,
		"Service.ExecReload":              "/bin/kill -HUP $MAINPID",
		"Service.RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
		"Install.WantedBy":                "multi-user.target",
	} {
		got, ok := d[key]
		if !ok {
			t.Errorf("%s is missing", key)
			continue
		}
		if got[0] != want {
			t.Errorf("%s=%q, want %q", key, got[0], want)
		}
	}
	allow := strings.Join(d["Service.DeviceAllow"], ",")
	for _, dev := range []string{"char-video4linux rw", "char-gpiochip rw"} {
		if !strings.Contains(allow, dev) {
			t.Errorf("DeviceAllow lacks %q (have %q)", dev, allow)
		}
	}
	if len(d["Service.SystemCallFilter"]) == 0 {
		t.Error("SystemCallFilter is missing")
	}
	if strings.Contains(Unit, "{{") {
		t.Error("the unit contains {{, which kardianos/service would read as a template action")
	}
}

// TestUnitExposure runs systemd's own scoring on the shipped unit.
func TestUnitExposure(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd); exposure not checked")
	}
	// Offline analysis reads the file by name; give it a copy so that the
	// check is of the embedded bytes.
	path := filepath.Join(t.TempDir(), UnitName)
	if err := os.WriteFile(path, []byte(Unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Overall exposure level") {
		if strings.Contains(string(out), "Unknown option") || strings.Contains(string(out), "unrecognized option") {
			t.Skipf("this systemd-analyze has no --offline (systemd < 250): %s", out)
		}
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze output:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security exposure: %.1f", score)
	if score > 3.0 {
		t.Fatalf("exposure %.1f > 3.0; failing checks:\n%s", score, failing(out))
	}
}

func failing(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
