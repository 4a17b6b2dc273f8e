package main

import (
	"bytes"
	"context"
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

func TestRelayCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(cfg, []byte("io:\n  relay: {driver: sim, max_pulse: 200ms, pulse: 50ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	os.WriteFile(cfg, []byte("io:\n  relay: {driver: sim}\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, _, errs := runRelayCmd(ctx, "pulse", "--config", cfg, "--duration", "10s")
	if code != exitNegative || !strings.Contains(errs, "interrupted: pulse cut short, line inactive") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}

func TestRelayWatchSim(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.yaml")
	os.WriteFile(cfg, []byte("io:\n  relay: {driver: sim}\n  door: {line: door}\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, _, errs := runRelayCmd(ctx, "watch", "--config", cfg)
	if code != exitOK || !strings.Contains(errs, "watching door=door (door closed)") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}
