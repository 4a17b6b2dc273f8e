package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facegate/facegate/liveness"
)

// FuzzParseClipName: `facegate liveness eval` reads the label of each clip
// from its file name (outside input: a folder handed over by whoever took
// the clips). Never panics; a name it takes has a known kind and a left
// or right challenge; a name it refuses is named in the message.
func FuzzParseClipName(f *testing.F) {
	for _, s := range []string{"bonafide_left.mp4", "PRINT_Right_take2.avi", "screen_up.mp4", "replay.mp4", "_left.mp4", "bent_left", ".mp4", "bonafide_left_.x.y", "\xff_left.mp4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kind, dir, err := parseClipName(name)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Fatalf("%q: %v does not name the file", name, err)
			}
			return
		}
		if !slices.Contains(clipKinds, kind) || (dir != liveness.Left && dir != liveness.Right) {
			t.Fatalf("%q: kind %q, challenge %q", name, kind, dir)
		}
	})
}

// FuzzLoadTrust: the trusted evacuations file in state_dir (a file on the
// card: damaged by a power cut, edited by hand). Never panics; what it
// loads is what the file lists; anything but a JSON list of strings is an
// error naming the file.
func FuzzLoadTrust(f *testing.F) {
	for _, s := range []string{`["evac-1","evac-2"]`, `[]`, `null`, ``, `{"a":1}`, `[1,2]`, `["a"`, "\x00\x00", `["` + strings.Repeat("x", 5000) + `"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "site-evacuation-trust.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		w := &siteWire{trustPath: p, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := w.loadTrust(); err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("%v does not name %s", err, p)
			}
			return
		}
		for _, id := range w.trusted {
			if w.trustInMemory(id) {
				t.Fatalf("loaded id %q is not trusted", id)
			}
		}
	})
}
