package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/configs"
	"github.com/facegate/facegate/systemd"
)

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

// serviceDeps is what runService touches outside the process.
type serviceDeps struct {
	control    func(unit string) (serviceControl, error)
	run        systemd.Runner
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
		run:        systemd.Exec,
		executable: executablePath,
		geteuid:    os.Geteuid,
		mkdirOwned: systemd.MkdirForGroup,
		writeNew:   systemd.WriteNewForGroup,
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
		fs.BoolVar(&purge, "purge", false, "also delete the facegate user and "+systemd.StateDir+" (audit log, outbox)")
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
		unit, err = systemd.RenderUnit(exe, cfgPath)
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
	if err := systemd.EnsureAccount(ctx, d.run); err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
		return exitError
	}
	if err := d.mkdirOwned(systemd.ConfDir, 0o750, systemd.User); err != nil {
		fmt.Fprintf(a.stderr, "facegate service install: %v\n", err)
		return exitError
	}
	wrote, err := d.writeNew(cfgPath, configs.Example, systemd.User)
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
	fmt.Fprintf(a.stdout, "  install -m 0600 /dev/stdin %s/api-key <<< 'YOUR-API-KEY'\n", systemd.ConfDir)
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
			systemd.User, systemd.StateDir, systemd.ConfDir)
		return exitOK
	}
	if err := systemd.RemoveAccount(ctx, d.run); err != nil {
		fmt.Fprintf(a.stderr, "facegate service uninstall: %v\n", err)
		return exitError
	}
	if err := d.removeAll(systemd.StateDir); err != nil {
		fmt.Fprintf(a.stderr, "facegate service uninstall: remove %s: %v\n", systemd.StateDir, err)
		return exitError
	}
	fmt.Fprintf(a.stdout, "removed user %s and %s (kept %s)\n", systemd.User, systemd.StateDir, systemd.ConfDir)
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

func executablePath() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
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
