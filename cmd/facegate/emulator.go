package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/facegate/facegate/faceauth/emulator"
	"github.com/facegate/facegate/internal/demoscene"
)

// runEmulator is `facegate emulator [--listen ADDR] [--seed F]`: serves the
// local FaceAuth emulator until interrupted. It prints the base URL and the
// (fake) keys of the seed's projects, to use as FACEGATE_API_URL and
// FACEGATE_API_KEY.
func runEmulator(ctx context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	listen := fs.String("listen", "127.0.0.1:8089", "address to listen on")
	seedPath := fs.String("seed", "", "seed file: projects, submissions, faults (see configs/emulator-seed.yaml; default: the demo's two people)")
	quiet := fs.Bool("quiet", false, "do not log each request on stderr")
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate emulator [--listen ADDR] [--seed F] [--quiet]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "facegate emulator: unexpected argument %q\n", fs.Arg(0))
		return exitError
	}
	seed, err := loadEmulatorSeed(*seedPath, a.getenv)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate emulator: %v\n", err)
		return exitError
	}
	opts := []emulator.Option{}
	if !*quiet {
		opts = append(opts, emulator.WithLogger(slog.New(slog.NewTextHandler(a.stderr, nil))))
	}
	srv, err := emulator.New(seed, opts...)
	if err != nil {
		fmt.Fprintf(a.stderr, "facegate emulator: %v\n", err)
		return exitError
	}
	base, err := srv.Start(*listen)
	if err != nil {
		_ = srv.Close()
		fmt.Fprintf(a.stderr, "facegate emulator: %v\n", err)
		return exitError
	}
	if host, _, _ := net.SplitHostPort(*listen); host != "127.0.0.1" && host != "localhost" && host != "::1" {
		fmt.Fprintln(a.stderr, "facegate emulator: warning: listening beyond loopback; clients need api.allow_insecure_http")
	}
	keys := srv.Keys()
	if *seedPath == "" {
		fmt.Fprintf(a.stdout, "# demo seed: submissions %s (hard hat on) and %s (no hard hat), photos from gocv's images/\n",
			demoWorkerSubmission, demoVisitorSubmission)
	}
	fmt.Fprintf(a.stdout, "FACEGATE_API_URL=%s\n", base)
	fmt.Fprintf(a.stdout, "FACEGATE_API_KEY=%s\n", keys[0][1])
	for _, k := range keys {
		fmt.Fprintf(a.stdout, "# project %s: key %s\n", k[0], k[1])
	}
	fmt.Fprintln(a.stdout, "# FaceAuth emulator: a test double, not a biometric matcher. Ctrl-C stops it.")
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(a.stderr, "facegate emulator: %v\n", err)
		return exitError
	}
	return exitOK
}

// loadEmulatorSeed reads the seed file, or builds the demo's seed when path
// is empty.
func loadEmulatorSeed(path string, getenv func(string) string) (*emulator.Seed, error) {
	if path != "" {
		return emulator.LoadSeed(path)
	}
	images, err := demoscene.ImagesDir(getenv)
	if err != nil {
		return nil, fmt.Errorf("no --seed given and the demo seed needs gocv's sample photos: %w", err)
	}
	seed, _, err := demoSeed(images)
	return seed, err
}
