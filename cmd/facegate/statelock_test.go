//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStateDirLockIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	first, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock is per open file description: a second open in the same
	// process is refused like a second daemon.
	_, err = lockStateDir(dir)
	if !errors.Is(err, errStateDirInUse) || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v; want errStateDirInUse naming %s and pid %d", err, dir, os.Getpid())
	}
	first.Close()
	again, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after the first was released: %v", err)
	}
	again.Close()
}

// The helper process for TestStateDirLockAcrossProcesses: it takes the
// lock, says so, and holds it until stdin closes or it is killed.
func TestStateDirLockHelperProcess(t *testing.T) {
	dir := os.Getenv("FACEGATE_TEST_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process of TestStateDirLockAcrossProcesses")
	}
	f, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Stdout.WriteString("locked\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

func TestStateDirLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStateDirLockHelperProcess$")
	cmd.Env = append(os.Environ(), "FACEGATE_TEST_LOCK_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() { _ = cmd.Process.Kill(); <-exited }()
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(stdout).ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if l != "locked\n" {
			t.Fatalf("helper said %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper did not take the lock within 30s")
	}

	_, err = lockStateDir(dir)
	if want := "pid " + strconv.Itoa(cmd.Process.Pid); !errors.Is(err, errStateDirInUse) || !strings.Contains(err.Error(), want) {
		t.Fatalf("lock held by another process: %v; want errStateDirInUse with %q", err, want)
	}
	// kill -9: the kernel drops the lock with the process.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	f, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder was killed: %v", err)
	}
	f.Close()
}

// A second `facegate run` on a state directory in use exits at once with
// the directory and the holder's PID, before it writes anything there.
func TestRunRefusesAStateDirInUse(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	held, err := lockStateDir(state)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfgPath := filepath.Join(dir, "facegate.yaml")
	cfg := "site: s\ngate: g\nstate_dir: " + state + "\napi: {url: \"http://127.0.0.1:9/v3\"}\n" +
		"camera: {source: \"" + filepath.Join(dir, "frame.jpg") + "\"}\nio: {relay: {driver: sim}}\nkiosk: {listen: \"127.0.0.1:0\"}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without the lock the daemon would run: stop it after a while.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"run", "--config", cfgPath}, map[string]string{"FACEGATE_API_KEY": "k"}, nil, &out, &errb)
	if code != exitError || !strings.Contains(errb.String(), "state_dir "+state+" is locked by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("exit %d, stderr %q; want %d naming %s and pid %d", code, errb.String(), exitError, state, os.Getpid())
	}
	entries, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != stateLockName {
		t.Fatalf("the refused daemon wrote in the state directory: %v", entries)
	}
}
