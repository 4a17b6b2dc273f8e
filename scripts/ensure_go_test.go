// Package scripts holds the tests of the shell scripts beside it.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// ensureGo runs ensure-go.sh with a clean environment: only PATH, the go.mod
// folder and the module cache given here, no install folders.
func ensureGo(t *testing.T, path, top, modcache string, extra []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"ensure-go.sh"}, args...)...)
	cmd.Env = append([]string{
		"PATH=" + path, "ENSURE_GO_TOP=" + top, "ENSURE_GO_DIRS=", "GOMODCACHE=" + modcache, "HOME=" + t.TempDir(),
	}, extra...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ensure-go.sh %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// fakeGo writes dir/go answering `go env GOVERSION` with version.
func fakeGo(t *testing.T, dir, version string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "go")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func goMod(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\n"+content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEnsureGoPicksToolchain(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash: ensure-go.sh not checked")
	}
	tests := []struct {
		name, gomod string
		env         []string
		want        string
	}{
		{"go line below the default", "go 1.25.0\n", nil, "go1.25.14"},
		{"toolchain line wins", "go 1.25.0\ntoolchain go1.25.9\n", nil, "go1.25.9"},
		{"GO_TOOLCHAIN wins", "go 1.25.0\ntoolchain go1.25.9\n", []string{"GO_TOOLCHAIN=go1.26.1"}, "go1.26.1"},
		{"go line above the default, a release", "go 1.27.2\n", nil, "go1.27.2"},
		{"go line above the default, a language version", "go 1.27\n", nil, "go1.27.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ensureGo(t, "/usr/bin:/bin", goMod(t, tc.gomod), t.TempDir(), tc.env, "--toolchain")
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnsureGoWhich(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash: ensure-go.sh not checked")
	}
	top := goMod(t, "go 1.25.0\n")
	goarch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtimeArch(t)]
	if goarch == "" {
		t.Skip("toolchain folder name only checked on amd64 and arm64")
	}
	modcache := t.TempDir()
	downloaded := fakeGo(t, filepath.Join(modcache, "golang.org", "toolchain@v0.0.1-go1.25.14.linux-"+goarch, "bin"), "go1.25.14")
	oldBin := t.TempDir()
	fakeGo(t, oldBin, "go1.23.4")
	newBin := t.TempDir()
	newGo := fakeGo(t, newBin, "go1.26.0")
	exactBin := t.TempDir()
	exactGo := fakeGo(t, exactBin, "go1.25.0")

	tests := []struct {
		name, path, modcache, want string
	}{
		{"new enough go on PATH", newBin + ":/usr/bin:/bin", modcache, newGo},
		{"exactly the go line", exactBin + ":/usr/bin:/bin", modcache, exactGo},
		{"old go on PATH, a downloaded toolchain", oldBin + ":/usr/bin:/bin", modcache, downloaded},
		// The Makefile then runs plain go, which refuses go.mod (or switches
		// toolchain): tests are never built by a too old go.
		{"old go on PATH, nothing downloaded", oldBin + ":/usr/bin:/bin", t.TempDir(), "go"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ensureGo(t, tc.path, top, tc.modcache, nil, "--which"); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func runtimeArch(t *testing.T) string {
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Skipf("uname: %v", err)
	}
	switch strings.TrimSpace(string(out)) {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return ""
}

// TestNoTestNeedsANewerGoThanGoMod: a test file built only for a newer Go
// than go.mod's go line is skipped without a word by the go that `make deps`
// installs. Tests that use testing/synctest need go.mod at 1.25 or later.
func TestNoTestNeedsANewerGoThanGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	minor, _ := strconv.Atoi(string(m[2]))
	if string(m[1]) != "1" {
		t.Fatalf("go line %s: unexpected major version", m[0])
	}
	versionTag := regexp.MustCompile(`go1\.(\d+)`)
	synctestImport := regexp.MustCompile(`(?m)^\s*(\w+\s+)?"testing/synctest"\s*$`)
	err = filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		header, _, _ := strings.Cut(string(src), "\npackage ")
		for _, line := range strings.Split(header, "\n") {
			if !strings.HasPrefix(line, "//go:build") {
				continue
			}
			for _, v := range versionTag.FindAllStringSubmatch(line, -1) {
				n, _ := strconv.Atoi(v[1])
				if n > minor || strings.Contains(line, "!go1.") {
					t.Errorf("%s: %q: built only with some Go versions; go.mod says %s", p, line, m[0])
				}
			}
		}
		if synctestImport.Match(src) && minor < 25 {
			t.Errorf("%s imports testing/synctest: go.mod must say go 1.25 or later (it says %s)", p, m[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
