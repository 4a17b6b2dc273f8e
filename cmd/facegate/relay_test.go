package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runRelayCmd(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, env: map[string]string{}}
	code := runRelay(ctx, a, args)
	return code, out.String(), errb.String()
}

// relayConfig writes a config with relay (the io.relay flow mapping) and
// a state_dir of the test's own.
func relayConfig(t *testing.T, relay string) (cfg, state string) {
	t.Helper()
	dir := t.TempDir()
	cfg, state = filepath.Join(dir, "f.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(cfg, []byte("state_dir: "+state+"\nio:\n  relay: "+relay+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, state
}

func TestRelayCommand(t *testing.T) {
	cfg, _ := relayConfig(t, "{driver: sim, max_pulse: 200ms, pulse: 50ms}")
	badCfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badCfg, []byte("io:\n  relay: {driver: wiringpi}\n"), 0o600)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"sim pulse from config", []string{"pulse", "--config", cfg}, exitOK, "pulsed 50ms, line inactive", ""},
		{"duration flag", []string{"pulse", "--config", cfg, "--duration", "20ms"}, exitOK, "pulsed 20ms, line inactive", ""},
		{"clamped", []string{"pulse", "--config", cfg, "--duration", "1h"}, exitOK, "pulsed 200ms", "is above max_pulse 200ms"},
		{"negative", []string{"pulse", "--duration", "-1s"}, exitError, "", "must not be negative"},
		{"missing explicit config", []string{"pulse", "--config", "/nonexistent/f.yaml"}, exitError, "", "/nonexistent/f.yaml"},
		{"invalid config", []string{"pulse", "--config", badCfg}, exitError, "", `bad.yaml:2: io.relay.driver: "wiringpi"`},
		{"no such chip", []string{"pulse", "--chip", "/dev/nonexistent-gpiochip", "--line", "1"}, exitError, "", "no such GPIO chip"},
		{"stray argument", []string{"pulse", "--config", cfg, "now"}, exitError, "", `unexpected argument "now"`},
		{"watch without inputs", []string{"watch", "--config", cfg}, exitError, "", "no input is configured"},
		{"unknown subcommand", []string{"toggle"}, exitError, "", `unknown subcommand "toggle"`},
		{"no subcommand", nil, exitError, "", "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runRelayCmd(context.Background(), tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
		})
	}
}

func TestRelayPulseInterrupted(t *testing.T) {
	cfg, state := relayConfig(t, "{driver: sim}")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, _, errs := runRelayCmd(ctx, "pulse", "--config", cfg, "--duration", "10s")
	if code != exitNegative || !strings.Contains(errs, "interrupted: pulse cut short, line inactive") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if got := manualRecords(t, state); len(got) != 2 || got[1].Relay != "cut" {
		t.Fatalf("audit records %+v, want start and a cut end", got)
	}
}

type manualRecord struct {
	Kind       string `json:"kind"`
	Phase      string `json:"phase"`
	ID         string `json:"id"`
	Started    string `json:"started"`
	DurationMS int64  `json:"duration_ms"`
	Relay      string `json:"relay"`
	By         string `json:"by"`
	TS         string `json:"ts"`
}

// manualRecords reads the relay_manual records of state's audit log.
func manualRecords(t *testing.T, state string) []manualRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "audit", "audit.jsonl"))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	var out []manualRecord
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r manualRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if r.Kind == "relay_manual" {
			out = append(out, r)
		}
	}
	return out
}

// `facegate relay pulse` energises the site's relay: an opening like any
// other, recorded in the state directory's audit log before the line
// moves and once it is inactive again. Until 2026-12-07 it wrote nothing.
func TestRelayPulseIsAudited(t *testing.T) {
	cfg, state := relayConfig(t, "{driver: sim, max_pulse: 200ms, pulse: 20ms}")
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, env: map[string]string{"SUDO_USER": "installer"}}
	if code := runRelay(context.Background(), a, []string{"pulse", "--config", cfg}); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	got := manualRecords(t, state)
	if len(got) != 2 || got[0].Phase != "start" || got[1].Phase != "end" || got[1].Relay != "pulsed" ||
		got[0].DurationMS != 20 || got[0].By != "installer" || got[0].TS == "" {
		t.Fatalf("audit records %+v", got)
	}
}

// A pulse that cannot be recorded does not happen.
func TestRelayPulseRefusedWithoutItsRecord(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.WriteFile(state, nil, 0o600); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "f.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+state+"\nio:\n  relay: {driver: sim}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runRelayCmd(context.Background(), "pulse", "--config", cfg)
	if code != exitError || strings.Contains(out, "pulsed") || !strings.Contains(errs, "the relay was not energised") || !strings.Contains(errs, state) {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

func TestRelayWatchSim(t *testing.T) {
	cfg, _ := relayConfig(t, "{driver: sim}\n  door: {line: door}")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, _, errs := runRelayCmd(ctx, "watch", "--config", cfg)
	if code != exitOK || !strings.Contains(errs, "watching door=door (door closed)") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}
