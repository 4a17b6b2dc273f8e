package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConfigCheckRefusesAFileThatSetsNothing: a reload (SIGHUP) refuses a
// configuration file that is empty or holds only comments ("a file still
// being written? It is not read as the defaults", docs/operations.md),
// but `facegate config check` calls the same file valid and `facegate run`
// (the same config.Load) starts on the built-in defaults: the sim relay,
// MQTT off, zones off, liveness off. A config truncated by a full disk or
// an editor caught half way then brings the gate up as a different gate
// (no events to the broker or the site) instead of refusing, while the
// reload of the same bytes is refused: the operator is told two things.
func TestConfigCheckRefusesAFileThatSetsNothing(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"empty": "", "comments only": "# facegate\n# (being edited)\n"} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCmd(t, map[string]string{"FACEGATE_API_KEY": apiTestKey}, "config", "check", "--config", path)
		if code != exitError || !strings.Contains(stderr, path) || !strings.Contains(stderr, "sets nothing") {
			t.Errorf("%s file: exit %d, stdout %.80q, stderr %q; want exit 2 naming %s as setting nothing, as a reload says",
				name, code, stdout, stderr, path)
		}
	}
}

// TestAuthJSONFlagMistakeIsOneJSONObject: docs/faceauth.md: "With --json,
// stdout is exactly one JSON object: … or {"error": {…}}". A flag the
// flag package refuses (a duration without a unit, an unknown flag)
// prints its usage on stderr and nothing on stdout: a script reading
// stdout gets no object, no error code, no name of the argument.
func TestAuthJSONFlagMistakeIsOneJSONObject(t *testing.T) {
	for name, args := range map[string][]string{
		"timeout without unit": {"auth", "--json", "--submission-id", "ok", "--image", "face.jpg", "--timeout", "5"},
		"unknown flag":         {"auth", "--json", "--submission-id", "ok", "--image", "face.jpg", "--submision-id", "x"},
		"history, json asked":  {"history", "--format", "json", "--count", "many"},
		"json set last":        {"auth", "--timeout", "5", "-json=true"},
	} {
		code, stdout, stderr := runCmd(t, map[string]string{"FACEGATE_API_KEY": apiTestKey}, args...)
		var out struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if code != exitError || json.Unmarshal([]byte(stdout), &out) != nil || out.Error.Code != "usage" {
			t.Errorf("%s: exit %d, stdout %q (stderr %.120q); want exit 2 and one {\"error\":{\"code\":\"usage\",…}} object on stdout",
				name, code, stdout, stderr)
		}
	}
}

// TestDocumentedExitStatusOfRefusedStart: docs/operations.md says a
// second daemon on a state directory in use, and `facegate run` as root
// on another user's state directory, "exits at once with status 1"; the
// code (and TestRunRefusesAStateDirInUse) exits 2, the status
// of every error of the command line (main.go: 1 is rejected/none). A
// unit or a script that tells "refused to start" by status 1 never sees it.
func TestDocumentedExitStatusOfRefusedStart(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\s+`).ReplaceAllString(string(b), " ")
	for _, m := range regexp.MustCompile(`exits at once with status (\d)`).FindAllStringSubmatch(text, -1) {
		if m[1] != "2" {
			t.Errorf("docs/operations.md: %q, but runDaemon returns exitError (2) for it", m[0])
		}
	}
}

func TestArgsAsk(t *testing.T) {
	for _, c := range []struct {
		args        []string
		name, value string
		want        bool
	}{
		{[]string{"--json"}, "json", "true", true},
		{[]string{"-json=true"}, "json", "true", true},
		{[]string{"-json=false"}, "json", "true", false},
		{[]string{"--json=1"}, "json", "true", true},
		{[]string{"-json=t"}, "json", "true", true},
		{[]string{"-json=0"}, "json", "true", false},
		{[]string{"--", "--json"}, "json", "true", false},
		{[]string{"--format", "json"}, "format", "json", true},
		{[]string{"--format=json"}, "format", "json", true},
		{[]string{"--format", "csv", "--auth-id", "json"}, "format", "json", false},
		{[]string{"--format"}, "format", "json", false},
	} {
		if got := argsAsk(c.args, c.name, c.value); got != c.want {
			t.Errorf("argsAsk(%q, %s, %s) = %v, want %v", c.args, c.name, c.value, got, c.want)
		}
	}
}
