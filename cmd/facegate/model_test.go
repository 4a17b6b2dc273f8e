package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
)

// sharedModels is ../shared/models seen from this package's folder.
const sharedModels = "../../../shared/models"

func modelCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"model"}, args...), map[string]string{}, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestModelInstallYuNetFromSharedCopy serves the real model on 127.0.0.1,
// installs it with the command and checks that detector auto then picks
// YuNet (and Haar before).
func TestModelInstallYuNetFromSharedCopy(t *testing.T) {
	if _, err := os.Stat(filepath.Join(sharedModels, capture.YuNetModelFile)); err != nil {
		t.Skipf("no shared YuNet model (%v): the always-run cases use a self-made file", err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(sharedModels)))
	defer srv.Close()
	state := t.TempDir()
	dest := config.InstalledModelPath(state)

	auto := func() string {
		a, err := capture.NewAnalyzer(capture.AnalyzerConfig{Detector: capture.DetectorAuto, Model: dest})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		return a.Detector()
	}
	if d := auto(); d != capture.DetectorHaar {
		t.Fatalf("auto without a model: %s, want haar", d)
	}
	code, stdout, stderr := modelCmd(t, "install", "yunet", "--from", srv.URL+"/"+capture.YuNetModelFile, "--state-dir", state)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "installed yunet at "+dest) {
		t.Errorf("stdout %q", stdout)
	}
	if err := capture.VerifyYuNetFile(dest); err != nil {
		t.Fatal(err)
	}
	if d := auto(); d != capture.DetectorYuNet {
		t.Fatalf("auto with the installed model: %s, want yunet", d)
	}
	// A second install finds it there and does not download again.
	srv.Close()
	code, stdout, stderr = modelCmd(t, "install", "yunet", "--from", srv.URL+"/"+capture.YuNetModelFile, "--state-dir", state)
	if code != exitOK || !strings.Contains(stdout, "already installed") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	// A damaged file makes auto fall back to Haar.
	if err := os.WriteFile(dest, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := auto(); d != capture.DetectorHaar {
		t.Fatalf("auto with a damaged model: %s, want haar", d)
	}
}

func TestModelInstallCases(t *testing.T) {
	good := bytes.Repeat([]byte("facegate model bytes "), 500)
	sum := sha256.Sum256(good)
	spec := modelSpec{name: "test", file: "test.onnx", sha256: hex.EncodeToString(sum[:]), size: int64(len(good))}
	old := []byte("the previous, working install")

	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) { w.Write(good) })
	mux.HandleFunc("/wrong-hash", func(w http.ResponseWriter, r *http.Request) {
		bad := bytes.Clone(good)
		bad[100] ^= 1
		w.Write(bad)
	})
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) {
		// Announces the whole file, sends half, drops the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(good)))
		w.Write(good[:len(good)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/short-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Write(good[:len(good)/2]) // no length: ends "cleanly", too short
	})
	mux.HandleFunc("/too-long", func(w http.ResponseWriter, r *http.Request) {
		w.Write(good)
		w.(http.Flusher).Flush()
		w.Write([]byte("more"))
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/good"
	closed.Close()

	tests := []struct {
		name, url, want string
	}{
		{"good file", srv.URL + "/good", ""},
		{"wrong hash", srv.URL + "/wrong-hash", "SHA-256 mismatch: got "},
		{"truncated download", srv.URL + "/truncated", "download interrupted after "},
		{"short download without length", srv.URL + "/short-chunked", "download truncated or wrong file: 5250 bytes"},
		{"longer file", srv.URL + "/too-long", "download truncated or wrong file: 10501 bytes"},
		{"HTTP error", srv.URL + "/missing", "HTTP 404 Not Found"},
		{"no network", closedURL, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			dest := filepath.Join(state, "models", spec.file)
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dest, old, 0o644); err != nil {
				t.Fatal(err)
			}
			in := installer{client: srv.Client(), euid: os.Geteuid(), chown: os.Lchown}
			err := in.install(context.Background(), tt.url, state, dest, spec)
			got, rerr := os.ReadFile(dest)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, good) {
					t.Fatal("installed file differs from the served one")
				}
				fi, _ := os.Stat(dest)
				if fi.Mode().Perm() != 0o644 {
					t.Errorf("mode %v, want 0644", fi.Mode().Perm())
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want it to contain %q", err, tt.want)
				}
				if !bytes.Equal(got, old) {
					t.Fatal("the previous install was changed by a failed one")
				}
			}
			ents, _ := os.ReadDir(filepath.Dir(dest))
			if len(ents) != 1 {
				t.Errorf("left in the models folder: %v", ents)
			}
		})
	}
}

// TestModelInstallCommandFailureMessage: the command says what failed and
// that the installed file is unchanged.
func TestModelInstallCommandFailureMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>login</html>")) }))
	defer srv.Close()
	state := t.TempDir()
	code, _, stderr := modelCmd(t, "--state-dir", state, "install", "yunet", "--from", srv.URL+"/x")
	want := "facegate model: yunet not installed: download " + srv.URL + "/x: server announces 18 bytes, the pinned face_detection_yunet_2023mar.onnx has 232589 (" +
		config.InstalledModelPath(state) + " unchanged)"
	if code != exitError || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q\nwant %q", code, stderr, want)
	}
	for _, args := range [][]string{{"install"}, {"install", "sface"}, {"remove", "yunet"}} {
		if code, _, _ := modelCmd(t, args...); code != exitError {
			t.Errorf("%v: exit %d, want %d", args, code, exitError)
		}
	}
}

// TestModelInstallOwner: run as root (sudo), the file and the models folder
// go to the state directory's owner so that the daemon's user can replace it.
func TestModelInstallOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand files to another user")
	}
	payload := []byte("owner test")
	sum := sha256.Sum256(payload)
	spec := modelSpec{name: "t", file: "t.onnx", sha256: hex.EncodeToString(sum[:]), size: int64(len(payload))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
	defer srv.Close()
	state := t.TempDir()
	if err := os.Chown(state, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(state, "models", spec.file)
	in := installer{client: srv.Client(), euid: 0, chown: os.Lchown}
	if err := in.install(context.Background(), srv.URL, state, dest, spec); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dest, filepath.Dir(dest)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 4321 || st.Gid != 4322 {
			t.Errorf("%s owned by %d:%d, want 4321:4322", p, st.Uid, st.Gid)
		}
	}
}

// TestYuNetPinMatchesConfig: the command, the config default path and the
// capture package agree on the file.
func TestYuNetPinMatchesConfig(t *testing.T) {
	if capture.YuNetModelFile != config.YuNetModelFile || !strings.HasSuffix(capture.YuNetURL, "/"+capture.YuNetModelFile) {
		t.Fatalf("%s / %s / %s", capture.YuNetModelFile, config.YuNetModelFile, capture.YuNetURL)
	}
}
