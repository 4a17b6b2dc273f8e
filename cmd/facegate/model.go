package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/owndir"
)

// modelSpec is a model `facegate model install` knows: where it comes from
// and the only bytes it accepts.
type modelSpec struct {
	name   string // command-line name
	file   string // file name under <state_dir>/models
	url    string
	sha256 string // hex
	size   int64
}

var knownModels = map[string]modelSpec{
	"yunet": {
		name: "yunet", file: config.YuNetModelFile, url: capture.YuNetURL,
		sha256: capture.YuNetSHA256, size: capture.YuNetSize,
	},
}

// runModel is `facegate model install yunet [--from URL] [--config F]
// [--state-dir D] [--timeout D]`: exit 0 installed (or already there), 2 error.
func runModel(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("model", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	from := fs.String("from", "", "download URL (default: the pinned OpenCV model zoo URL); the SHA-256 is checked either way")
	cfgPath := fs.String("config", "", configFlagUsage)
	stateDir := fs.String("state-dir", "", "state directory (default: state_dir from the config)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up the download after this long")
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate model install yunet [--from URL] [--config F] [--state-dir D] [--timeout D]")
		fs.PrintDefaults()
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "facegate model: "+format+"\n", args...)
		return exitError
	}
	// Flags may come before, between or after "install yunet".
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitError
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 2 || pos[0] != "install" {
		fs.Usage()
		return exitError
	}
	spec, ok := knownModels[pos[1]]
	if !ok {
		return fail("unknown model %q (known: yunet)", pos[1])
	}
	dir := *stateDir
	if dir == "" {
		cfg, err := loadConfig(a, *cfgPath)
		if err != nil {
			return fail("%v", err)
		}
		dir = cfg.StateDir
	}
	url := spec.url
	if *from != "" {
		url = *from
	}
	dest := filepath.Join(dir, "models", spec.file)
	if err := verifyFile(dest, spec); err == nil {
		fmt.Fprintf(a.stdout, "%s is already installed at %s (SHA-256 %s)\n", spec.name, dest, spec.sha256)
		return exitOK
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	in := installer{client: http.DefaultClient, euid: os.Geteuid(), chown: os.Lchown}
	if err := in.install(ctx, url, dir, dest, spec); err != nil {
		return fail("%s not installed: %v (%s unchanged)", spec.name, err, dest)
	}
	fmt.Fprintf(a.stdout, "installed %s at %s (SHA-256 %s verified); capture.detector auto now uses it at the next start\n",
		spec.name, dest, spec.sha256)
	return exitOK
}

// installer downloads a model and puts it in place atomically.
type installer struct {
	client *http.Client
	euid   int                                   // os.Geteuid(); root hands the file to the state directory's owner
	chown  func(path string, uid, gid int) error // os.Lchown
}

// install fetches url into a temporary file next to dest, checks size and
// SHA-256 against spec, and renames it over dest only when both match, so a
// failure at any step leaves dest as it was. The file and the models folder
// belong to the owner of stateDir (the daemon's user, StateDirectory=) even
// when run with sudo.
func (in installer) install(ctx context.Context, url, stateDir, dest string, spec modelSpec) (err error) {
	uid, gid := -1, -1
	if in.euid == 0 {
		if fi, err := os.Stat(stateDir); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	}
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("models folder: %w", err)
	}
	if in.euid == 0 {
		// The folder is in the daemon user's directory: never through a
		// symlink that user made (root would write where it points).
		opened, done, err := owndir.Open(dir)
		if err != nil {
			return fmt.Errorf("models folder: %w", err)
		}
		defer done()
		dir, dest = opened, filepath.Join(opened, filepath.Base(dest))
	}
	if uid >= 0 {
		// dir names the folder opened: following it is safe.
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("models folder: %w", err)
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("download URL: %w", err)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: HTTP %s", redactURL(url), resp.Status)
	}
	if resp.ContentLength > 0 && resp.ContentLength != spec.size {
		return fmt.Errorf("download %s: server announces %d bytes, the pinned %s has %d", redactURL(url), resp.ContentLength, spec.file, spec.size)
	}

	tmp, err := os.CreateTemp(dir, "."+spec.file+".*.part")
	if err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, spec.size+1))
	if err != nil {
		return fmt.Errorf("download interrupted after %d of %d bytes: %w", n, spec.size, err)
	}
	if n != spec.size {
		return fmt.Errorf("download truncated or wrong file: %d bytes, the pinned %s has %d", n, spec.file, spec.size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != spec.sha256 {
		return fmt.Errorf("SHA-256 mismatch: got %s, want %s (the pinned %s)", sum, spec.sha256, spec.file)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	if uid >= 0 {
		if err := in.chown(tmp.Name(), uid, gid); err != nil {
			return fmt.Errorf("temporary file: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("temporary file: %w", err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	// The rename is durable once the folder is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// verifyFile reports whether path holds exactly the pinned bytes.
func verifyFile(path string, spec modelSpec) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, spec.size+1))
	if err != nil {
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != spec.size || sum != spec.sha256 {
		return fmt.Errorf("%s: %d bytes with SHA-256 %s, want %d bytes with %s", path, n, sum, spec.size, spec.sha256)
	}
	return nil
}

// redactURL drops a query string (it may hold a token) from messages.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
