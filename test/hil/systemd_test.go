//go:build hil

package hil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/warthog618/go-gpiocdev"

	"github.com/facegate/facegate/record"
)

// The systemd scenario's fixed names.
const (
	sdAPIKey   = "hil-api-key-0123456789abcdef"
	sdToken    = "hil-http-token-0123456789"
	sdWorker   = "hil-worker-0001"
	sdKiosk    = "127.0.0.1:8080"
	sdEmulator = "127.0.0.1:8089"
	sdBroker   = "127.0.0.1:1883"
	// sdPrefix is mqtt.prefix's default for site hil, gate systemd.
	sdPrefix = "facegate/hil/systemd"
	sdOutbox = "/var/lib/facegate/mqtt-outbox.log"
	sdAudit  = "/var/lib/facegate/audit/audit.jsonl"
	// sdStopBound is "well within" the unit's TimeoutStopSec=60s.
	sdStopBound = 30 * time.Second
	// sdAbortBound: from the watchdog timeout to the process gone, the
	// unit's TimeoutAbortSec=10s and slack for a busy VM.
	sdAbortBound = 20 * time.Second
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
	bootGuest(t, bin, face, "^TestSystemdGuest", "FACEGATE_HIL_INIT=systemd", "FACEGATE_HIL_TIMEOUT=600")
}

// TestSystemdGuestUnit installs systemd/facegate.service unchanged (the
// binary and the config go where its ExecStart expects them), starts it
// through Type=notify with MQTT to a mosquitto in the VM, opens the gate
// through the kiosk's HTTP identify, hangs the daemon until the watchdog
// kills it and checks the restart, opens the gate again while the broker is
// down (the event waits in the outbox) and stops it, checking that no
// hardening directive got in the way.
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
	broker := newMosquittoUnit(t)
	broker.start(t)
	// A persistent session: events published while it is away (broker
	// restart) are kept for it.
	rec := subscribeGate(t, "hil-observer", false)

	t.Logf("set-up (account, chip, files, emulator, camfeed, mosquitto): %s", time.Since(testStart).Round(100*time.Millisecond))

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
	rec.wait(t, 0, "status online", isStatus("online"), startTimeout)
	if v := retainedStatus(t); v != "online" {
		t.Errorf("retained %s/status is %q while running, want online", sdPrefix, v)
	}
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
	audit := waitAudit(t, sdAudit, `"decision":"granted"`, 30*time.Second)
	t.Logf("audit: %s", audit)
	ev := rec.event(t, 0, eventID(t, audit), 30*time.Second)
	if ev.Decision != record.DecisionGranted || ev.Auth == nil || ev.Auth.Score.FaceSimilarity == nil {
		t.Errorf("%s/event: %+v, want granted with auth scores", sdPrefix, ev)
	} else {
		t.Logf("%s/event: granted, face_similarity_score %.1f, seq %d", sdPrefix, *ev.Auth.Score.FaceSimilarity, ev.Seq)
	}
	checkOutboxFile(t)

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

	// Two hangs: SIGSTOP, which systemd's SIGCONT after the watchdog's
	// SIGABRT undoes (Go's runtime then aborts), and a frozen cgroup,
	// which only SIGKILL ends (TimeoutAbortSec= later).
	kills := []sdWatchdog{watchdogKill(t, chip, rec, "SIGSTOP", 1), watchdogKill(t, chip, rec, "freeze", 2)}
	outboxOutage(t, chip, rec, broker)
	kills = append(kills, killDuringPulse(t, chip, rec, 2, 2)...)

	statusMark := rec.mark()
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
	rec.wait(t, statusMark, "status offline", isStatus("offline"), 10*time.Second)
	if v := retainedStatus(t); v != "offline" {
		t.Errorf("retained %s/status is %q after stop, want offline", sdPrefix, v)
	}

	// Nothing refused by the sandbox: a filtered call fails with EPERM
	// (SystemCallErrorNumber=), a kill would show as SIGSYS. Within the
	// watchdog kill, its own traces (timeout, SIGABRT, killed) are expected.
	refused := `SIGSYS|status=31|operation not permitted|permission denied|line busy|device or resource busy`
	bad := regexp.MustCompile(`(?i)` + refused + `|code=killed|code=dumped|watchdog timeout|core-dump|SIGABRT`)
	badInKill := regexp.MustCompile(`(?i)` + refused)
	for _, e := range unitJournal(t) {
		re := bad
		for _, wd := range kills {
			if !e.at.Before(wd.from) && !e.at.After(wd.to) {
				re = badInKill
			}
		}
		if re.MatchString(e.msg) {
			t.Errorf("journal: %s", e.msg)
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
  enabled: true
  urls: [tcp://` + sdBroker + `]
  # Back soon after the broker outage of the outbox check.
  reconnect: {min: 500ms, max: 3s}
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

// identifyWhenIdle is identify, retried while the kiosk is busy (409: a
// cooldown) or not yet running (503: just restarted).
func identifyWhenIdle(t *testing.T, body string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequest(http.MethodPost, "http://"+sdKiosk+"/api/identify", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+sdToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		status, msg := 0, []byte(nil)
		if err == nil {
			status = resp.StatusCode
			msg, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case status == http.StatusAccepted:
			return
		case time.Now().After(deadline):
			t.Fatalf("POST /api/identify: still %d %s (%v) after %s, want 202", status, msg, err, timeout)
		case err == nil && status != http.StatusConflict && status != http.StatusServiceUnavailable:
			t.Fatalf("POST /api/identify: %d %s, want 202 (or 409/503 while busy)", status, msg)
		}
		time.Sleep(250 * time.Millisecond)
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

// sdWatchdog is the time span of the watchdog kill, in which the journal
// may hold the kill's own traces.
type sdWatchdog struct{ from, to time.Time }

// watchdogKill hangs facegate (hang: "SIGSTOP" to its main process, or
// "freeze" its cgroup) and checks that systemd's watchdog kills it, the
// kernel releases the relay line (it reads 0 throughout), and Restart=always
// brings it back to READY=1 (restarts in all) with the line requested again
// and the broker told offline, then online.
func watchdogKill(t *testing.T, chip *simChip, rec *mqttRecorder, hang string, restarts int) sdWatchdog {
	props := unitProps(t, "MainPID", "NRestarts", "WatchdogUSec", "TimeoutAbortUSec", "RestartUSec", "ControlGroup")
	t.Logf("watchdog: hanging facegate.service by %s: %v", hang, props)
	oldPID := props["MainPID"]
	statusMark := rec.mark()
	relay := sampleRelay(chip)
	wd := sdWatchdog{from: time.Now()}
	// The kernel's freezer directly: systemctl freeze needs D-Bus, which
	// this VM does not run.
	freeze := "/sys/fs/cgroup" + props["ControlGroup"] + "/cgroup.freeze"
	switch hang {
	case "SIGSTOP":
		if out, err := exec.Command("systemctl", "kill", "--kill-who=main", "-s", "SIGSTOP", "facegate.service").CombinedOutput(); err != nil {
			t.Fatalf("systemctl kill -s SIGSTOP: %v\n%s", err, out)
		}
	case "freeze":
		if err := os.WriteFile(freeze, []byte("1"), 0); err != nil {
			t.Fatalf("freeze the cgroup: %v", err)
		}
	}
	var dead, ready time.Time
	deadline := wd.from.Add(3 * time.Minute)
	for ready.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("facegate.service not back 3 min after %s (hung %v): %v", hang, dead.IsZero(),
				unitProps(t, "ActiveState", "SubState", "Result", "NRestarts", "MainPID"))
		}
		if dead.IsZero() {
			if _, err := os.Stat("/proc/" + oldPID); err == nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			dead = time.Now()
			exit := unitProps(t, "Result", "ExecMainCode", "ExecMainStatus")
			// CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3 (signal number in status).
			t.Logf("watchdog: the hung process is gone %s after %s: %v",
				dead.Sub(wd.from).Round(100*time.Millisecond), hang, exit)
			if exit["Result"] != "watchdog" {
				t.Errorf("facegate.service Result=%s after the kill, want watchdog", exit["Result"])
			}
			if li := lineInfo(t, chip, lineRelay); li.Used {
				t.Errorf("relay line still requested once the hung process is gone: %+v", li)
			}
			if v := chip.Value(t, lineRelay); v != "0" {
				t.Errorf("relay line %s once the hung process is gone, want 0", v)
			}
			if b, err := os.ReadFile(freeze); err == nil && strings.TrimSpace(string(b)) == "1" {
				// Only this test's hang could leave it so: thaw, or the
				// restarted process would start frozen.
				t.Logf("watchdog: %s still 1 once the process is gone: thawing", freeze)
				os.WriteFile(freeze, []byte("0"), 0)
			}
		}
		p := unitProps(t, "MainPID", "NRestarts", "ActiveState", "SubState")
		if p["NRestarts"] == strconv.Itoa(restarts) && p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != oldPID {
			ready = time.Now()
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	wd.to = time.Now()
	if high := relay(); high {
		t.Errorf("relay line read 1 during the watchdog kill and restart")
	}
	if li := lineInfo(t, chip, lineRelay); !li.Used || li.Consumer != "facegate" || li.Config.Direction != gpiocdev.LineDirectionOutput {
		t.Errorf("relay line after the restart: %+v, want held by facegate as an output", li)
	}
	var timeout, exited time.Time
	for _, e := range unitJournal(t) {
		switch {
		case e.at.Before(wd.from):
		case timeout.IsZero() && strings.Contains(e.msg, "Watchdog timeout"):
			timeout = e.at
		case exited.IsZero() && strings.Contains(e.msg, "Main process exited"):
			exited = e.at
			t.Logf("journal: %s", e.msg)
		case strings.Contains(e.msg, "with signal SIG"), strings.HasPrefix(e.msg, "SIGABRT: abort"):
			t.Logf("journal: %s", e.msg)
		}
	}
	if timeout.IsZero() {
		t.Errorf("no \"Watchdog timeout\" in the journal after %s", hang)
	} else if !exited.IsZero() && exited.Sub(timeout) > sdAbortBound {
		t.Errorf("the hung process exited %s after the watchdog timeout, want < %s (TimeoutAbortSec=10s)", exited.Sub(timeout), sdAbortBound)
	}
	since := func(at time.Time) string {
		if at.IsZero() {
			return "-"
		}
		return at.Sub(wd.from).Round(100 * time.Millisecond).String()
	}
	t.Logf("watchdog cycle after %s: \"Watchdog timeout\" %s, main process exited %s, gone %s, READY=1 again %s (NRestarts=%d)",
		hang, since(timeout), since(exited), since(dead), since(ready), restarts)
	rec.wait(t, statusMark, "status offline (the will)", isStatus("offline"), 30*time.Second)
	rec.wait(t, statusMark, "status online", isStatus("online"), startTimeout)
	return wd
}

// outboxOutage opens the gate again with the broker down: the event waits
// in the outbox in the state directory and is delivered once the broker is
// back.
func outboxOutage(t *testing.T, chip *simChip, rec *mqttRecorder, b *mosquittoUnit) {
	b.stop(t)
	begin := time.Now()
	identify(t, fmt.Sprintf(`{"submission_id":%q,"user_id":%q}`, sdWorker, sdWorker))
	chip.WaitValue(t, lineRelay, "1", 2*time.Minute)
	t.Logf("second identify (after the restart, broker down) → relay energised: %s", time.Since(begin).Round(100*time.Millisecond))
	chip.WaitValue(t, lineRelay, "0", 30*time.Second)
	id := eventID(t, waitAuditN(t, `"decision":"granted"`, 2, 30*time.Second)[1])
	deadline := time.Now().Add(10 * time.Second)
	for {
		box, err := os.ReadFile(sdOutbox)
		if err == nil && strings.Contains(string(box), id) {
			t.Logf("outbox: %s holds event %s (%d bytes) while the broker is down", sdOutbox, id, len(box))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold event %s with the broker down (%v, %d bytes)", sdOutbox, id, err, len(box))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec.has(id) {
		t.Errorf("event %s arrived while the broker was down", id)
	}
	b.start(t)
	back := time.Now()
	ev := rec.event(t, 0, id, time.Minute)
	t.Logf("%s/event %s (seq %d) delivered %s after the broker came back", sdPrefix, id, ev.Seq, time.Since(back).Round(100*time.Millisecond))
	if ev.Decision != record.DecisionGranted || ev.Auth == nil || ev.Auth.Score.FaceSimilarity == nil {
		t.Errorf("%s/event: %+v, want granted with auth scores", sdPrefix, ev)
	}
}

// killDuringPulse SIGKILLs facegate n times while the real relay line is
// energised (the write-ahead promise on the GPIO character device): the
// grant's audit line, relay "pending", was on disk before the line moved;
// the kernel releases the line; the restarted daemon records the grant as
// interrupted in the audit log and on <prefix>/event/relay. restarts is
// NRestarts before the first kill.
func killDuringPulse(t *testing.T, chip *simChip, rec *mqttRecorder, n, restarts int) []sdWatchdog {
	var spans []sdWatchdog
	for i := 1; i <= n; i++ {
		oldPID := unitProps(t, "MainPID")["MainPID"]
		mark := rec.mark()
		identifyWhenIdle(t, fmt.Sprintf(`{"submission_id":%q,"user_id":%q}`, sdWorker, sdWorker), time.Minute)
		chip.WaitValue(t, lineRelay, "1", 2*time.Minute)
		span := sdWatchdog{from: time.Now()}
		if out, err := exec.Command("systemctl", "kill", "--kill-who=main", "-s", "SIGKILL", "facegate.service").CombinedOutput(); err != nil {
			t.Fatalf("systemctl kill -s SIGKILL: %v\n%s", err, out)
		}
		// Read before the restart can add to it: the newest decision is the
		// grant whose pulse was just cut, already on disk.
		grants := waitAuditN(t, `"decision":"granted"`, 1, 10*time.Second)
		id := eventID(t, grants[len(grants)-1])
		if !strings.Contains(grants[len(grants)-1], `"relay":"pending"`) {
			t.Errorf("the killed grant's audit line is not pending: %s", grants[len(grants)-1])
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			p := unitProps(t, "MainPID", "NRestarts", "ActiveState", "SubState")
			if p["NRestarts"] == strconv.Itoa(restarts+i) && p["ActiveState"] == "active" && p["SubState"] == "running" && p["MainPID"] != oldPID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("facegate.service not back 2 min after SIGKILL: %v", p)
			}
			time.Sleep(250 * time.Millisecond)
		}
		span.to = time.Now()
		spans = append(spans, span)
		if v := chip.Value(t, lineRelay); v != "0" {
			t.Errorf("relay line %s after the restart, want 0", v)
		}
		line := waitAudit(t, sdAudit, `"kind":"relay","event_id":"`+id+`"`, 30*time.Second)
		if !strings.Contains(line, `"relay":"interrupted"`) {
			t.Errorf("relay result of the killed grant: %s, want interrupted", line)
		}
		m := rec.wait(t, mark, "relay result "+id, func(m mqttMsg) bool {
			return m.topic == sdPrefix+"/event/relay" && strings.Contains(m.payload, id)
		}, time.Minute)
		t.Logf("kill %d during the pulse: back in %s; %s/event/relay: %s", i, span.to.Sub(span.from).Round(100*time.Millisecond), sdPrefix, m.payload)
	}
	return spans
}

// sampleRelay reads the relay line every 5 ms until the returned func is
// called, which reports whether the line ever read 1.
func sampleRelay(chip *simChip) func() bool {
	stop, done := make(chan struct{}), make(chan bool)
	p := fmt.Sprintf("%s/sim_gpio%d/value", chip.sysfs, lineRelay)
	go func() {
		high := false
		for {
			select {
			case <-stop:
				done <- high
				return
			case <-time.After(5 * time.Millisecond):
			}
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
				high = true
			}
		}
	}()
	return func() bool { close(stop); return <-done }
}

// checkOutboxFile: the outbox is in the state directory, the service user's.
func checkOutboxFile(t *testing.T) {
	t.Helper()
	fi, err := os.Stat(sdOutbox)
	if err != nil {
		t.Errorf("outbox: %v", err)
		return
	}
	u, err := user.Lookup("facegate")
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fmt.Sprint(st.Uid) != u.Uid || fi.Mode().Perm() != 0o640 {
		t.Errorf("outbox %s: uid %d mode %s, want facegate's (%s), 0640", sdOutbox, st.Uid, fi.Mode().Perm(), u.Uid)
	}
}

// mosquittoUnit is mosquitto as a transient unit, its persistence (retained
// values, the observer's session) kept across a restart.
type mosquittoUnit struct{ conf string }

func newMosquittoUnit(t *testing.T) *mosquittoUnit {
	t.Helper()
	const bin, data = "/usr/sbin/mosquitto", "/var/lib/facegate-hil-mqtt"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: the guest runs the host's mosquitto (make deps installs it)", err)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "mosquitto", data).CombinedOutput(); err != nil {
		t.Fatalf("chown mosquitto %s: %v %s", data, err, out)
	}
	b := &mosquittoUnit{conf: filepath.Join(t.TempDir(), "mosquitto.conf")}
	writeFile(t, b.conf, "listener 1883 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location "+data+
		"/\nautosave_interval 0\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", 0o644)
	t.Cleanup(func() { exec.Command("systemctl", "stop", "facegate-hil-mqtt").Run() })
	return b
}

func (b *mosquittoUnit) start(t *testing.T) {
	t.Helper()
	exec.Command("systemctl", "reset-failed", "facegate-hil-mqtt").Run() // a failed run would keep the name
	if out, err := exec.Command("systemd-run", "--unit=facegate-hil-mqtt", "--", "/usr/sbin/mosquitto", "-c", b.conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-run mosquitto: %v\n%s", err, out)
	}
	waitListening(t, "mosquitto", sdBroker, startTimeout)
}

func (b *mosquittoUnit) stop(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("systemctl", "stop", "facegate-hil-mqtt").CombinedOutput(); err != nil {
		t.Fatalf("systemctl stop facegate-hil-mqtt: %v\n%s", err, out)
	}
}

type mqttMsg struct {
	topic, payload string
	retained       bool
}

// mqttRecorder keeps every message its subscriber received, in order.
type mqttRecorder struct {
	mu   sync.Mutex
	msgs []mqttMsg
}

func (r *mqttRecorder) add(_ paho.Client, m paho.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, mqttMsg{m.Topic(), string(m.Payload()), m.Retained()})
	r.mu.Unlock()
}

func (r *mqttRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *mqttRecorder) find(from int, match func(mqttMsg) bool) (mqttMsg, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs[from:] {
		if match(m) {
			return m, true
		}
	}
	return mqttMsg{}, false
}

// wait polls for a message from index from on that matches.
func (r *mqttRecorder) wait(t *testing.T, from int, what string, match func(mqttMsg) bool, timeout time.Duration) mqttMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m, ok := r.find(from, match); ok {
			return m
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			t.Fatalf("no %s on the broker after %s; received: %+v", what, timeout, r.msgs[from:])
			r.mu.Unlock()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *mqttRecorder) has(id string) bool {
	_, ok := r.find(0, isEvent(id))
	return ok
}

// event waits for the <prefix>/event whose event_id is id.
func (r *mqttRecorder) event(t *testing.T, from int, id string, timeout time.Duration) record.Event {
	t.Helper()
	m := r.wait(t, from, "event "+id, isEvent(id), timeout)
	var ev record.Event
	if err := json.Unmarshal([]byte(m.payload), &ev); err != nil {
		t.Fatalf("%s: %v: %s", m.topic, err, m.payload)
	}
	return ev
}

func isStatus(v string) func(mqttMsg) bool {
	return func(m mqttMsg) bool { return m.topic == sdPrefix+"/status" && m.payload == v }
}

func isEvent(id string) func(mqttMsg) bool {
	return func(m mqttMsg) bool {
		return m.topic == sdPrefix+"/event" && strings.Contains(m.payload, `"event_id":"`+id+`"`)
	}
}

// subscribeGate connects a subscriber to the gate's status and event topics;
// it reconnects on its own (broker restarts).
func subscribeGate(t *testing.T, clientID string, clean bool) *mqttRecorder {
	t.Helper()
	rec := &mqttRecorder{}
	o := paho.NewClientOptions().AddBroker("tcp://" + sdBroker).SetClientID(clientID).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(true).
		// A persistent session's queued messages arrive before the subscribe.
		SetDefaultPublishHandler(rec.add)
	o.SetOnConnectHandler(func(c paho.Client) {
		c.SubscribeMultiple(map[string]byte{sdPrefix + "/status": 1, sdPrefix + "/event": 1, sdPrefix + "/event/relay": 1}, nil)
	})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt subscriber %s: connect: %v", clientID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return rec
}

// retainedStatus is what a new subscriber gets as the retained
// <prefix>/status, "" if none within 5 s.
func retainedStatus(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	o := paho.NewClientOptions().AddBroker("tcp://" + sdBroker).SetClientID(fmt.Sprintf("hil-probe-%d", time.Now().UnixNano()))
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt probe: connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe(sdPrefix+"/status", 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() {
			select {
			case got <- string(m.Payload()):
			default:
			}
		}
	})
	select {
	case v := <-got:
		return v
	case <-time.After(5 * time.Second):
		return ""
	}
}

// eventID is the event_id of an audit line.
func eventID(t *testing.T, auditLine string) string {
	t.Helper()
	var ev record.Event
	if err := json.Unmarshal([]byte(auditLine), &ev); err != nil || ev.EventID == "" {
		t.Fatalf("audit line without event_id (%v): %s", err, auditLine)
	}
	return ev.EventID
}

// waitAuditN polls the audit log until n lines contain want.
func waitAuditN(t *testing.T, want string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(sdAudit)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, want) {
				lines = append(lines, l)
			}
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %s in %s after %s, want %d:\n%s", len(lines), want, sdAudit, timeout, n, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type journalEntry struct {
	at  time.Time
	msg string
}

// unitJournal is this boot's journal of facegate.service: its output and
// what systemd said about it.
func unitJournal(t *testing.T) []journalEntry {
	t.Helper()
	out, err := exec.Command("journalctl", "-b", "--no-pager", "-o", "json", "--output-fields=MESSAGE,__REALTIME_TIMESTAMP",
		"_SYSTEMD_UNIT=facegate.service", "+", "UNIT=facegate.service").Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	var es []journalEntry
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Realtime string          `json:"__REALTIME_TIMESTAMP"`
			Message  json.RawMessage `json:"MESSAGE"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journalctl -o json: %v: %s", err, sc.Bytes())
		}
		us, _ := strconv.ParseInt(e.Realtime, 10, 64)
		var msg string
		if json.Unmarshal(e.Message, &msg) != nil { // not UTF-8: an array of bytes
			var raw []byte
			var ints []int
			json.Unmarshal(e.Message, &ints)
			for _, i := range ints {
				raw = append(raw, byte(i))
			}
			msg = string(raw)
		}
		es = append(es, journalEntry{time.UnixMicro(us), msg})
	}
	return es
}
