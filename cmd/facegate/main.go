// Command facegate is the face-authenticated gate daemon and its tools.
// main only wires: every subcommand lives in its own file and takes its
// arguments, environment and streams from an *app so that tests can run it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by the subcommands (DESIGN.md: 0 success/approved/found,
// 1 rejected/none, 2 error).
const (
	exitOK       = 0
	exitNegative = 1
	exitError    = 2
)

// app carries what a subcommand may touch of the outside world.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
}

func (a *app) getenv(key string) string { return a.env[key] }

// command is one subcommand: it returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, a *app, args []string) int
}

// commands is the command line contract of DESIGN.md.
var commands = map[string]command{
	"run":      {"run the daemon in the foreground", runDaemon},
	"demo":     {"run the whole chain on this machine with no hardware", runDemo},
	"service":  {"install|uninstall|start|stop|restart|status the system service", runService},
	"auth":     {"send one face to the FaceAuth API", runAuth},
	"history":  {"list FaceAuth history, all pages", runHistory},
	"crop":     {"find the best face in an image or video and write the 960x720 crop", runCrop},
	"liveness": {"check one challenge clip for a live person (not a photo or screen)", runLiveness},
	"relay":    {"pulse the relay or watch the gate inputs", runRelay},
	"emulator": {"run the local FaceAuth emulator", runEmulator},
	"config":   {"check the configuration file", runConfig},
	"model":    {"install the YuNet face detector model (model install yunet)", runModel},
	"version":  {"print the version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				m[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return m
}

// run dispatches to a subcommand; it is main without the process around it.
func run(ctx context.Context, args []string, env map[string]string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "facegate: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitError
	}
	return cmd.run(ctx, a, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: facegate <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'facegate <command> -h' for the flags of one command.")
}

func runVersion(_ context.Context, a *app, _ []string) int {
	fmt.Fprintf(a.stdout, "facegate %s\n", version)
	return exitOK
}
