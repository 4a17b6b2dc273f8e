package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/faceauth/emulator"
)

// apiTestKey must never appear in any output of any command.
const apiTestKey = "emu-SECRET-key-7f3a9c"

// apiHarness is an emulator on 127.0.0.1 with a worker for each outcome.
type apiHarness struct {
	base     string
	face     string // path of a JPEG of the enrolled worker
	config   string // a config file with the key inline
	srv      *emulator.Server
	runMutex sync.Mutex
}

var (
	harnessOnce sync.Once
	harness     *apiHarness
	harnessErr  error
)

func gocvImagesDir(t testing.TB) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "gocv.io/x/gocv").Output()
	if err != nil {
		t.Skipf("gocv module directory not found: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "images")
}

func newAPIHarness(t *testing.T) *apiHarness {
	t.Helper()
	face := filepath.Join(gocvImagesDir(t), "face.jpg")
	harnessOnce.Do(func() {
		img, err := os.ReadFile(face)
		if err != nil {
			harnessErr = err
			return
		}
		hat := func(v float64) emulator.FixedScores { return emulator.FixedScores{HeadCover: &v} }
		srv, err := emulator.New(&emulator.Seed{
			Projects: []emulator.Project{{ID: "p", APIKey: apiTestKey, Policy: emulator.Policy{
				FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70},
				HeadCover:      emulator.PolicyOption{Enabled: true, Threshold: 60}}}},
			Submissions: []emulator.Submission{
				{ID: "ok", Status: emulator.StatusApproved, ReferenceJPEG: img, Scores: hat(90)},
				{ID: "nohat", Status: emulator.StatusApproved, ReferenceJPEG: img, Scores: hat(3)},
				{ID: "pending", Status: emulator.StatusPending},
			},
		})
		if err != nil {
			harnessErr = err
			return
		}
		base, err := srv.Start("")
		if err != nil {
			harnessErr = err
			return
		}
		dir, err := os.MkdirTemp("", "facegate-auth-test")
		if err != nil {
			harnessErr = err
			return
		}
		cfg := filepath.Join(dir, "facegate.yaml")
		harnessErr = os.WriteFile(cfg, []byte("api:\n  url: "+base+"\n  key: "+apiTestKey+"\n  timeout: 20s\n"), 0o600)
		harness = &apiHarness{base: base, face: face, config: cfg, srv: srv}
	})
	if harnessErr != nil {
		t.Fatal(harnessErr)
	}
	return harness
}

// runCmd runs the CLI in-process and checks that the key is not printed.
func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env, strings.NewReader(""), &stdout, &stderr)
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(out, apiTestKey) {
			t.Fatalf("facegate %v printed the API key on %s:\n%s", args, name, out)
		}
	}
	return code, stdout.String(), stderr.String()
}

func TestAuthCommand(t *testing.T) {
	h := newAPIHarness(t)
	envKey := map[string]string{"FACEGATE_API_URL": h.base, "FACEGATE_API_KEY": apiTestKey}
	cfg := map[string]string{}
	text := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(text, []byte("not a picture"), 0o600)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		status string // auth_status in --json, or error.code
		class  string
	}{
		{"approved via env", envKey, []string{"--json", "--submission-id", "ok", "--image", h.face}, 0, "approved", ""},
		{"approved via config file", cfg, []string{"--json", "--config", h.config, "--submission-id", "ok", "--image", h.face, "--user-id", "u1", "--cf1", "a", "--cf2", "b", "--cf3", "c"}, 0, "approved", ""},
		{"rejected", envKey, []string{"--json", "--submission-id", "nohat", "--image", h.face, "--timeout", "30s"}, 1, "rejected", ""},
		{"KYC pending", envKey, []string{"--json", "--submission-id", "pending", "--image", h.face}, 2, "invalid_submission_status", "identity"},
		{"not an image", envKey, []string{"--json", "--submission-id", "ok", "--image", text}, 2, "image_converting_error", "recapture"},
		{"wrong key", map[string]string{"FACEGATE_API_URL": h.base, "FACEGATE_API_KEY": "wrong-" + apiTestKey[:5]}, []string{"--json", "--submission-id", "ok", "--image", h.face}, 2, "Invalid_projectId", "config"},
		{"env overrides config key", map[string]string{"FACEGATE_API_KEY": "wrong"}, []string{"--json", "--config", h.config, "--submission-id", "ok", "--image", h.face}, 2, "Invalid_projectId", "config"},
		{"nothing listening", map[string]string{"FACEGATE_API_URL": "http://" + deadAddr(t) + "/v3", "FACEGATE_API_KEY": apiTestKey}, []string{"--json", "--submission-id", "ok", "--image", h.face}, 2, "network_error", "transient"},
		{"missing submission id", envKey, []string{"--json", "--image", h.face}, 2, "usage", "client"},
		{"missing image flag", envKey, []string{"--json", "--submission-id", "ok"}, 2, "usage", "client"},
		{"image file missing", envKey, []string{"--json", "--submission-id", "ok", "--image", "/nonexistent.jpg"}, 2, "image_file", "client"},
		{"no key anywhere", map[string]string{"FACEGATE_API_URL": h.base}, []string{"--json", "--submission-id", "ok", "--image", h.face}, 2, "config", "config"},
		{"explicit config missing", envKey, []string{"--json", "--config", "/nonexistent/facegate.yaml", "--submission-id", "ok", "--image", h.face}, 2, "config", "config"},
		{"remote plain http refused", map[string]string{"FACEGATE_API_URL": "http://api.example.com/v3", "FACEGATE_API_KEY": apiTestKey}, []string{"--json", "--submission-id", "ok", "--image", h.face}, 2, "config", "config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.env, append([]string{"auth"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tc.code, stdout, stderr)
			}
			if strings.Count(stdout, "\n") != 1 {
				t.Fatalf("--json must print exactly one line: %q", stdout)
			}
			var out map[string]any
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			if tc.code == 2 {
				e, _ := out["error"].(map[string]any)
				for _, k := range []string{"code", "message", "http_status", "class", "trace_id"} {
					if _, ok := e[k]; !ok {
						t.Errorf("error.%s missing: %s", k, stdout)
					}
				}
				if e["code"] != tc.status || e["class"] != tc.class || stderr == "" {
					t.Fatalf("error %v, want %s/%s; stderr %s", e, tc.status, tc.class, stderr)
				}
				return
			}
			for _, k := range []string{"authentication_id", "auth_status", "create_time", "score", "fail_code", "rejected_comment"} {
				if _, ok := out[k]; !ok {
					t.Errorf("%s missing: %s", k, stdout)
				}
			}
			score, _ := out["score"].(map[string]any)
			if out["auth_status"] != tc.status || score["face_similarity_score"] == nil || score["head_cover_score"] == nil {
				t.Fatalf("%s", stdout)
			}
			if fc, _ := out["fail_code"].([]any); tc.code == 1 && (len(fc) != 1 || fc[0] != "Head_cover_fail") {
				t.Fatalf("fail codes: %s", stdout)
			}
		})
	}
	t.Run("text output", func(t *testing.T) {
		code, stdout, _ := runCmd(t, envKey, "auth", "--submission-id", "nohat", "--image", h.face)
		if code != 1 || !strings.HasPrefix(stdout, "REJECTED\n") || !strings.Contains(stdout, "Head_cover_fail (Protection equipment is not found on Head)") {
			t.Fatalf("%d %s", code, stdout)
		}
		code, _, stderr := runCmd(t, envKey, "auth", "--submission-id", "pending", "--image", h.face)
		if code != 2 || !strings.Contains(stderr, "invalid_submission_status") || !strings.Contains(stderr, "identity error") {
			t.Fatalf("%d %s", code, stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		if code, _, stderr := runCmd(t, envKey, "auth", "-h"); code != 0 || !strings.Contains(stderr, "usage: facegate auth --submission-id ID --image F") {
			t.Fatalf("%d %s", code, stderr)
		}
		if code, _, _ := runCmd(t, envKey, "auth", "--bogus"); code != 2 {
			t.Fatalf("unknown flag: %d", code)
		}
	})
}

func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestHistoryCommand(t *testing.T) {
	h := newAPIHarness(t)
	env := map[string]string{"FACEGATE_API_URL": h.base, "FACEGATE_API_KEY": apiTestKey}
	for _, sub := range []string{"ok", "nohat"} {
		if code, _, stderr := runCmd(t, env, "auth", "--submission-id", sub, "--image", h.face); code == 2 {
			t.Fatal(stderr)
		}
	}
	code, stdout, stderr := runCmd(t, env, "history", "--format", "json", "--count", "1")
	var recs []map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &recs) != nil || len(recs) < 2 {
		t.Fatalf("%d %s %s", code, stdout, stderr)
	}
	for _, r := range recs {
		for _, k := range []string{"auth_id", "auth_status", "create_time", "kyc_submission_id", "policy", "result", "fail_code", "reject_comment"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s missing in %v", k, r)
			}
		}
	}
	today := time.Now().UTC().Format("2006-01-02")
	code, stdout, _ = runCmd(t, env, "history", "--format", "csv", "--since", today, "--until", today)
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if code != 0 || err != nil || len(rows) < 3 || rows[0][0] != "create_time" || rows[0][2] != "auth_status" {
		t.Fatalf("csv: %d %v %q", code, err, stdout)
	}
	id := rows[1][1]
	code, stdout, _ = runCmd(t, env, "history", "--auth-id", id)
	if code != 0 || !strings.Contains(stdout, id) || !strings.HasSuffix(stdout, "1 record(s)\n") || !strings.HasPrefix(stdout, "CREATE_TIME") {
		t.Fatalf("table: %d %s", code, stdout)
	}
	for _, bad := range [][]string{
		{"--since", today}, {"--since", "2025-13-01", "--until", today}, {"--since", today, "--until", "2000-01-01"},
		{"--count", "2001"}, {"--format", "xml"}, {"extra"},
	} {
		if code, _, stderr := runCmd(t, env, append([]string{"history"}, bad...)...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d", bad, code)
		}
	}
	code, stdout, _ = runCmd(t, map[string]string{"FACEGATE_API_URL": h.base, "FACEGATE_API_KEY": "nope"}, "history", "--format", "json")
	if code != 2 || !strings.Contains(stdout, `"code":"NOT_FOUND"`) || !strings.Contains(stdout, `"class":"config"`) {
		t.Fatalf("wrong key: %d %s", code, stdout)
	}
}

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("site: north\napi:\n  url: https://api.example.com/v3\n  key: "+apiTestKey+"\n"), 0o600)
	code, stdout, stderr := runCmd(t, nil, "config", "check", "--config", good)
	if code != 0 || !strings.Contains(stdout, "site: north") || !strings.Contains(stdout, "<redacted, from config file>") {
		t.Fatalf("%d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, map[string]string{"FACEGATE_API_KEY": apiTestKey}, "config", "check", "--config", good)
	if code != 0 || !strings.Contains(stdout, "<redacted, from environment FACEGATE_API_KEY>") {
		t.Fatalf("%d %s", code, stdout)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("site: north\napi:\n  url: https://api.example.com/v3\n  timeout: 0s\n  key: "+apiTestKey+"\n"), 0o600)
	code, _, stderr = runCmd(t, nil, "config", "check", "--config", bad)
	if code != 2 || !strings.Contains(stderr, bad+":4: api.timeout: 0s must be between 1ms and 5m") {
		t.Fatalf("%d %s", code, stderr)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("api:\n  key: "+apiTestKey+"\n  urll: x\n"), 0o600)
	if code, _, stderr = runCmd(t, nil, "config", "check", "--config", unknown); code != 2 || !strings.Contains(stderr, unknown+":3:") {
		t.Fatalf("%d %s", code, stderr)
	}
	if code, _, _ = runCmd(t, nil, "config", "check", "--config", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Fatal("missing file accepted")
	}
	if code, _, _ = runCmd(t, nil, "config", "lint"); code != 2 {
		t.Fatal("unknown subcommand accepted")
	}
}

func TestEmulatorCommand(t *testing.T) {
	dir := t.TempDir()
	face := filepath.Join(gocvImagesDir(t), "face.jpg")
	seed := filepath.Join(dir, "seed.yaml")
	os.WriteFile(seed, []byte("projects:\n  - {id: p, api_key: emu-cmd-key, policy: {face_similarity: {enabled: true, threshold: 70}}}\n"+
		"submissions:\n  - {id: w, status: approved, reference_image: "+face+"}\n"), 0o600)
	vars := startEmulatorCmd(t, "--seed", seed)
	if vars["FACEGATE_API_KEY"] != "emu-cmd-key" {
		t.Fatalf("printed %v", vars)
	}
	code, stdout, stderr := runCmd(t, vars, "auth", "--json", "--submission-id", "w", "--image", face)
	if code != 0 || !strings.Contains(stdout, `"auth_status":"approved"`) {
		t.Fatalf("%d %s %s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"emulator", "stray"}, {"emulator", "--seed", filepath.Join(dir, "none.yaml")}} {
		if code, _, _ := runCmd(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// TestEmulatorCommandDefaultSeed: without --seed the emulator serves the
// demo's two people.
func TestEmulatorCommandDefaultSeed(t *testing.T) {
	face := filepath.Join(gocvImagesDir(t), "face.jpg")
	vars := startEmulatorCmd(t)
	code, stdout, stderr := runCmd(t, vars, "auth", "--json", "--submission-id", demoWorkerSubmission, "--image", face)
	if code != 0 || !strings.Contains(stdout, `"auth_status":"approved"`) {
		t.Fatalf("worker: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, vars, "auth", "--json", "--submission-id", demoVisitorSubmission, "--image", face)
	if code != 1 || !strings.Contains(strings.ToLower(stdout), "head_cover_fail") {
		t.Fatalf("visitor without a hard hat: %d %s %s", code, stdout, stderr)
	}
}

// startEmulatorCmd runs `facegate emulator --listen 127.0.0.1:0 --quiet
// args…` until the test ends and returns the FACEGATE_API_* lines it printed.
func startEmulatorCmd(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- run(ctx, append([]string{"emulator", "--listen", "127.0.0.1:0", "--quiet"}, args...), nil, nil, pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-done:
			if c != 0 {
				t.Errorf("emulator exit %d: %s", c, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("emulator did not stop")
		}
	})
	sc := bufio.NewScanner(pr)
	vars := map[string]string{}
	for sc.Scan() && len(vars) < 2 {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(vars["FACEGATE_API_URL"], "http://127.0.0.1:") || vars["FACEGATE_API_KEY"] == "" {
		t.Fatalf("printed %v; stderr %s", vars, stderr.String())
	}
	return vars
}

// TestBinaryNeverPrintsKey builds the real binary once and runs it with the
// key in its environment, for each kind of outcome.
func TestBinaryNeverPrintsKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	h := newAPIHarness(t)
	bin := filepath.Join(t.TempDir(), "facegate")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"auth", "--submission-id", "ok", "--image", h.face},
		{"auth", "--json", "--submission-id", "nohat", "--image", h.face},
		{"auth", "--submission-id", "pending", "--image", h.face},
		{"auth", "--submission-id", "ok", "--image", "/nonexistent"},
		{"history", "--format", "json"},
		{"history", "--format", "csv"},
		{"config", "check", "--config", h.config},
		{"auth", "-h"},
		{"version"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "FACEGATE_API_URL="+h.base, "FACEGATE_API_KEY="+apiTestKey)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		if strings.Contains(string(out), apiTestKey) {
			t.Fatalf("facegate %v printed the key:\n%s", args, out)
		}
	}
}
