package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/gate"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/record"
)

const relayUsage = `usage:
  facegate relay pulse [--duration D] [--chip C] [--line L] [--active-low] [--config F]
      energise the relay once; exit 0 when the pulse has ended and the line is
      inactive, 1 when interrupted (the line is inactive), 2 on error
  facegate relay watch [--config F]
      print door, exit button and tamper events until interrupted`

// runRelay dispatches relay pulse and relay watch.
func runRelay(ctx context.Context, a *app, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, relayUsage)
		return exitError
	}
	switch args[0] {
	case "pulse":
		return runRelayPulse(ctx, a, args[1:])
	case "watch":
		return runRelayWatch(ctx, a, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(a.stderr, relayUsage)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "facegate relay: unknown subcommand %q\n%s\n", args[0], relayUsage)
	return exitError
}

func runRelayPulse(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("relay pulse", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	duration := fs.Duration("duration", 0, "pulse length (default: io.relay.pulse; clamped to io.relay.max_pulse)")
	chip := fs.String("chip", "", "GPIO chip: name (gpiochip0), label (pinctrl-bcm2711, pinctrl-rp1) or path; implies driver gpiocdev")
	line := fs.String("line", "", "GPIO line: offset (17) or name (GPIO17); implies driver gpiocdev")
	activeLow := fs.Bool("active-low", false, "the relay is energised by a low level")
	cfgPath := fs.String("config", "", configFlagUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate relay pulse: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	if *duration < 0 {
		fmt.Fprintf(a.stderr, "facegate relay pulse: --duration %s must not be negative\n", *duration)
		return exitError
	}
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", err)
		return exitError
	}
	rc := cfg.IO.Relay
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "chip":
			rc.Chip, rc.Driver = *chip, "gpiocdev"
		case "line":
			rc.Line, rc.Driver = *line, "gpiocdev"
		case "active-low":
			rc.ActiveLow = *activeLow
		}
	})
	if rc.Driver == "gpiocdev" && (rc.Chip == "" || rc.Line == "") {
		fmt.Fprintln(a.stderr, "facegate relay pulse: driver gpiocdev needs --chip and --line (or io.relay.chip and io.relay.line)")
		return exitError
	}

	log := slog.New(slog.NewTextHandler(a.stderr, nil))
	relay, err := gate.OpenRelay(relayLine(rc), gate.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", err)
		return exitError
	}
	defer relay.Close() // a safety net; the explicit Close below reports errors
	d := *duration
	if d == 0 {
		d, _ = relay.Limits()
	}
	if _, max := relay.Limits(); d > max {
		fmt.Fprintf(a.stderr, "facegate relay pulse: --duration %s is above max_pulse %s: pulsing %s\n", d, max, max)
		d = max
	}
	// An opening by hand is recorded like any other: in the audit log of
	// the configuration's state_dir, before the line moves.
	audit, err := openManualAudit(cfg, a.getenv)
	if err == nil {
		gone, ierr := audit.Interrupted()
		for _, p := range gone {
			fmt.Fprintf(a.stderr, "facegate relay pulse: an earlier pulse by hand (by %s, started %s) ended without recording its end (killed, or a power cut): its end is recorded as interrupted\n", p.By, p.Started)
		}
		if ierr != nil {
			fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", ierr)
		}
		if err = audit.Start(d); err != nil {
			audit.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v: the relay was not energised (run it as the daemon's user or root, or give --config with a state_dir you can write)\n", err)
		return exitError
	}
	defer func() {
		// A failed close may leave root's files the daemon cannot append to.
		if err := audit.Close(); err != nil {
			fmt.Fprintf(a.stderr, "facegate relay pulse: audit log: %v\n", err)
		}
	}()
	// A terminal that goes away (SSH dropped: SIGHUP) or Ctrl-\ (SIGQUIT)
	// interrupts the pulse like SIGINT: the line is driven inactive and the
	// end recorded, not the process killed mid-pulse by the signal's
	// default action.
	ctx, stopHUP := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGQUIT)
	defer stopHUP()
	pulseErr := relay.Pulse(ctx, d)
	closeErr := relay.Close() // Halt, then release: the line is inactive before it is let go
	endErr := audit.End(manualResult(pulseErr, closeErr), errors.Join(pulseErr, closeErr))
	if endErr != nil {
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", endErr)
	}
	switch {
	case closeErr != nil:
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", closeErr)
		return exitError
	case errors.Is(pulseErr, context.Canceled), errors.Is(pulseErr, context.DeadlineExceeded):
		fmt.Fprintln(a.stderr, "facegate relay pulse: interrupted: pulse cut short, line inactive")
		return exitNegative
	case pulseErr != nil:
		fmt.Fprintf(a.stderr, "facegate relay pulse: %v\n", pulseErr)
		return exitError
	case endErr != nil:
		return exitError
	}
	fmt.Fprintf(a.stdout, "pulsed %s, line inactive\n", d)
	return exitOK
}

// openManualAudit opens the audit log of cfg's state_dir for a pulse by
// hand, made by the user the environment names.
func openManualAudit(cfg *config.Config, getenv func(string) string) (*kiosk.ManualAudit, error) {
	by := getenv("SUDO_USER")
	if by == "" {
		by = getenv("USER")
	}
	if by == "" {
		by = "uid " + strconv.Itoa(os.Getuid())
	}
	m, err := kiosk.OpenManualAudit(kioskOptions(cfg), by, nil)
	if err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	return m, nil
}

// manualResult is how a pulse by hand went, as a relay result of an event.
func manualResult(pulseErr, closeErr error) string {
	switch {
	case errors.Is(pulseErr, gate.ErrRelayFault), errors.Is(closeErr, gate.ErrRelayFault):
		return record.RelayFault
	case pulseErr == nil:
		return record.RelayPulsed
	case errors.Is(pulseErr, context.Canceled), errors.Is(pulseErr, context.DeadlineExceeded):
		return record.RelayCut
	}
	return record.RelayNotEnergised
}

func runRelayWatch(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("relay watch", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	cfgPath := fs.String("config", "", configFlagUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate relay watch: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	cfg, err := loadConfig(a, *cfgPath)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate relay watch: %v\n", err)
		return exitError
	}
	mon, err := gate.OpenMonitor(gateIO(cfg.IO), gate.Options{Logger: slog.New(slog.NewTextHandler(a.stderr, nil))})
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate relay watch: %v\n", err)
		return exitError
	}
	defer mon.Close()
	var watching []string
	for _, in := range []struct{ name, line string }{
		{"door", cfg.IO.Door.Line}, {"exit_button", cfg.IO.ExitButton.Line}, {"tamper", cfg.IO.Tamper.Line}} {
		if in.line != "" {
			watching = append(watching, in.name+"="+in.line)
		}
	}
	door := "closed"
	if mon.DoorOpen() {
		door = "open"
	}
	fmt.Fprintf(a.stderr, "watching %s (door %s); Ctrl-C stops\n", strings.Join(watching, " "), door)
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case e, ok := <-mon.Events():
			if !ok {
				fmt.Fprintln(a.stderr, "facegate relay watch: the inputs stopped")
				return exitError
			}
			fmt.Fprintln(a.stdout, e)
		}
	}
}
