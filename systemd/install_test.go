package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

func TestWriteNewForGroupNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "facegate.yaml")
	if err := os.WriteFile(p, []byte("site: mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrote, err := WriteNewForGroup(p, []byte("site: example\n"), "root")
	if err != nil || wrote {
		t.Fatalf("wrote=%v err=%v over an existing file", wrote, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "site: mine\n" {
		t.Fatalf("content changed: %q", b)
	}
}

// TestRenderUnitKeepsTheShippedUnit: the default paths give the shipped
// unit byte for byte, and kardianos/service's text/template pass
// (SystemdScript) leaves it unchanged.
func TestRenderUnitKeepsTheShippedUnit(t *testing.T) {
	unit, err := RenderUnit("/usr/local/bin/facegate", "/etc/facegate/facegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if unit != Unit {
		t.Fatal("rendering with the default paths changed the unit")
	}
	var b strings.Builder
	if err := template.Must(template.New("").Parse(unit)).Execute(&b, struct{ Path string }{"/x"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != unit {
		t.Fatal("text/template changes the unit")
	}
}

func TestRenderUnit(t *testing.T) {
	for _, tc := range []struct {
		name, exe, cfg string
		want           string // in the unit, or in the error when wantErr
		wantErr        bool
	}{
		{"other paths", "/opt/facegate/bin/facegate", "/etc/facegate/site-a.yaml",
			"\nExecStart=/opt/facegate/bin/facegate run --config /etc/facegate/site-a.yaml\n", false},
		{"relative binary", "bin/facegate", "/etc/facegate/facegate.yaml", "is not absolute", true},
		{"binary in home", "/home/pi/facegate/bin/facegate", "/etc/facegate/facegate.yaml", "hides from the service", true},
		{"binary in tmp", "/tmp/facegate", "/etc/facegate/facegate.yaml", "under /tmp", true},
		{"relative config", "/usr/local/bin/facegate", "facegate.yaml", "must be an absolute path", true},
		{"space in config", "/usr/local/bin/facegate", "/etc/face gate.yaml", "cannot carry", true},
		{"template action", "/usr/local/bin/facegate", "/etc/{{.Path}}.yaml", "cannot carry", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unit, err := RenderUnit(tc.exe, tc.cfg)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want one with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(unit, tc.want) || strings.Contains(unit, DefaultExecStart) {
				t.Fatalf("ExecStart not rewritten to %q:\n%s", tc.want, unit)
			}
		})
	}
}

// fakeSystem answers getent like a machine with the given accounts and
// records every command; fail names a command that fails with out.
type fakeSystem struct {
	existing  map[string]bool // "group video", "passwd facegate"
	fail, out string
	commands  []string
}

func (s *fakeSystem) run(_ context.Context, name string, args ...string) ([]byte, error) {
	s.commands = append(s.commands, strings.Join(append([]string{name}, args...), " "))
	if name == "getent" && !s.existing[args[0]+" "+args[1]] {
		return nil, errors.New("exit status 2")
	}
	if name == s.fail {
		return []byte(s.out), errors.New("exit status 1")
	}
	return nil, nil
}

func TestEnsureAccount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing map[string]bool
		fail     string
		want     []string
		wantErr  string
	}{
		{"fresh machine", map[string]bool{"group video": true}, "", []string{
			"getent group video",
			"getent group gpio",
			"groupadd --system gpio",
			"getent passwd facegate",
			"useradd --system --user-group --no-create-home --home-dir /var/lib/facegate --shell /usr/sbin/nologin --comment facegate gate daemon facegate",
			"usermod --append --groups video,gpio facegate",
		}, ""},
		{"account exists", map[string]bool{"group video": true, "group gpio": true, "passwd facegate": true}, "", []string{
			"getent group video",
			"getent group gpio",
			"getent passwd facegate",
			"usermod --append --groups video,gpio facegate",
		}, ""},
		{"useradd fails", map[string]bool{"group video": true, "group gpio": true}, "useradd", []string{
			"getent group video",
			"getent group gpio",
			"getent passwd facegate",
			"useradd --system --user-group --no-create-home --home-dir /var/lib/facegate --shell /usr/sbin/nologin --comment facegate gate daemon facegate",
		}, "create user facegate: exit status 1: no space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := &fakeSystem{existing: tc.existing, fail: tc.fail, out: "no space"}
			err := EnsureAccount(context.Background(), sys.run)
			if got := strings.Join(sys.commands, "\n"); got != strings.Join(tc.want, "\n") {
				t.Fatalf("commands:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRemoveAccount(t *testing.T) {
	for _, tc := range []struct {
		out     string
		wantErr bool
	}{
		{"userdel: user 'facegate' does not exist", false},
		{"userdel: user facegate is currently used by process 42", true},
	} {
		sys := &fakeSystem{fail: "userdel", out: tc.out}
		err := RemoveAccount(context.Background(), sys.run)
		if (err != nil) != tc.wantErr {
			t.Errorf("userdel answering %q: err %v, want error %v", tc.out, err, tc.wantErr)
		}
	}
	sys := &fakeSystem{}
	if err := RemoveAccount(context.Background(), sys.run); err != nil || strings.Join(sys.commands, ";") != "userdel facegate" {
		t.Fatalf("err %v, commands %v", err, sys.commands)
	}
}
