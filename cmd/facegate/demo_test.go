package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/record"
)

// lineSink collects the lines written to it and lets a test wait for one.
type lineSink struct {
	mu      sync.Mutex
	partial bytes.Buffer
	lines   []string
	changed chan struct{}
}

func newLineSink() *lineSink { return &lineSink{changed: make(chan struct{}, 1)} }

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.partial.Write(p)
	for {
		line, err := s.partial.ReadString('\n')
		if err != nil {
			s.partial.WriteString(line) // keep the unfinished line
			break
		}
		s.lines = append(s.lines, strings.TrimRight(line, "\n"))
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *lineSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// waitFor waits until ok holds on the lines so far.
func (s *lineSink) waitFor(ctx context.Context, ok func([]string) bool) bool {
	for {
		if ok(s.all()) {
			return true
		}
		select {
		case <-ctx.Done():
			return ok(s.all())
		case <-s.changed:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func osEnv() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// decisions parses the stdout lines as events: every line must be one.
func decisions(t *testing.T, lines []string) []record.Event {
	t.Helper()
	var out []record.Event
	for _, l := range lines {
		var ev record.Event
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("stdout line is not an event (%v): %s", err, l)
		}
		out = append(out, ev)
	}
	return out
}

// grantedAndDenied: a granted decision with scores that passed the
// liveness challenge, and the photo attack denied by it.
func grantedAndDenied(evs []record.Event) (granted, denied bool) {
	for _, ev := range evs {
		switch ev.Decision {
		case record.DecisionGranted:
			granted = granted || (ev.Auth != nil && ev.Auth.Score.FaceSimilarity != nil && ev.Relay == record.RelayPending &&
				ev.Liveness != nil && ev.Liveness.Live && ev.Liveness.Method == "challenge")
		case record.DecisionDenied:
			denied = denied || (slices.Contains(ev.Reason, "liveness_failed") && ev.Message == "Photo or screen detected" &&
				ev.Liveness != nil && slices.Contains(ev.Liveness.Reasons, "planar_motion"))
		}
	}
	return granted, denied
}

var pageURL = regexp.MustCompile(`kiosk page\s+(http://\S+)`)

// TestDemoEndToEnd runs `facegate demo --seconds 60` in-process: within
// the 60 s it must print a granted decision with scores whose liveness
// challenge was answered, and the print of the worker denied as a photo,
// one JSON event per stdout line; meanwhile headless Chromium watches the
// kiosk page go through the session states to a granted result (the
// screenshot is kept in test/artifacts/). The demo is stopped early once
// everything was seen, and must then exit 0.
func TestDemoEndToEnd(t *testing.T) {
	if _, err := demoscene.ImagesDir(os.Getenv); err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	stdout, stderr := newLineSink(), newLineSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"demo", "--seconds", "60"}, osEnv(), nil, stdout, stderr) }()
	defer func() {
		if t.Failed() {
			t.Logf("demo stderr:\n%s", strings.Join(stderr.all(), "\n"))
		}
	}()

	wait, stopWait := context.WithTimeout(ctx, 60*time.Second)
	defer stopWait()
	var url string
	if !stderr.waitFor(wait, func(lines []string) bool {
		for _, l := range lines {
			if m := pageURL.FindStringSubmatch(l); m != nil {
				url = m[1]
				return true
			}
		}
		return false
	}) {
		t.Fatal("the demo printed no kiosk page URL")
	}

	var browserDone sync.WaitGroup
	browserDone.Add(1)
	go t.Run("kiosk page in chromium", func(t *testing.T) {
		defer browserDone.Done()
		watchKioskPage(t, wait, url)
	})

	got := stdout.waitFor(wait, func(lines []string) bool {
		g, d := grantedAndDenied(decisions(t, lines))
		return g && d
	})
	elapsed := time.Since(start)
	browserDone.Wait()
	cancel()
	if code := <-exit; code != exitOK {
		t.Fatalf("demo exit code %d", code)
	}
	if !got {
		t.Fatalf("after %s: no granted-with-liveness and photo-denied pair on stdout:\n%s", elapsed.Round(time.Second), strings.Join(stdout.all(), "\n"))
	}
	t.Logf("granted and denied within %s", elapsed.Round(100*time.Millisecond))
	if s := strings.Join(stderr.all(), "\n"); !strings.Contains(s, "GRANTED") || !strings.Contains(s, "DENIED") || !strings.Contains(s, "facegate demo: ") {
		t.Fatalf("stderr lacks the human summary:\n%s", s)
	}
}

// pageState is what the test reads of the kiosk page.
type pageState struct {
	State   string `json:"state"`
	Message string `json:"message"`
	Result  string `json:"result"` // the decision shown, "" when hidden
	// Turn is the turn meter's reading (0-100) while it is shown, else -1.
	Turn int `json:"turn"`
}

const pageProbe = `JSON.stringify({
  state: document.body ? (document.body.dataset.state || "") : "",
  message: (document.getElementById("message") || {}).textContent || "",
  result: (function () { const r = document.getElementById("result"); return r && !r.hidden ? r.className : ""; })(),
  turn: (function () { const m = document.getElementById("turn"); return m && !m.hidden ? Number(m.getAttribute("aria-valuenow")) : -1; })()
})`

// watchKioskPage opens the page in headless Chromium and waits until it
// has shown the states of a session, the turn meter moving during a
// challenge (the real check's turn, through the kiosk) and a granted
// result; it saves the screenshot of the granted screen.
func watchKioskPage(t *testing.T, ctx context.Context, url string) {
	b := startBrowser(t, ctx)
	if err := b.navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var order []string
	meter := 0 // the largest reading of the turn meter seen
	for {
		var raw string
		var ps pageState
		if err := b.eval(ctx, pageProbe, &raw); err == nil && json.Unmarshal([]byte(raw), &ps) == nil {
			if ps.State != "" && !seen[ps.State] {
				seen[ps.State] = true
				order = append(order, ps.State)
			}
			if ps.Turn >= 0 && ps.State != "challenge" {
				t.Errorf("the turn meter is shown in state %q", ps.State)
			}
			meter = max(meter, ps.Turn)
			// A granted result counts once the page has also shown the
			// session leading to it (Chromium may start mid-session).
			if ps.Result == "granted" && meter > 0 && (seen["identified"] || seen["capturing"] || seen["authenticating"]) {
				path := filepath.Join(repoRoot(t), "test", "artifacts", "kiosk-granted.png")
				if err := b.screenshot(ctx, path); err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				t.Logf("page states seen: %s; the turn meter reached %d %%; granted screen saved to %s (message %q)", strings.Join(order, " → "), meter, path, ps.Message)
				if !seen["granted"] && !seen["cooldown"] {
					t.Errorf("the page shows a granted result outside the granted and cooldown states (seen %v)", order)
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no granted result after a turn on the meter on the page (states seen: %v; the meter reached %d %%)", order, meter)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// repoRoot is two levels above this package.
func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// TestDemoShadowTrial runs the demo with policy.liveness: shadow: the
// worker and the print of the worker are both granted (the check decides
// nothing), the print's event records the refusal the challenge would have
// made, and `facegate liveness report` on the daemon's audit log counts
// both among the sessions the gate granted.
func TestDemoShadowTrial(t *testing.T) {
	if _, err := demoscene.ImagesDir(os.Getenv); err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	state := t.TempDir()
	stdout, stderr := newLineSink(), newLineSink()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := &app{stdout: stdout, stderr: stderr, env: osEnv()}
	done := make(chan error, 1)
	go func() {
		done <- demo(ctx, a, "", func(c *config.Config) {
			c.StateDir = state
			c.Policy.Liveness = kiosk.LivenessShadow
		})
	}()
	shadowGrant := func(ev record.Event, live bool) bool {
		return ev.Decision == record.DecisionGranted && ev.Liveness != nil && ev.Liveness.Shadow && ev.Liveness.Live == live &&
			(live || slices.Contains(ev.Liveness.Reasons, "planar_motion"))
	}
	seen := stdout.waitFor(ctx, func(lines []string) bool {
		var live, print bool
		for _, ev := range decisions(t, lines) {
			live = live || shadowGrant(ev, true)
			print = print || shadowGrant(ev, false)
			if slices.ContainsFunc(ev.Reason, func(r string) bool { return strings.HasPrefix(r, "liveness_") }) {
				t.Errorf("a shadow check decided: %+v", ev)
			}
		}
		return live && print
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	if !seen {
		t.Fatalf("no shadow-live grant and shadow-refused grant of the print:\n%s\nstderr:\n%s", strings.Join(stdout.all(), "\n"), strings.Join(stderr.all(), "\n"))
	}
	if s := strings.Join(stderr.all(), "\n"); !strings.Contains(s, "liveness is in shadow mode") {
		t.Errorf("no shadow warning at start:\n%s", s)
	}
	code, out, errOut := runCmd(t, nil, "liveness", "report", "--audit", filepath.Join(state, "audit"), "--json")
	if code != exitOK {
		t.Fatalf("liveness report: exit %d: %s", code, errOut)
	}
	var rep livenessReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	sg := rep.ShadowGranted
	if sg.Live < 1 || sg.Refused < 1 || sg.Reasons["planar_motion"] < 1 || len(rep.Enforced) != 0 {
		t.Errorf("report %+v", rep)
	}
}
