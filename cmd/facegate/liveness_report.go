package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/liveness"
	"github.com/facegate/facegate/record"
)

// runLivenessReport is `facegate liveness report [--config F | --audit
// PATH] [--since D --until D] [--json]`: what the liveness checks recorded
// in the audit log decided. Its point is the shadow trial
// (policy.liveness: shadow): of the sessions the API granted (the site's
// own workers, unless someone attacked during the trial), how many the
// check would have turned away. Exit 0, 2 on bad flags or an unreadable
// log.
func runLivenessReport(_ context.Context, a *app, args []string) int {
	fs := flag.NewFlagSet("liveness report", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	cfgPath := fs.String("config", "", configFlagUsage+"; the audit log is <state_dir>/audit")
	auditPath := fs.String("audit", "", "an audit folder (audit.jsonl and its rotations) or one JSON-lines file of events, instead of --config")
	since := fs.String("since", "", "first day, yyyy-mm-dd (UTC)")
	until := fs.String("until", "", "last day, yyyy-mm-dd (UTC, inclusive)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: facegate liveness report [--config F | --audit PATH] [--since D] [--until D] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(a.stderr, "facegate liveness report: "+format+"\n", args...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	var win reportWindow
	for _, d := range []struct {
		flag, v string
		t       *time.Time
	}{{"--since", *since, &win.from}, {"--until", *until, &win.to}} {
		if d.v == "" {
			continue
		}
		t, err := faceauth.ParseDate(d.v)
		if err != nil {
			return fail("%s %q is not a date (yyyy-mm-dd)", d.flag, d.v)
		}
		*d.t = t
	}
	if !win.to.IsZero() {
		win.to = win.to.AddDate(0, 0, 1) // inclusive: up to the end of that day
	}
	if !win.from.IsZero() && !win.to.IsZero() && !win.from.Before(win.to) {
		return fail("--since %s is after --until %s", *since, *until)
	}
	if *auditPath != "" && *cfgPath != "" {
		return fail("--audit and --config do not go together")
	}
	src := *auditPath
	if src == "" {
		cfg, err := loadConfig(a, *cfgPath)
		if err != nil {
			return fail("%v", err)
		}
		src = filepath.Join(cfg.StateDir, "audit")
	}
	files, err := auditFiles(src)
	if err != nil {
		return fail("%v", err)
	}
	rep := newLivenessReport(src, win)
	for _, f := range files {
		if err := rep.readFile(f); err != nil {
			return fail("%v", err)
		}
	}
	rep.finish()
	if *asJSON {
		return printJSON(a, rep, exitOK)
	}
	rep.print(a.stdout)
	if rep.Unreadable > 0 {
		fmt.Fprintf(a.stderr, "facegate liveness report: %d line(s) skipped, not a JSON object (a line torn by a crash is expected); first: %s\n",
			rep.Unreadable, strings.Join(rep.firstBad, ", "))
	}
	return exitOK
}

// reportWindow is [from, to) in UTC; a zero end is open.
type reportWindow struct{ from, to time.Time }

// auditRotation matches the kiosk's audit.jsonl and audit.jsonl.N.
var auditRotation = regexp.MustCompile(`^audit\.jsonl(\.[0-9]+)?$`)

// auditFiles lists the audit log's files in path (a folder), or path
// itself (a file).
func auditFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if st.Mode().IsRegular() {
		return []string{path}, nil
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("audit log %s: not a regular file or a folder", path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []string
	for _, e := range entries {
		if auditRotation.MatchString(e.Name()) && e.Type().IsRegular() {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("audit log %s: no audit.jsonl file in it", path)
	}
	return out, nil
}

// livenessReport is the report (its JSON is the --json output).
type livenessReport struct {
	Source string `json:"source"`
	Files  int    `json:"files"`
	// Decisions are the decision events read (in the window).
	Decisions int `json:"decisions"`
	// First and Last are the oldest and newest decision times seen.
	First string `json:"first,omitempty"`
	Last  string `json:"last,omitempty"`
	// Unreadable lines are skipped (a crash can tear the last line).
	Unreadable int `json:"unreadable_lines"`
	// ShadowGranted: shadow checks of sessions the API granted, the
	// stand-in for the site's own workers. ShadowOther: the other shadow
	// checks (denied or in error for another reason).
	ShadowGranted livenessTally `json:"shadow_granted"`
	ShadowOther   livenessTally `json:"shadow_other"`
	// Enforced: checks in passive or challenge mode, which decided.
	Enforced livenessTally `json:"enforced"`
	// Locked: sessions denied by the lockout without a check.
	Locked int `json:"locked"`

	win      reportWindow
	seen     map[string]bool
	firstBad []string
	first    time.Time
	last     time.Time
}

// livenessTally counts checks by what they said.
type livenessTally struct {
	Checks int `json:"checks"`
	Live   int `json:"live"`
	// Refused: the check ran and found no live person (a photo, a screen,
	// no turn, a wrong or late turn).
	Refused int `json:"refused"`
	// Unavailable: the check could not run (face lost, too few frames…);
	// in challenge mode this denies too.
	Unavailable int `json:"unavailable"`
	// DeniedRate is (Refused+Unavailable)/Checks: the share the check
	// turned (or would have turned) away; Upper95 its one-sided 95 %
	// Clopper-Pearson upper bound.
	DeniedRate float64 `json:"denied_rate"`
	Upper95    float64 `json:"denied_upper95"`
	// Reasons counts the codes of the checks that did not pass.
	Reasons map[string]int `json:"reasons"`
}

func newLivenessReport(src string, win reportWindow) *livenessReport {
	r := &livenessReport{Source: src, win: win, seen: map[string]bool{}}
	for _, t := range []*livenessTally{&r.ShadowGranted, &r.ShadowOther, &r.Enforced} {
		t.Reasons = map[string]int{}
	}
	return r
}

func (r *livenessReport) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	r.Files++
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && !r.add(line) && len(r.firstBad) < 3 {
			r.firstBad = append(r.firstBad, fmt.Sprintf("%s:%d", filepath.Base(path), n))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit log %s: line %d: %w", path, n, err)
		}
	}
}

// add counts one audit line; false when it is not a JSON object (a
// blank line is fine). Lines that are not decisions (relay pulses, gate
// inputs), decisions outside the window and repeated event ids are
// skipped.
func (r *livenessReport) add(line []byte) bool {
	line = []byte(strings.TrimSpace(string(line)))
	if len(line) == 0 {
		return true
	}
	var ev struct {
		record.Event
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		r.Unreadable++
		return false
	}
	if ev.Kind != "" || ev.EventID == "" || ev.Decision == "" || r.seen[ev.EventID] {
		return true
	}
	ts, err := time.Parse(time.RFC3339Nano, ev.TS)
	if err != nil {
		if !r.win.from.IsZero() || !r.win.to.IsZero() {
			return true // cannot be placed in the window
		}
	} else {
		if !r.win.from.IsZero() && ts.Before(r.win.from) || !r.win.to.IsZero() && !ts.Before(r.win.to) {
			return true
		}
		if r.first.IsZero() || ts.Before(r.first) {
			r.first = ts
		}
		if ts.After(r.last) {
			r.last = ts
		}
	}
	r.seen[ev.EventID] = true
	r.Decisions++
	if slices.Contains(ev.Reason, "liveness_locked") {
		r.Locked++
	}
	l := ev.Liveness
	if l == nil {
		return true
	}
	t := &r.Enforced
	if l.Shadow {
		t = &r.ShadowOther
		if ev.Decision == record.DecisionGranted {
			t = &r.ShadowGranted
		}
	}
	t.Checks++
	unavailable := slices.ContainsFunc(l.Reasons, func(c string) bool { return c == "error" || liveness.Reason(c).Unavailable() })
	switch {
	case unavailable:
		t.Unavailable++
	case l.Live:
		t.Live++
		return true
	default:
		t.Refused++
	}
	for _, c := range l.Reasons {
		t.Reasons[c]++
	}
	return true
}

func (r *livenessReport) finish() {
	for _, t := range []*livenessTally{&r.ShadowGranted, &r.ShadowOther, &r.Enforced} {
		if t.Checks > 0 {
			denied := t.Refused + t.Unavailable
			t.DeniedRate = float64(denied) / float64(t.Checks)
			t.Upper95 = upper95(denied, t.Checks)
		}
	}
	if !r.first.IsZero() {
		r.First, r.Last = record.Timestamp(r.first), record.Timestamp(r.last)
	}
}

func (r *livenessReport) print(w io.Writer) {
	span := "no decision"
	if r.Decisions > 0 {
		span = fmt.Sprintf("%d decisions", r.Decisions)
		if r.First != "" {
			span += ", " + r.First + " to " + r.Last
		}
	}
	fmt.Fprintf(w, "audit log %s (%d file(s)): %s\n", r.Source, r.Files, span)
	if r.ShadowGranted.Checks+r.ShadowOther.Checks+r.Enforced.Checks+r.Locked == 0 {
		fmt.Fprintln(w, "no liveness check recorded (policy.liveness was off, or these decisions are older than it)")
		return
	}
	if t := r.ShadowGranted; t.Checks > 0 {
		fmt.Fprintf(w, "\nshadow trial, sessions the API granted (your workers, unless someone attacked during the trial): %d\n", t.Checks)
		fmt.Fprintf(w, "  challenge would have denied %d (%.1f %%; one-sided 95 %% upper bound %.1f %%): refused %d, could not run %d\n",
			t.Refused+t.Unavailable, 100*t.DeniedRate, 100*t.Upper95, t.Refused, t.Unavailable)
		printReasons(w, t.Reasons)
	}
	if t := r.ShadowOther; t.Checks > 0 {
		fmt.Fprintf(w, "\nshadow trial, sessions denied or in error for another reason: %d\n", t.Checks)
		fmt.Fprintf(w, "  the check passed %d, refused %d, could not run %d\n", t.Live, t.Refused, t.Unavailable)
		printReasons(w, t.Reasons)
	}
	if t := r.Enforced; t.Checks > 0 || r.Locked > 0 {
		fmt.Fprintf(w, "\nenforced checks (passive or challenge): %d\n", t.Checks)
		fmt.Fprintf(w, "  passed %d, refused %d, could not run %d (%.1f %% denied); %d session(s) denied by the lockout without a check\n",
			t.Live, t.Refused, t.Unavailable, 100*t.DeniedRate, r.Locked)
		printReasons(w, t.Reasons)
	}
}

func printReasons(w io.Writer, reasons map[string]int) {
	if len(reasons) == 0 {
		return
	}
	codes := make([]string, 0, len(reasons))
	for c := range reasons {
		codes = append(codes, c)
	}
	// Most frequent first, then by name: the same order every run.
	slices.SortFunc(codes, func(a, b string) int {
		if reasons[a] != reasons[b] {
			return reasons[b] - reasons[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", c, reasons[c])
	}
	fmt.Fprintf(w, "  reasons: %s\n", strings.Join(parts, ", "))
}
