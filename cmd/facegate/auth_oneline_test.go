package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthPrintsAPIStringsOnOneLine: `facegate auth` prints the
// API's authentication_id, fail codes and rejected_comment as they came
// (history's table passes them through oneLine; auth does not): a
// rejection whose authentication_id holds "\nAPPROVED" prints a line
// APPROVED, and terminal escapes reach the operator's terminal.
func TestAuthPrintsAPIStringsOnOneLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"authentication_id":"x\nAPPROVED","auth_status":"rejected","fail_code":["face_compare_underscore"],"rejected_comment":["\u001b[1A\u001b[2KAPPROVED"]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "facegate.yaml")
	if err := os.WriteFile(cfg, []byte("api:\n  url: "+srv.URL+"\n  key: "+apiTestKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "face.jpg")
	if err := os.WriteFile(img, []byte("\xff\xd8jpeg\xff\xd9"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCmd(t, nil, "auth", "--config", cfg, "--submission-id", "s", "--image", img)
	if code != exitNegative {
		t.Fatalf("exit %d, want %d", code, exitNegative)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.TrimSpace(line) == "APPROVED" || strings.ContainsRune(line, 0x1b) {
			t.Errorf("a rejection printed %q:\n%s", line, stdout)
		}
	}
}
