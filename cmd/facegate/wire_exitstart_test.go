package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/systemd"
)

// An exit press while the daemon is still starting, in a start that then
// fails (here the kiosk's port is taken), must not open the gate: nothing
// would record it. Until 2026-12-07 the button pulsed the relay from the
// moment the lines were requested, and the failed start dropped the event.
func TestExitPressDuringAFailedStartDoesNotOpen(t *testing.T) {
	r := newRig(t, 0)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	yaml := strings.Replace(r.cfgYAML, "  leds:\n", "  exit_button: {line: GPIO6, pulse: 300ms}\n  leds:\n", 1)
	r.writeConfig(strings.Replace(yaml, "listen: 127.0.0.1:0", "listen: "+busy.Addr().String(), 1))
	env := func(k string) string { return r.env[k] }
	cfg, err := config.Load(r.cfgPath, env)
	require.NoError(t, err)
	n, err := systemd.NewNotifier(env)
	require.NoError(t, err)
	var g *gate.Gate
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err = startDaemon(context.Background(), cfg, daemonOptions{log: log, level: new(slog.LevelVar), notifier: n,
		getenv: env, configPath: r.cfgPath, reload: r.reload,
		wire: wireOptions{gateOpened: func(opened *gate.Gate) {
			g = opened
			require.NoError(t, g.Sim().SetInput("exit_button", true))
			// The monitor has handled the press once it logged it.
			require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "exit button pressed") },
				5*time.Second, 5*time.Millisecond)
			time.Sleep(50 * time.Millisecond) // a pulse starts on a goroutine of its own
		}}})
	require.ErrorContains(t, err, "kiosk.listen")
	require.NotNil(t, g)
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(r.cfgPath), "state", "audit", "audit.jsonl"))
	require.Empty(t, g.Sim().Pulses(), "the exit button opened during a start that failed; audit log:\n%s", b)
}
