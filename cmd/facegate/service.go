package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/configs"
	"github.com/facegate/facegate/systemd"
)

// The account the unit runs as, and the groups that own the devices.
const (
	serviceUser     = "facegate"
	serviceStateDir = "/var/lib/facegate"
	serviceConfDir  = "/etc/facegate"
)

var serviceGroups = []string{"video", "gpio"}

// serviceControl is the part of kardianos/service that `facegate service`
// drives (service.Service satisfies it; tests use a fake).
type serviceControl interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (service.Status, error)
	Platform() string
}

// commandRunner runs a system tool (useradd, systemctl…) and returns its
// combined output.
type commandRunner func(ctx context.Context, name string, args ...string) ([]byte, error)

// serviceDeps is what runService touches outside the process.
type serviceDeps struct {
	control    func(unit string) (serviceControl, error)
	run        commandRunner
	executable func() (string, error)
	geteuid    func() int
	mkdirOwned func(path string, perm os.FileMode, group string) error
	// writeNew creates path with data (root, the group may read) unless it
	// exists; it reports whether it wrote.
	writeNew  func(path string, data []byte, group string) (bool, error)
	removeAll func(path string) error
}

func runService(ctx context.Context, a *app, args []string) int {
	return runServiceWith(ctx, a, args, serviceDeps{
		control:    newKardianosControl,
		run:        execRunner,
		executable: executablePath,
		geteuid:    os.Geteuid,
		mkdirOwned: mkdirOwnedByGroup,
		writeNew:   writeNewForGroup,
		removeAll:  os.RemoveAll,
	})
}

const serviceUsage = `usage: facegate service install [--config F] | uninstall [--purge] | start | stop | restart | status

install writes systemd/facegate.service (hardened, Type=notify, watchdog)
to /etc/systemd/system with ExecStart set to this binary, creates the
system user "facegate" (groups video, gpio) if absent, and enables the unit.
The API key goes in /etc/facegate/api-key (root only, 0600): systemd hands
it to the daemon as the credential facegate-api-key.
`

func runServiceWith(ctx context.Context, a *app, args []string, d serviceDeps) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(a.stderr, serviceUsage)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	action := args[0]
	fs := flag.NewFlagSet("service "+action, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	cfgPath := config.DefaultPath
	purge := false
	switch action {
	case "install":
		fs.StringVar(&cfgPath, "config", config.DefaultPath, "configuration file the service runs with (absolute)")
	case "uninstall":
		fs.BoolVar(&purge, "purge", false, "also delete the facegate user and "+serviceStateDir+" (audit log, outbox)")
	case "start", "stop", "restart", "status":
	default:
		fmt.Fprintf(a.stderr, "facegate service: unknown action %q\n\n%s", action, serviceUsage)
		return exitError
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate service %s: unexpected argument %q\n", action, fs.Arg(0))
		return exitError
	}

	var unit string
	if action == "install" {
		exe, err := d.executable()
		if err != nil {
			fmt.Fprintf(a.stderr, "facegate service install: find this binary: %v\n", err)
			return exitError
		}
		unit, err = renderUnit(exe, cfgPath)
		if err != nil {
			fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
			return exitError
		}
	}
	ctl, err := d.control(unit)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate service: %v\n", err)
		return exitError
	}
	if p := ctl.Platform(); p != "linux-systemd" {
		fmt.Fprintf(a.stderr, "facegate service: needs systemd as the init system (this machine: %s); run `facegate run` under your supervisor instead\n", p)
		return exitError
	}
	if action != "status" && d.geteuid() != 0 {
		fmt.Fprintf(a.stderr, "facegate service %s: must run as root (sudo facegate service %s)\n", action, action)
		return exitError
	}

	switch action {
	case "install":
		return serviceInstall(ctx, a, d, ctl, cfgPath)
	case "uninstall":
		return serviceUninstall(ctx, a, d, ctl, purge)
	case "status":
		return serviceStatus(a, ctl)
	}
	do := map[string]func() error{"start": ctl.Start, "stop": ctl.Stop, "restart": ctl.Restart}[action]
	if err := do(); err != nil {
		fmt.Fprintf(a.stderr, "facegate service %s: %v (see journalctl -u %s)\n", action, err, systemd.UnitName)
		return exitError
	}
	fmt.Fprintf(a.stdout, "%s: %s done\n", systemd.UnitName, action)
	return exitOK
}

func serviceInstall(ctx context.Context, a *app, d serviceDeps, ctl serviceControl, cfgPath string) int {
	if err := ensureAccount(ctx, d.run); err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
		return exitError
	}
	if err := d.mkdirOwned(serviceConfDir, 0o750, serviceUser); err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
		return exitError
	}
	wrote, err := d.writeNew(cfgPath, configs.Example, serviceUser)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
		return exitError
	}
	if err := ctl.Install(); err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v (to reinstall: facegate service uninstall first)\n", err)
		return exitError
	}
	fmt.Fprintf(a.stdout, "installed and enabled /etc/systemd/system/%s\n", systemd.UnitName)
	if wrote {
		fmt.Fprintf(a.stdout, "wrote %s (every key, with its default)\n", cfgPath)
	}
	fmt.Fprintf(a.stdout, "next:\n")
	fmt.Fprintf(a.stdout, "  edit %s (site, gate, camera, io.relay, mqtt…)\n", cfgPath)
	fmt.Fprintf(a.stdout, "  install -m 0600 /dev/stdin %s/api-key <<< 'YOUR-API-KEY'\n", serviceConfDir)
	fmt.Fprintf(a.stdout, "  facegate config check --config %s && facegate service start\n", cfgPath)
	return exitOK
}

func serviceUninstall(ctx context.Context, a *app, d serviceDeps, ctl serviceControl, purge bool) int {
	if st, err := ctl.Status(); err == nil && st == service.StatusRunning {
		if err := ctl.Stop(); err != nil {
			fmt.Fprintf(a.stderr, "facegate service uninstall: stop: %v\n", err)
			return exitError
		}
	}
	if err := ctl.Uninstall(); err != nil {
		fmt.Fprintf(a.stderr, "facegate service uninstall: %v\n", err)
		return exitError
	}
	// kardianos/service does not reload after removing the file.
	if out, err := d.run(ctx, "systemctl", "daemon-reload"); err != nil {
		fmt.Fprintf(a.stderr, "facegate service uninstall: systemctl daemon-reload: %v: %s\n", err, out)
		return exitError
	}
	fmt.Fprintf(a.stdout, "removed /etc/systemd/system/%s\n", systemd.UnitName)
	if !purge {
		fmt.Fprintf(a.stdout, "kept: user %s, %s (audit log, outbox), %s; `uninstall --purge` removes the first two\n",
			serviceUser, serviceStateDir, serviceConfDir)
		return exitOK
	}
	if out, err := d.run(ctx, "userdel", serviceUser); err != nil && !strings.Contains(string(out), "does not exist") {
		fmt.Fprintf(a.stderr, "facegate service uninstall: userdel %s: %v: %s\n", serviceUser, err, out)
		return exitError
	}
	if err := d.removeAll(serviceStateDir); err != nil {
		fmt.Fprintf(a.stderr, "facegate service uninstall: remove %s: %v\n", serviceStateDir, err)
		return exitError
	}
	fmt.Fprintf(a.stdout, "removed user %s and %s (kept %s)\n", serviceUser, serviceStateDir, serviceConfDir)
	return exitOK
}

func serviceStatus(a *app, ctl serviceControl) int {
	st, err := ctl.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		fmt.Fprintf(a.stdout, "%s: not installed\n", systemd.UnitName)
		return exitNegative
	case err != nil:
		fmt.Fprintf(a.stdout, "%s: %v (see systemctl status %s)\n", systemd.UnitName, err, systemd.UnitName)
		return exitError
	case st == service.StatusRunning:
		fmt.Fprintf(a.stdout, "%s: running\n", systemd.UnitName)
		return exitOK
	case st == service.StatusStopped:
		fmt.Fprintf(a.stdout, "%s: stopped\n", systemd.UnitName)
		return exitNegative
	}
	fmt.Fprintf(a.stdout, "%s: unknown\n", systemd.UnitName)
	return exitError
}

// hiddenFromService are the trees the unit's ProtectHome=/PrivateTmp= hide:
// a binary there could never start.
var hiddenFromService = []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"}

// renderUnit is the shipped unit with ExecStart pointing at exe and cfg.
func renderUnit(exe, cfg string) (string, error) {
	if !filepath.IsAbs(exe) {
		return "", fmt.Errorf("binary path %q is not absolute", exe)
	}
	for _, p := range hiddenFromService {
		if strings.HasPrefix(exe, p) {
			return "", fmt.Errorf("binary %s is under %s, which the hardened unit hides from the service; "+
				"copy it first: sudo install -m 0755 %s /usr/local/bin/facegate && sudo /usr/local/bin/facegate service install",
				exe, strings.TrimSuffix(p, "/"), exe)
		}
	}
	if !filepath.IsAbs(cfg) {
		return "", fmt.Errorf("--config %q must be an absolute path", cfg)
	}
	for _, s := range []string{exe, cfg} {
		// Unit syntax: whitespace, quotes, backslashes and % need escaping
		// that nobody should need for these two paths; {{ would be read as
		// a template action by kardianos/service.
		if strings.ContainsAny(s, " \t\n\"'\\%$;") || strings.Contains(s, "{{") {
			return "", fmt.Errorf("path %q contains characters a unit file cannot carry unescaped", s)
		}
	}
	old := "ExecStart=" + systemd.DefaultExecStart + "\n"
	if !strings.Contains(systemd.Unit, old) {
		return "", errors.New("the embedded unit has no default ExecStart line to replace")
	}
	return strings.Replace(systemd.Unit, old, "ExecStart="+exe+" run --config "+cfg+"\n", 1), nil
}

// ensureAccount creates the gpio group and the facegate system user when
// absent, and adds the user to the device groups.
func ensureAccount(ctx context.Context, run commandRunner) error {
	for _, g := range serviceGroups {
		if _, err := run(ctx, "getent", "group", g); err == nil {
			continue
		}
		if out, err := run(ctx, "groupadd", "--system", g); err != nil {
			return fmt.Errorf("create group %s: %w: %s", g, err, out)
		}
	}
	if _, err := run(ctx, "getent", "passwd", serviceUser); err != nil {
		out, err := run(ctx, "useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", serviceStateDir, "--shell", "/usr/sbin/nologin",
			"--comment", "facegate gate daemon", serviceUser)
		if err != nil {
			return fmt.Errorf("create user %s: %w: %s", serviceUser, err, out)
		}
	}
	if out, err := run(ctx, "usermod", "--append", "--groups", strings.Join(serviceGroups, ","), serviceUser); err != nil {
		return fmt.Errorf("add %s to %s: %w: %s", serviceUser, strings.Join(serviceGroups, ","), err, out)
	}
	return nil
}

func execRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func executablePath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// writeNewForGroup writes data to path (0640, group-readable) unless the
// file exists: an operator's configuration is never overwritten.
func writeNewForGroup(path string, data []byte, group string) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	if out, err := exec.Command("chgrp", group, path).CombinedOutput(); err != nil {
		return true, fmt.Errorf("chgrp %s %s: %w: %s", group, path, err, out)
	}
	return true, nil
}

// mkdirOwnedByGroup creates dir (root-owned, group readable) when absent;
// an existing directory is left as the operator made it.
func mkdirOwnedByGroup(dir string, perm os.FileMode, group string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if out, err := exec.Command("chgrp", group, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("chgrp %s %s: %w: %s", group, dir, err, out)
	}
	return nil
}

// kardianosProgram satisfies service.Interface. facegate never runs through
// kardianos (systemd starts `facegate run`, which speaks sd_notify itself);
// the library is used for install/uninstall/start/stop/status only, so
// these are never called.
type kardianosProgram struct{}

func (kardianosProgram) Start(service.Service) error { return nil }
func (kardianosProgram) Stop(service.Service) error  { return nil }

func newKardianosControl(unit string) (serviceControl, error) {
	cfg := &service.Config{
		Name:        strings.TrimSuffix(systemd.UnitName, ".service"),
		DisplayName: "facegate",
		Description: "facegate face-authenticated gate",
		Option:      service.KeyValue{},
	}
	if unit != "" {
		// Our own hardened unit instead of the generated one (which has
		// RestartSec=120 and no watchdog).
		cfg.Option["SystemdScript"] = unit
	}
	s, err := service.New(kardianosProgram{}, cfg)
	if err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	return s, nil
}
