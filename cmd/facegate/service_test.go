package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"text/template"

	"github.com/kardianos/service"

	"github.com/facegate/facegate/configs"
	"github.com/facegate/facegate/systemd"
)

// fakeControl records what `facegate service` asked of the service manager.
type fakeControl struct {
	platform string
	status   service.Status
	statErr  error
	calls    []string
	unit     string
	failOn   string
}

func (f *fakeControl) do(name string) error {
	f.calls = append(f.calls, name)
	if f.failOn == name {
		return errors.New(name + " failed")
	}
	return nil
}
func (f *fakeControl) Install() error   { return f.do("install") }
func (f *fakeControl) Uninstall() error { return f.do("uninstall") }
func (f *fakeControl) Start() error     { return f.do("start") }
func (f *fakeControl) Stop() error      { return f.do("stop") }
func (f *fakeControl) Restart() error   { return f.do("restart") }
func (f *fakeControl) Status() (service.Status, error) {
	f.calls = append(f.calls, "status")
	return f.status, f.statErr
}
func (f *fakeControl) Platform() string { return f.platform }

// fakeSystem answers getent like a machine with the given accounts and
// records every command.
type fakeSystem struct {
	existing map[string]bool // "group video", "passwd facegate"
	commands []string
	dirs     []string
	written  map[string][]byte
	removed  []string
}

func (s *fakeSystem) run(_ context.Context, name string, args ...string) ([]byte, error) {
	cmd := strings.Join(append([]string{name}, args...), " ")
	s.commands = append(s.commands, cmd)
	if name == "getent" && !s.existing[args[0]+" "+args[1]] {
		return nil, errors.New("exit status 2")
	}
	return nil, nil
}

func newServiceHarness(ctl *fakeControl, sys *fakeSystem, euid int, exe string) serviceDeps {
	return serviceDeps{
		control: func(unit string) (serviceControl, error) {
			ctl.unit = unit
			return ctl, nil
		},
		run:        sys.run,
		executable: func() (string, error) { return exe, nil },
		geteuid:    func() int { return euid },
		mkdirOwned: func(p string, _ os.FileMode, _ string) error { sys.dirs = append(sys.dirs, p); return nil },
		writeNew: func(p string, data []byte, _ string) (bool, error) {
			if sys.existing["file "+p] {
				return false, nil
			}
			if sys.written == nil {
				sys.written = map[string][]byte{}
			}
			sys.written[p] = data
			return true, nil
		},
		removeAll: func(p string) error { sys.removed = append(sys.removed, p); return nil },
	}
}

func runServiceTest(t *testing.T, d serviceDeps, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, env: map[string]string{}}
	code = runServiceWith(context.Background(), a, args, d)
	return code, out.String(), errb.String()
}

func TestServiceInstallWritesOurUnitAndAccount(t *testing.T) {
	ctl := &fakeControl{platform: "linux-systemd"}
	sys := &fakeSystem{existing: map[string]bool{"group video": true}}
	code, out, errOut := runServiceTest(t, newServiceHarness(ctl, sys, 0, "/opt/facegate/bin/facegate"),
		"install", "--config", "/etc/facegate/site-a.yaml")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(ctl.unit, "\nExecStart=/opt/facegate/bin/facegate run --config /etc/facegate/site-a.yaml\n") {
		t.Fatalf("unit ExecStart not rewritten:\n%s", ctl.unit)
	}
	if strings.Contains(ctl.unit, systemd.DefaultExecStart) {
		t.Fatal("unit still has the default ExecStart")
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "LoadCredential=facegate-api-key:/etc/facegate/api-key"} {
		if !strings.Contains(ctl.unit, want) {
			t.Errorf("installed unit lacks %q", want)
		}
	}
	wantCmds := []string{
		"getent group video",
		"getent group gpio",
		"groupadd --system gpio",
		"getent passwd facegate",
		"useradd --system --user-group --no-create-home --home-dir /var/lib/facegate --shell /usr/sbin/nologin --comment facegate gate daemon facegate",
		"usermod --append --groups video,gpio facegate",
	}
	if strings.Join(sys.commands, "\n") != strings.Join(wantCmds, "\n") {
		t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(sys.commands, "\n"), strings.Join(wantCmds, "\n"))
	}
	if len(sys.dirs) != 1 || sys.dirs[0] != "/etc/facegate" {
		t.Fatalf("dirs made: %v", sys.dirs)
	}
	if strings.Join(ctl.calls, ",") != "install" {
		t.Fatalf("service calls: %v", ctl.calls)
	}
	if !strings.Contains(out, "/etc/facegate/api-key") {
		t.Fatalf("install does not tell where the API key goes:\n%s", out)
	}
	if string(sys.written["/etc/facegate/site-a.yaml"]) != string(configs.Example) {
		t.Fatalf("the example configuration was not written to --config: %v", sys.written)
	}
}

func TestServiceInstallKeepsAnExistingConfig(t *testing.T) {
	ctl := &fakeControl{platform: "linux-systemd"}
	sys := &fakeSystem{existing: map[string]bool{"file /etc/facegate/facegate.yaml": true}}
	if code, _, errOut := runServiceTest(t, newServiceHarness(ctl, sys, 0, "/usr/local/bin/facegate"), "install"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(sys.written) != 0 {
		t.Fatalf("overwrote %v", sys.written)
	}
}

func TestServiceInstallKeepsExistingAccount(t *testing.T) {
	ctl := &fakeControl{platform: "linux-systemd"}
	sys := &fakeSystem{existing: map[string]bool{"group video": true, "group gpio": true, "passwd facegate": true}}
	if code, _, errOut := runServiceTest(t, newServiceHarness(ctl, sys, 0, "/usr/local/bin/facegate"), "install"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, c := range sys.commands {
		if strings.HasPrefix(c, "useradd") || strings.HasPrefix(c, "groupadd") {
			t.Fatalf("created an account that exists: %s", c)
		}
	}
	if !strings.Contains(ctl.unit, "\nExecStart="+systemd.DefaultExecStart+"\n") {
		t.Fatal("default paths should give the shipped ExecStart")
	}
}

func TestServiceRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform string
		euid     int
		exe      string
		args     []string
		want     string
	}{
		{"not systemd", "linux-sysv", 0, "/usr/local/bin/facegate", []string{"install"}, "needs systemd"},
		{"not root", "linux-systemd", 1000, "/usr/local/bin/facegate", []string{"start"}, "must run as root"},
		{"binary in home", "linux-systemd", 0, "/home/pi/facegate/bin/facegate", []string{"install"}, "hides from the service"},
		{"binary in tmp", "linux-systemd", 0, "/tmp/facegate", []string{"install"}, "hides from the service"},
		{"relative config", "linux-systemd", 0, "/usr/local/bin/facegate", []string{"install", "--config", "facegate.yaml"}, "must be an absolute path"},
		{"space in config", "linux-systemd", 0, "/usr/local/bin/facegate", []string{"install", "--config", "/etc/face gate.yaml"}, "cannot carry"},
		{"unknown action", "linux-systemd", 0, "/usr/local/bin/facegate", []string{"enable"}, `unknown action "enable"`},
		{"stray argument", "linux-systemd", 0, "/usr/local/bin/facegate", []string{"start", "now"}, `unexpected argument "now"`},
		{"no action", "linux-systemd", 0, "/usr/local/bin/facegate", nil, "usage: facegate service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := &fakeControl{platform: tc.platform}
			sys := &fakeSystem{}
			code, _, errOut := runServiceTest(t, newServiceHarness(ctl, sys, tc.euid, tc.exe), tc.args...)
			if code != exitError {
				t.Fatalf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q lacks %q", errOut, tc.want)
			}
			if len(sys.commands) != 0 || len(ctl.calls) != 0 {
				t.Fatalf("side effects despite refusal: %v %v", sys.commands, ctl.calls)
			}
		})
	}
}

func TestServiceActions(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		status    service.Status
		statErr   error
		failOn    string
		wantCode  int
		wantCalls string
		wantOut   string
	}{
		{[]string{"start"}, 0, nil, "", exitOK, "start", "start done"},
		{[]string{"stop"}, 0, nil, "", exitOK, "stop", "stop done"},
		{[]string{"restart"}, 0, nil, "", exitOK, "restart", "restart done"},
		{[]string{"start"}, 0, nil, "start", exitError, "start", ""},
		{[]string{"status"}, service.StatusRunning, nil, "", exitOK, "status", "running"},
		{[]string{"status"}, service.StatusStopped, nil, "", exitNegative, "status", "stopped"},
		{[]string{"status"}, service.StatusUnknown, service.ErrNotInstalled, "", exitNegative, "status", "not installed"},
		{[]string{"status"}, service.StatusUnknown, errors.New("service in failed state"), "", exitError, "status", "failed state"},
		{[]string{"uninstall"}, service.StatusRunning, nil, "", exitOK, "status,stop,uninstall", "kept: user facegate"},
		{[]string{"uninstall"}, service.StatusStopped, nil, "", exitOK, "status,uninstall", "removed /etc/systemd/system/facegate.service"},
	} {
		t.Run(strings.Join(tc.args, " ")+"/"+tc.wantOut, func(t *testing.T) {
			ctl := &fakeControl{platform: "linux-systemd", status: tc.status, statErr: tc.statErr, failOn: tc.failOn}
			sys := &fakeSystem{}
			code, out, errOut := runServiceTest(t, newServiceHarness(ctl, sys, 0, "/usr/local/bin/facegate"), tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d (stderr %s)", code, tc.wantCode, errOut)
			}
			if got := strings.Join(ctl.calls, ","); got != tc.wantCalls {
				t.Fatalf("calls %s, want %s", got, tc.wantCalls)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Fatalf("stdout %q lacks %q", out, tc.wantOut)
			}
		})
	}
}

func TestServiceUninstallPurge(t *testing.T) {
	ctl := &fakeControl{platform: "linux-systemd", status: service.StatusStopped}
	sys := &fakeSystem{}
	code, _, errOut := runServiceTest(t, newServiceHarness(ctl, sys, 0, "/usr/local/bin/facegate"), "uninstall", "--purge")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := strings.Join(sys.commands, ";"); got != "systemctl daemon-reload;userdel facegate" {
		t.Fatalf("commands %s", got)
	}
	if len(sys.removed) != 1 || sys.removed[0] != "/var/lib/facegate" {
		t.Fatalf("removed %v", sys.removed)
	}
}

// TestKardianosControlKeepsUnit checks that the unit survives
// kardianos/service's text/template pass (SystemdScript) unchanged.
func TestKardianosControlKeepsUnit(t *testing.T) {
	unit, err := systemd.RenderUnit("/usr/local/bin/facegate", "/etc/facegate/facegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if unit != systemd.Unit {
		t.Fatal("rendering with the default paths changed the unit")
	}
	var b strings.Builder
	if err := template.Must(template.New("").Parse(unit)).Execute(&b, struct{ Path string }{"/x"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != unit {
		t.Fatal("text/template changes the unit")
	}
	if _, err := newKardianosControl(unit); err != nil {
		t.Fatalf("kardianos rejects the config: %v", err)
	}
}
