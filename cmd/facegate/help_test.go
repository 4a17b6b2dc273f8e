package main

import (
	"strings"
	"testing"
)

// TestHelpExitsZero: -h on every subcommand prints its usage and exits 0,
// as asking for help is not an error. `relay pulse -h` and `relay watch -h`
// exited 2 until 2026-12-07.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-h"}, {"demo", "-h"}, {"auth", "-h"}, {"history", "-h"}, {"crop", "-h"},
		{"liveness", "-h"}, {"liveness", "report", "-h"}, {"relay", "pulse", "-h"}, {"relay", "watch", "-h"},
		{"emulator", "-h"}, {"config", "check", "-h"}, {"model", "install", "-h"}, {"service", "status", "-h"},
	} {
		code, stdout, stderr := runCmd(t, nil, args...)
		if code != exitOK || !strings.Contains(strings.ToLower(stdout+stderr), "usage") {
			t.Errorf("facegate %s: exit %d, want 0 with the usage\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
