package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The package's postinst, run for "configure" with the system tools it
// calls replaced by stubs that log their arguments, on a root of its own
// ($DPKG_ROOT): it must leave /etc/facegate/facegate.yaml, which may hold
// the gate's open token inline, to root and the daemon's group (dpkg
// unpacks it 0644 in a 0755 folder; until 2026-12-07 every local user
// could read it), and keep modes an admin set with dpkg-statoverride.
func TestPostinstRestrictsTheConfiguration(t *testing.T) {
	script, err := filepath.Abs("../packaging/debian/postinst")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		overridden    string // a path dpkg-statoverride lists
		noGroup       bool   // a facegate user made by hand, without its group
		before        os.FileMode
		dir, conf     os.FileMode
		chgrpOf, want string
	}{
		{name: "as unpacked", before: 0o644, dir: 0o750, conf: 0o640,
			chgrpOf: "facegate /etc/facegate\nfacegate /etc/facegate/facegate.yaml\n"},
		{name: "tightened by the admin", before: 0o600, dir: 0o750, conf: 0o600,
			chgrpOf: "facegate /etc/facegate\nfacegate /etc/facegate/facegate.yaml\n"},
		{name: "no facegate group", noGroup: true, before: 0o644, dir: 0o750, conf: 0o640, chgrpOf: ""},
		{name: "statoverride", overridden: "/etc/facegate/facegate.yaml", before: 0o644, dir: 0o750, conf: 0o644,
			chgrpOf: "facegate /etc/facegate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, bin := t.TempDir(), t.TempDir()
			log := filepath.Join(bin, "log")
			conf := filepath.Join(root, "etc", "facegate", "facegate.yaml")
			if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(conf, []byte("site: s\n"), tt.before); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Dir(conf), 0o755); err != nil {
				t.Fatal(err)
			}
			stub := func(name, body string) {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"adduser", "addgroup", "deb-systemd-helper", "deb-systemd-invoke", "systemctl"} {
				stub(name, "exit 0")
			}
			if tt.noGroup {
				stub("getent", `[ "$1 $2" = "group facegate" ] && exit 2; exit 0`)
			} else {
				stub("getent", "exit 0") // the groups and the user exist
			}
			stub("chgrp", `echo "$1 ${2#"$DPKG_ROOT"}" >>`+log)
			stub("dpkg-statoverride", `[ "$1" = --list ] && [ "$2" = "`+tt.overridden+`" ] && echo "root root 0644 $2"`)
			cmd := exec.Command("/bin/sh", script, "configure", "1.0-1")
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "DPKG_ROOT=" + root}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("postinst configure: %v\n%s", err, out)
			}
			for path, want := range map[string]os.FileMode{filepath.Dir(conf): tt.dir, conf: tt.conf} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Errorf("%s: mode %v after postinst, want %v", strings.TrimPrefix(path, root), got, want)
				}
			}
			got, _ := os.ReadFile(log)
			if string(got) != tt.chgrpOf {
				t.Errorf("chgrp calls %q, want %q", got, tt.chgrpOf)
			}
		})
	}
}
