package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// runLivenessBounded runs `facegate liveness args` and fails the test if it
// has not returned within limit (a command that hangs in OpenCV's open
// ignores SIGINT and SIGTERM: only SIGKILL ends it).
func runLivenessBounded(t *testing.T, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- run(ctx, append([]string{"liveness"}, args...), nil, nil, &out, &errOut) }()
	select {
	case code := <-done:
		return code, out.String(), errOut.String()
	case <-time.After(limit):
		cancel() // what Ctrl-C or SIGTERM does: signal.NotifyContext cancels the context
		select {
		case code := <-done:
			t.Fatalf("facegate liveness %q ran %v and returned only when cancelled (exit %d)", args, limit, code)
		case <-time.After(2 * time.Second):
			t.Fatalf("facegate liveness %q still running %v after it started, and 2 s after its context was cancelled (a hang only SIGKILL ends)", args, limit)
		}
	}
	return 0, "", ""
}

// A named pipe given as --video (as `--video <(producer)` or a FIFO a
// script forgot to feed) passes the os.Stat check, then OpenCV's open
// blocks forever in C: Ctrl-C and SIGTERM do nothing. The contract: exit 2
// with a message, never a hang.
func TestLivenessVideoThatIsAPipeDoesNotHang(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "clip.avi")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		// Let a reader stuck in open(2) go: open the write end and close it (EOF).
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	code, out, errOut := runLivenessBounded(t, 10*time.Second, "--video", fifo, "--challenge", "left", "--json")
	if code != exitError || out != "" || !strings.Contains(errOut, fifo) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 naming the file", code, out, errOut)
	}
}

// OpenCV's VideoCapture expands a printf pattern in the name: a zero-byte
// file literally named img%03d.jpg is judged on img000.jpg, img001.jpg, …
// beside it — here a head turning left, so an empty file reads "live",
// exit 0. The contract says --video is one file; an empty one is an error.
func TestLivenessVideoNameIsNotAPattern(t *testing.T) {
	dir := t.TempDir()
	// The frames of the command's own test clip of a head turning left
	// (writeTurnClip, which `facegate liveness` reads as live), as JPEGs.
	vc, err := gocv.VideoCaptureFile(writeTurnClip(t, 20*math.Pi/180))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; vc.Read(&frame) && !frame.Empty(); i++ {
		if !gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("img%03d.jpg", i)), frame) {
			t.Fatal("imwrite")
		}
	}
	named := filepath.Join(dir, "img%03d.jpg")
	if err := os.WriteFile(named, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLivenessBounded(t, 60*time.Second, "--video", named, "--challenge", "left", "--json")
	if code != exitError {
		t.Fatalf("a zero-byte --video judged: exit %d, stdout %s stderr %q; want exit 2", code, out, errOut)
	}
}

// The .json a saved clip has beside it (ReadSavedClip) is read whole and
// before the clip, with no check of what it is: a FIFO (or a symlink to
// one, or to /dev/zero) under a saved clip's name hangs the command (and
// `liveness eval`, which checks that its clips are regular files but not
// their .json) before any frame is read. It must be refused, not waited on.
func TestLivenessSavedClipSidecarThatIsAPipeDoesNotHang(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "left_20261207T120000.000Z.avi")
	if err := os.Rename(writeTurnClip(t, 20*math.Pi/180), clip); err != nil {
		t.Fatal(err)
	}
	sidecar := filepath.Join(dir, "left_20261207T120000.000Z.json")
	if err := syscall.Mkfifo(sidecar, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(sidecar, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	code, out, errOut := runLivenessBounded(t, 10*time.Second, "--video", clip, "--challenge", "left", "--json")
	if code != exitError || out != "" || !strings.Contains(errOut, ".json") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 naming the .json", code, out, errOut)
	}
}
