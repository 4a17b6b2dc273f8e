package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// helpFlags runs `facegate <args> -h` in-process and returns the flags its
// help names (the "  -name" lines of the flag set's defaults and the
// "--name" of its usage line).
func helpFlags(t *testing.T, usageLine bool, args ...string) map[string]bool {
	t.Helper()
	var stdout, stderr bytes.Buffer
	run(context.Background(), append(append([]string(nil), args...), "-h"), map[string]string{}, strings.NewReader(""), &stdout, &stderr)
	out := stdout.String() + stderr.String()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)\b`).FindAllStringSubmatch(out, -1) {
		flags[m[1]] = true
	}
	if usageLine {
		for _, m := range regexp.MustCompile(`--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(out, -1) {
			flags[m[1]] = true
		}
	}
	return flags
}

// TestManPageListsEveryFlag: packaging/facegate.1 is the only reference an
// operator of the .deb has without the source; every flag a command accepts
// (its -h) is on the page, under that command's entry.
func TestManPageListsEveryFlag(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "facegate.1"))
	if err != nil {
		t.Fatal(err)
	}
	// the page's command entries: ".TP\n.B <command> ...\n<text>" up to the next .TP/.SH
	page := strings.ReplaceAll(string(b), `\-`, "-")
	var entries []string // each entry's text, font escapes removed
	for _, e := range strings.Split(page, "\n.TP\n")[1:] {
		e, _, _ = strings.Cut(e, "\n.SH")
		if strings.HasPrefix(e, ".B ") {
			entries = append(entries, regexp.MustCompile(`\\f[RBI]`).ReplaceAllString(strings.TrimPrefix(e, ".B "), ""))
		}
	}
	// the head each command's entry starts with
	heads := map[string]string{"run": "run ", "demo": "demo ", "service": "service install", "auth": "auth ",
		"history": "history", "crop": "crop ", "liveness": "liveness --video", "liveness eval": "liveness eval",
		"liveness report": "liveness report", "relay": "relay pulse", "relay pulse": "relay pulse",
		"relay watch": "relay pulse", "emulator": "emulator", "config": "config check", "config check": "config check",
		"model": "model install", "model install": "model install", "version": "version"}
	cmds := [][]string{}
	for n := range commands {
		cmds = append(cmds, []string{n})
	}
	cmds = append(cmds, []string{"liveness", "eval"}, []string{"liveness", "report"},
		[]string{"relay", "pulse"}, []string{"relay", "watch"}, []string{"config", "check"}, []string{"model", "install"})
	sort.Slice(cmds, func(i, j int) bool { return strings.Join(cmds[i], " ") < strings.Join(cmds[j], " ") })
	// a command with subcommands: its usage names its subcommands' flags
	parents := map[string]bool{"liveness": true, "relay": true, "config": true, "model": true}
	for _, c := range cmds {
		name := strings.Join(c, " ")
		entry := ""
		for _, e := range entries {
			if h, ok := heads[name]; ok && strings.HasPrefix(e, h) {
				entry = e
			}
		}
		if entry == "" {
			t.Errorf("packaging/facegate.1: no entry for facegate %s", name)
			continue
		}
		var missing []string
		for f := range helpFlags(t, !parents[name], c...) {
			if f == "h" || f == "help" {
				continue
			}
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f) + `\b`).MatchString(entry) {
				missing = append(missing, "--"+f)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("packaging/facegate.1: facegate %s accepts %s, which its entry does not list", name, strings.Join(missing, ", "))
		}
	}
}
