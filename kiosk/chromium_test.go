package kiosk

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPageInChromium loads the kiosk page in headless Chromium while a
// granted result is on screen and checks what the page rendered from the
// server-sent events. The screenshot is kept in $FACEGATE_ARTIFACTS (or the
// test's temporary directory). Skips without Chromium.
func TestPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium on PATH (Debian package chromium; make deps installs it)")
	}
	if testing.Short() {
		t.Skip("-short: skipping the headless browser")
	}
	cfg := testConfig(t)
	cfg.Policy.Cooldown = time.Minute // keep the result on screen
	cfg.Kiosk.Title = "North gate"
	sel := &fakeSelector{}
	auth := &fakeAuth{res: approved()}
	pub := &fakePublisher{}
	k, err := New(cfg, Deps{Selector: sel, Authenticator: auth, Relay: &fakeRelay{}, Publisher: pub,
		Preview: &fakePreview{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	for k.Status().State != StateIdle {
		time.Sleep(5 * time.Millisecond)
	}
	if err := k.Identify(Identity{SubmissionID: "s1", DisplayName: "Ana Díaz", Source: SourceRoster}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for k.Status().State != StateCooldown && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	art := os.Getenv("FACEGATE_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	}
	shot := filepath.Join(art, "kiosk-granted.png")
	run := func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer ccancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,800", "--timeout=3000"}
		out, err := exec.CommandContext(cctx, bin, append(base, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		if os.Getenv("KIOSK_DUMP") != "" {
			t.Log(string(out))
		}
		return string(out)
	}
	dom := run("--dump-dom", srv.URL+"/")
	for _, want := range []string{`id="result" class="granted"`, "Welcome", `<div id="result-name">Ana Díaz</div>`, `data-state="cooldown"`, "North gate"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, `id="result" hidden`) {
		t.Error("result panel still hidden")
	}
	run("--screenshot="+shot, srv.URL+"/")
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Errorf("screenshot %s: %v", shot, err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
}
