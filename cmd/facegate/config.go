package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/facegate/facegate/config"
)

// runConfig is `facegate config check [--config F]`: validates the file
// (unknown keys and bad values reported with file:line) and prints the
// effective configuration, secrets redacted. Exit 0 valid, 2 invalid.
func runConfig(_ context.Context, a *app, args []string) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(a.stderr, "usage: facegate config check [--config F]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitError
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	path := fs.String("config", config.DefaultPath, "configuration file")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate config check: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	// The daemon never runs on guesses: a missing file is an error here
	// too, and so is one that sets nothing (as `run` and a reload say).
	cfg, err := config.LoadSettings(*path, a.getenv)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate config check: %v\n", err)
		return exitError
	}
	out, err := cfg.Redacted()
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate config check: %v\n", err)
		return exitError
	}
	fmt.Fprintf(a.stdout, "# %s: valid. Effective configuration (secrets redacted):\n", *path)
	_, _ = a.stdout.Write(out)
	if cfg.Kiosk.Remote() {
		fmt.Fprintf(a.stderr, "facegate config check: warning: kiosk.listen %s is reachable from other machines over plain HTTP (kiosk.allow_remote: true): firewall the port or put a TLS proxy in front\n", cfg.Kiosk.Listen)
	}
	for _, u := range cfg.MQTT.PasswordInClear() {
		fmt.Fprintf(a.stderr, "facegate config check: warning: mqtt.urls %s sends the broker password in clear: use ssl:// or wss://\n", u)
	}
	for _, u := range cfg.UnusedSettings() {
		fmt.Fprintf(a.stderr, "facegate config check: warning: %s\n", u)
	}
	if !cfg.API.Key.IsSet() {
		fmt.Fprintln(a.stderr, "facegate config check: warning: no API key (set FACEGATE_API_KEY, api.key.file or the facegate-api-key credential)")
	}
	return exitOK
}
