//go:build hil

package hil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/go-gpiocdev"
)

// The systemd scenario's fixed names.
const (
	sdAPIKey   = "hil-api-key-0123456789abcdef"
	sdToken    = "hil-http-token-0123456789"
	sdWorker   = "hil-worker-0001"
	sdKiosk    = "127.0.0.1:8080"
	sdEmulator = "127.0.0.1:8089"
	// sdStopBound is "well within" the unit's TimeoutStopSec=60s.
	sdStopBound = 30 * time.Second
)

// TestHILSystemd boots the VM with systemd as PID 1 (FACEGATE_HIL_INIT=systemd,
// see stage2.sh) and runs TestSystemdGuest* there: the shipped unit, hardening
// included, runs facegate on v4l2loopback and gpio-sim.
func TestHILSystemd(t *testing.T) {
	skipUnlessVMHost(t)
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		t.Skip("no /lib/systemd/systemd on this machine (apt-get install systemd): the guest boots the host's systemd")
	}
	bin, face := buildForGuest(t)
	bootGuest(t, bin, face, "^TestSystemdGuest", "FACEGATE_HIL_INIT=systemd", "FACEGATE_HIL_TIMEOUT=420")
}

// TestSystemdGuestUnit installs systemd/facegate.service unchanged (the
// binary and the config go where its ExecStart expects them), starts it
// through Type=notify, opens the gate once through the kiosk's HTTP identify
// and stops it, checking that no hardening directive got in the way.
func TestSystemdGuestUnit(t *testing.T) {
	guest(t)
	if comm, _ := os.ReadFile("/proc/1/comm"); strings.TrimSpace(string(comm)) != "systemd" {
		t.Skip("PID 1 is not systemd: TestHILSystemd boots the VM with FACEGATE_HIL_INIT=systemd")
	}
	face := os.Getenv("FACEGATE_HIL_FACE")
	if face == "" {
		t.Fatal("FACEGATE_HIL_FACE is not set: TestHILSystemd sets it to gocv's images/face.jpg")
	}
	root := repoRoot(t)
	testStart := time.Now()
	sh := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// On failure: what systemd and facegate said.
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("journalctl", "-b", "--no-pager", "-o", "short-monotonic",
				"_SYSTEMD_UNIT=facegate.service", "+", "UNIT=facegate.service", "+", "_PID=1").CombinedOutput()
			t.Logf("journal (facegate.service and PID 1):\n%s", out)
		}
	})

	// The account and the device permissions that the package and udev
	// give on a Pi (there is no udevd here).
	if exec.Command("getent", "group", "gpio").Run() != nil {
		sh("groupadd", "--system", "gpio")
	}
	if exec.Command("getent", "passwd", "facegate").Run() != nil {
		sh("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/var/lib/facegate",
			"--shell", "/usr/sbin/nologin", "facegate")
	}
	chip := newSimChip(t, "systemd", chipLabel, "relay", "door", "exit", "tamper")
	for dev, group := range map[string]string{"/dev/" + chip.Name: "gpio", loopbackDev: "video"} {
		sh("chgrp", group, dev)
		sh("chmod", "0660", dev)
	}

	// The unit unchanged; the binary and the config at its ExecStart's
	// paths (the test's binary lives under /tmp, which PrivateTmp= hides).
	unit, err := os.ReadFile(filepath.Join(root, "systemd", "facegate.service"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "/etc/systemd/system/facegate.service", string(unit), 0o644)
	sh("install", "-m", "0755", binary(t, "facegate"), "/usr/local/bin/facegate")
	sh("install", "-d", "-m", "0755", "/etc/facegate")
	writeFile(t, "/etc/facegate/api-key", sdAPIKey+"\n", 0o600)
	writeFile(t, "/etc/facegate/facegate.yaml", sdConfig, 0o640)
	sh("chgrp", "facegate", "/etc/facegate/facegate.yaml")
	sh("systemctl", "daemon-reload")
	// A failed test must not leave the line requested when the chip goes.
	t.Cleanup(func() { exec.Command("systemctl", "stop", "facegate.service").Run() })

	// The FaceAuth emulator as a transient unit; camfeed as the webcam.
	seed := filepath.Join(t.TempDir(), "seed.yaml")
	writeFile(t, seed, fmt.Sprintf(sdSeed, sdAPIKey, sdWorker, face, sdWorker), 0o644)
	sh("systemd-run", "--unit=facegate-hil-emulator", "--", "/usr/local/bin/facegate", "emulator",
		"--listen", sdEmulator, "--seed", seed, "--quiet")
	t.Cleanup(func() { exec.Command("systemctl", "stop", "facegate-hil-emulator").Run() })
	feed := exec.Command(binary(t, "camfeed"), "-dev", loopbackDev, "-src", face, "-w", "640", "-h", "480", "-fps", "15")
	var feedOut syncBuffer
	feed.Stdout, feed.Stderr = &feedOut, &feedOut
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Process.Kill(); feed.Wait() })
	waitFor(t, "camfeed output", &feedOut, "first frame", startTimeout)
	waitListening(t, "the emulator", sdEmulator, startTimeout)

	t.Logf("set-up (account, chip, files, emulator, camfeed): %s", time.Since(testStart).Round(100*time.Millisecond))

	// Start: systemctl returns once facegate has sent READY=1.
	begin := time.Now()
	if out, err := exec.Command("systemctl", "start", "facegate.service").CombinedOutput(); err != nil {
		t.Fatalf("systemctl start facegate: %v\n%s%s", err, out, sh("systemctl", "status", "--no-pager", "-l", "facegate"))
	}
	t.Logf("systemctl start facegate (until READY=1): %s", time.Since(begin).Round(100*time.Millisecond))
	show := unitProps(t, "ActiveState", "SubState", "NRestarts", "StatusText", "MainPID")
	if show["ActiveState"] != "active" || show["SubState"] != "running" {
		t.Fatalf("facegate.service is %s/%s after start", show["ActiveState"], show["SubState"])
	}
	t.Logf("facegate.service: %v", show)
	if v := chip.Value(t, lineRelay); v != "0" {
		t.Fatalf("relay line %s before any grant, want 0", v)
	}
	if li := lineInfo(t, chip, lineRelay); !li.Used || li.Consumer != "facegate" || li.Config.Direction != gpiocdev.LineDirectionOutput {
		t.Errorf("relay line before any grant: %+v, want held by facegate as an output", li)
	}

	// One session: identify over HTTP, the camera shows the face, the
	// emulator approves, the relay pulses.
	begin = time.Now()
	identify(t, fmt.Sprintf(`{"submission_id":%q,"user_id":%q}`, sdWorker, sdWorker))
	chip.WaitValue(t, lineRelay, "1", 2*time.Minute)
	t.Logf("identify → relay energised: %s", time.Since(begin).Round(100*time.Millisecond))
	chip.WaitValue(t, lineRelay, "0", 30*time.Second)
	audit := waitAudit(t, "/var/lib/facegate/audit/audit.jsonl", `"decision":"granted"`, 30*time.Second)
	t.Logf("audit: %s", audit)

	// A watchdog kill or a crash would have been restarted by Restart=always.
	if n := unitProps(t, "NRestarts")["NRestarts"]; n != "0" {
		t.Errorf("facegate.service restarted %s times", n)
	}

	// Reload (ExecReload=/bin/kill -HUP) re-reads the config and the
	// credential inside the sandbox; the daemon goes RELOADING=1, READY=1.
	begin = time.Now()
	sh("systemctl", "reload", "facegate.service")
	waitJournal(t, "configuration reloaded", 30*time.Second)
	t.Logf("systemctl reload facegate: %s", time.Since(begin).Round(100*time.Millisecond))
	if show := unitProps(t, "ActiveState", "SubState", "NRestarts"); show["SubState"] != "running" || show["NRestarts"] != "0" {
		t.Errorf("facegate.service after reload: %v, want running, never restarted", show)
	}

	out, err := exec.Command("systemd-analyze", "security", "--no-pager", "facegate.service").CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for \S+: .*`).Find(out); m != nil {
		t.Logf("systemd-analyze security (the running unit): %s", m)
	} else {
		t.Errorf("systemd-analyze security facegate.service: %v\n%s", err, out)
	}

	begin = time.Now()
	sh("systemctl", "stop", "facegate.service")
	stopped := time.Since(begin)
	t.Logf("systemctl stop facegate: %s", stopped.Round(100*time.Millisecond))
	if stopped > sdStopBound {
		t.Errorf("systemctl stop took %s, want < %s (TimeoutStopSec=60s)", stopped, sdStopBound)
	}
	if r := unitProps(t, "Result")["Result"]; r != "success" {
		t.Errorf("facegate.service Result=%s after stop, want success (not timeout/signal)", r)
	}
	if v := chip.Value(t, lineRelay); v != "0" {
		t.Errorf("relay line %s after stop, want 0", v)
	}
	if li := lineInfo(t, chip, lineRelay); li.Used {
		t.Errorf("relay line still requested after stop: %+v", li)
	}

	// Nothing refused by the sandbox: a filtered call fails with EPERM
	// (SystemCallErrorNumber=), a kill would show as SIGSYS.
	jout := sh("journalctl", "-b", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT=facegate.service", "+", "UNIT=facegate.service")
	bad := regexp.MustCompile(`(?i)SIGSYS|code=killed|status=31|operation not permitted|permission denied|watchdog timeout|core-dump`)
	for _, l := range strings.Split(jout, "\n") {
		if bad.MatchString(l) {
			t.Errorf("journal: %s", l)
		}
	}
	// (journalctl --grep exits 1 when nothing matches.)
	if k, _ := exec.Command("journalctl", "-k", "-b", "--no-pager", "-o", "cat", "--grep", "type=1326|seccomp", "--quiet").Output(); strings.TrimSpace(string(k)) != "" {
		t.Errorf("kernel log has seccomp records:\n%s", k)
	}
}

const sdConfig = `# The HIL systemd scenario: the loopback webcam, the gpio-sim relay, the
# emulator; timeouts sized for a VM without hardware acceleration.
site: hil
gate: systemd
state_dir: /var/lib/facegate
api:
  url: http://` + sdEmulator + `/v3
  timeout: 30s
camera:
  source: ` + loopbackDev + `
  width: 640
  height: 480
  fps: 15
  fourcc: BGR3
io:
  relay:
    driver: gpiocdev
    chip: ` + chipLabel + `
    line: relay
    pulse: 2s
mqtt:
  enabled: false
kiosk:
  listen: ` + sdKiosk + `
  health_interval: 10s
  max_detector_time: 10s
identity:
  timeout: 2m
  capture_timeout: 1m
  http:
    enabled: true
    token: ` + sdToken + `
  qr:
    enabled: false
policy:
  max_age: 2m
`

// sdSeed: key, submission, reference image, user.
const sdSeed = `projects:
  - id: hil
    api_key: %s
    policy:
      face_similarity: {enabled: true, threshold: 70}
      occlusion: {enabled: false}
      face_cover: {enabled: false}
      head_cover: {enabled: false}
submissions:
  - id: %s
    status: approved
    reference_image: %s
    user_id: %s
    scores: {face_similarity: 99}
`

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// unitProps is `systemctl show` of facegate.service.
func unitProps(t *testing.T, props ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("systemctl", "show", "facegate.service", "--property="+strings.Join(props, ",")).Output()
	if err != nil {
		t.Fatalf("systemctl show: %v", err)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

func waitListening(t *testing.T, what, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %s: %v", what, addr, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// identify is POST /api/identify on the kiosk, which must accept it (202).
func identify(t *testing.T, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+sdKiosk+"/api/identify", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+sdToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/identify: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/identify: %s %s, want 202", resp.Status, msg)
	}
}

// waitJournal polls facegate.service's journal for a line containing want.
func waitJournal(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("journalctl", "-b", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT=facegate.service").Output()
		if err == nil && strings.Contains(string(out), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in facegate.service's journal after %s (%v):\n%s", want, timeout, err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitAudit polls the audit log for a line containing want and returns it.
func waitAudit(t *testing.T, path, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in %s after %s:\n%s", want, path, timeout, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
