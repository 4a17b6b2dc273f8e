package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The account the unit runs as, and where the unit keeps its state and its
// configuration (the shipped unit names them).
const (
	User     = "facegate"
	StateDir = "/var/lib/facegate"
	ConfDir  = "/etc/facegate"
)

// Groups own the devices the daemon opens (cameras, GPIO chips); the
// service user is a member of each.
var Groups = []string{"video", "gpio"}

// Runner runs a system tool (getent, useradd, systemctl…) and returns its
// combined output. Exec is the real one; tests record the calls instead.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec runs name with args and returns its combined output.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// hiddenFromService are the trees the unit's ProtectHome=/PrivateTmp= hide:
// a binary there could never start.
var hiddenFromService = []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"}

// RenderUnit is the shipped Unit with ExecStart running exe with the
// configuration file cfg. Both must be absolute, and exe must be where the
// hardened unit can see it.
func RenderUnit(exe, cfg string) (string, error) {
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
	old := "ExecStart=" + DefaultExecStart + "\n"
	if !strings.Contains(Unit, old) {
		return "", errors.New("the embedded unit has no default ExecStart line to replace")
	}
	return strings.Replace(Unit, old, "ExecStart="+exe+" run --config "+cfg+"\n", 1), nil
}

// EnsureAccount creates the device groups and the system user the unit
// runs as when absent, and adds the user to the groups. An existing
// account is kept as it is, group membership aside.
func EnsureAccount(ctx context.Context, run Runner) error {
	for _, g := range Groups {
		if _, err := run(ctx, "getent", "group", g); err == nil {
			continue
		}
		if out, err := run(ctx, "groupadd", "--system", g); err != nil {
			return fmt.Errorf("create group %s: %w: %s", g, err, out)
		}
	}
	if _, err := run(ctx, "getent", "passwd", User); err != nil {
		out, err := run(ctx, "useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", StateDir, "--shell", "/usr/sbin/nologin",
			"--comment", "facegate gate daemon", User)
		if err != nil {
			return fmt.Errorf("create user %s: %w: %s", User, err, out)
		}
	}
	if out, err := run(ctx, "usermod", "--append", "--groups", strings.Join(Groups, ","), User); err != nil {
		return fmt.Errorf("add %s to %s: %w: %s", User, strings.Join(Groups, ","), err, out)
	}
	return nil
}

// RemoveAccount deletes the service user; a user already gone is not an
// error.
func RemoveAccount(ctx context.Context, run Runner) error {
	if out, err := run(ctx, "userdel", User); err != nil && !strings.Contains(string(out), "does not exist") {
		return fmt.Errorf("userdel %s: %w: %s", User, err, out)
	}
	return nil
}

// WriteNewForGroup writes data to path (0640, group-readable) unless the
// file exists: an operator's configuration is never overwritten. It
// reports whether it wrote.
func WriteNewForGroup(path string, data []byte, group string) (bool, error) {
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

// MkdirForGroup creates dir (root-owned, group readable) when absent; an
// existing directory is left as the operator made it.
func MkdirForGroup(dir string, perm os.FileMode, group string) error {
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
