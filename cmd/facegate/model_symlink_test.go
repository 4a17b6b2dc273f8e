package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// <state_dir>/models is in the daemon's user's directory: that user can
// make it a symlink to a folder of root's. `sudo facegate model install`
// then creates the model there, owned by the daemon's user (who can then
// rewrite it), in a folder that user could not write.
func TestModelInstallAsRootDoesNotWriteThroughASymlinkedModelsDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	payload := []byte("symlink test")
	sum := sha256.Sum256(payload)
	spec := modelSpec{name: "t", file: "t.onnx", sha256: hex.EncodeToString(sum[:]), size: int64(len(payload))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer srv.Close()
	state := t.TempDir()
	if err := os.Chown(state, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	rootDir := filepath.Join(t.TempDir(), "etc") // root's folder
	if err := os.Mkdir(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rootDir, filepath.Join(state, "models")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(state, "models", spec.file)
	in := installer{client: srv.Client(), euid: 0, chown: os.Lchown}
	_ = in.install(context.Background(), srv.URL, state, dest, spec)
	if _, err := os.Lstat(filepath.Join(rootDir, spec.file)); err == nil {
		t.Fatalf("root created %s through the symlinked models folder", filepath.Join(rootDir, spec.file))
	}
}
