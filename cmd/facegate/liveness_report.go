package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/liveness"
	"github.com/facegate/facegate/record"
)

// runLivenessReport is `facegate liveness report [--config F | --audit
// PATH] [--since D --until D] [--json]`: what the liveness checks recorded
// in the audit log decided. Its point is the shadow trial
// (policy.liveness: shadow): of the sessions the gate granted (the API
// approved, the local policy passed: the site's own workers, unless
// someone attacked during the trial), how many the check would have
// turned away. Exit 0, 2 on bad flags or an unreadable log.
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
	files, listed, err := auditFiles(src)
	if err != nil {
		return fail("%v", err)
	}
	rep := newLivenessReport(src, win)
	if err := rep.readFiles(files, listed, func(f string) {
		fmt.Fprintf(a.stderr, "facegate liveness report: %s rotated away while reading, skipped\n", f)
	}); err != nil {
		return fail("%v", err)
	}
	rep.finish()
	if *asJSON {
		return printJSON(a, "liveness report", rep, exitOK)
	}
	rep.print(a.stdout)
	if rep.Unreadable > 0 {
		fmt.Fprintf(a.stderr, "facegate liveness report: %d line(s) skipped; first: %s\n", rep.Unreadable, strings.Join(rep.firstBad, "; "))
	}
	if rep.Undated > 0 && (!win.from.IsZero() || !win.to.IsZero()) {
		fmt.Fprintf(a.stderr, "facegate liveness report: %d decision(s) without a readable ts left out of the --since/--until window\n", rep.Undated)
	}
	return exitOK
}

// reportWindow is [from, to) in UTC; a zero end is open.
type reportWindow struct{ from, to time.Time }

// set reports whether the window has an end.
func (w reportWindow) set() bool { return !w.from.IsZero() || !w.to.IsZero() }

// holds reports whether t is in the window.
func (w reportWindow) holds(t time.Time) bool {
	return (w.from.IsZero() || !t.Before(w.from)) && (w.to.IsZero() || t.Before(w.to))
}

// auditRotation matches the kiosk's audit.jsonl and audit.jsonl.N.
var auditRotation = regexp.MustCompile(`^audit\.jsonl(\.[0-9]+)?$`)

// auditFiles lists the audit log's files in path (a folder: listed true),
// or path itself (a file).
func auditFiles(path string) (files []string, listed bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("audit log: %w", err)
	}
	if st.Mode().IsRegular() {
		return []string{path}, false, nil
	}
	if !st.IsDir() {
		return nil, false, fmt.Errorf("audit log %s: not a regular file or a folder", path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, false, fmt.Errorf("audit log: %w", err)
	}
	for _, e := range entries {
		if auditRotation.MatchString(e.Name()) && e.Type().IsRegular() {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("audit log %s: no audit.jsonl file in it", path)
	}
	// Newest first, by rotation number (ReadDir's name order put .10
	// before .2): a rotation during the read shifts the files not read yet
	// onto the next number, which is read next, so nothing is skipped
	// (what is read twice counts once, by event id).
	slices.SortFunc(files, func(a, b string) int { return rotationNumber(a) - rotationNumber(b) })
	return files, true, nil
}

// rotationNumber is N of audit.jsonl.N, 0 for audit.jsonl.
func rotationNumber(file string) int {
	_, n, _ := strings.Cut(filepath.Base(file), ".jsonl.")
	i, _ := strconv.Atoi(n)
	return i
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
	// Undated decisions have no readable ts: left out when a window is set.
	Undated int `json:"undated"`
	// ShadowGranted: shadow checks of sessions the gate granted, the
	// stand-in for the site's own workers. ShadowOther: the other shadow
	// checks (denied or in error for another reason).
	ShadowGranted livenessTally `json:"shadow_granted"`
	ShadowOther   livenessTally `json:"shadow_other"`
	// Enforced: checks that decided, by method (passive, challenge).
	Enforced map[string]*livenessTally `json:"enforced"`
	// Locked: sessions denied by the lockout without a check.
	Locked int `json:"locked"`
	// Unlocks: operators' unlocks of a lockout (kiosk's liveness_unlock
	// audit lines), by source.
	Unlocks reportUnlocks `json:"unlocks"`

	win      reportWindow
	seen     map[string]bool
	firstBad []string
	first    time.Time
	last     time.Time
}

// reportUnlocks counts the liveness_unlock audit lines: made at this gate
// (HTTP, and of them those of an identity locked out then) and applied
// from another gate's cmd/unlock.
type reportUnlocks struct {
	HTTP       int `json:"http"`
	HTTPLocked int `json:"http_locked"`
	Site       int `json:"site"`
}

// livenessTally counts checks by what they said.
type livenessTally struct {
	Checks int `json:"checks"`
	Live   int `json:"live"`
	// Refused: the check ran and found no live person (a photo, a screen,
	// no turn, a wrong or late turn).
	Refused int `json:"refused"`
	// Unavailable: the check could not run on the frames (face lost, too
	// few frames or points, no face); in challenge mode this denies too.
	Unavailable int `json:"unavailable"`
	// Errors: the check failed as software or hardware (no checker after
	// a reload, a camera error, a timeout): a fault to fix, not a
	// measurement of the people.
	Errors int `json:"errors"`
	// DeniedRate is (Refused+Unavailable)/(Checks-Errors): the share the
	// check turned (or would have turned) away; Upper95 its one-sided
	// 95 % Clopper-Pearson upper bound (sessions taken as independent).
	DeniedRate float64 `json:"denied_rate"`
	Upper95    float64 `json:"denied_upper95"`
	// Reasons counts the codes of the checks that did not pass.
	Reasons map[string]int `json:"reasons"`
	// Identities: distinct submission ids (as the audit log holds them:
	// plain or hashed) among these checks; Often: those the check refused
	// in at least half of their sessions, two or more. A few people
	// refused every day weigh more than a rate over sessions shows.
	Identities int `json:"identities"`
	Often      int `json:"refused_often"`
	// Turns: how far the heads turned the asked way, by what measured
	// them ("landmarks": YuNet's; "tracked": tracked points, Haar's or
	// YuNet's without landmarks); absent before the events carried the
	// turn, and for the shadow sessions denied for another reason.
	Turns map[string]*turnSummary `json:"turns,omitempty"`

	by map[string][2]int // identity -> sessions, denied
}

// turnSummary is what one measure saw of the turns (face widths, the
// check's cue yaw): how many fell short of what the check needs, and how
// close they came. A check that passes stops once the turn has held, so
// a turn above the need is measured only that far; the short ones ran
// the whole window and are measured to their peak. In the lab every real
// person refused had turned less than 0.07 face widths
// (docs/liveness.md); a shadow trial says how many of a site's own
// workers do.
type turnSummary struct {
	Checks int `json:"checks"`
	// Needed is the least turn the check accepts with this measure.
	Needed float64 `json:"needed"`
	// BelowNeeded: turns smaller than Needed; BelowNeededMedian the
	// median of those (nearest rank; 0 when none): near Needed, the
	// workers turn a little too little, near 0 they do not turn.
	BelowNeeded       int     `json:"below_needed"`
	BelowNeededMedian float64 `json:"below_needed_median"`
	// RefusedPastMeter: checks refused (not unavailable) after a turn of
	// at least kiosk.TurnMeterFull times Needed, the turn that fills the
	// kiosk's meter: workers who turned as the screen asked, refused all
	// the same (the check's own mistakes, or attacks). The yaw is the
	// check's cue, which also reads its last frame; the meter shows the
	// turn a frame late, so a turn that got there only in that frame was
	// not shown full.
	RefusedPastMeter int `json:"refused_past_meter"`

	short []float64
}

// turnMeasure is one measure of a turn: its key in Turns, its name in
// the text report and what the check needs of it.
type turnMeasure struct {
	key, label string
	needed     float64
}

// Landmarks first, in the text report.
var (
	landmarksTurn = turnMeasure{"landmarks", "YuNet's landmarks", liveness.DefaultConfig.MinAmplitude}
	trackedTurn   = turnMeasure{"tracked", "tracked points", liveness.DefaultConfig.MinAmplitudeTracked}
)

// addTurn counts the turn of a challenge that ran (the kiosk records one
// only then; an audit line from elsewhere is held to the same).
func (t *livenessTally) addTurn(l *record.Liveness) {
	if l.Yaw == nil || math.IsNaN(*l.Yaw) || math.IsInf(*l.Yaw, 0) || l.Method != "challenge" ||
		slices.ContainsFunc(l.Reasons, func(c string) bool { return c == "error" || liveness.Reason(c).Unavailable() }) {
		return
	}
	m := trackedTurn
	if l.Landmarks {
		m = landmarksTurn
	}
	s := t.Turns[m.key]
	if s == nil {
		s = &turnSummary{Needed: m.needed}
		t.Turns[m.key] = s
	}
	s.Checks++
	if *l.Yaw < s.Needed {
		s.short = append(s.short, *l.Yaw)
	}
	if !l.Live && *l.Yaw >= kiosk.TurnMeterFull*s.Needed {
		s.RefusedPastMeter++
	}
}

func (s *turnSummary) finish() {
	s.BelowNeeded = len(s.short)
	if len(s.short) > 0 {
		slices.Sort(s.short)
		s.BelowNeededMedian = s.short[(len(s.short)+1)/2-1] // nearest rank
	}
}

func newTally() *livenessTally {
	return &livenessTally{Reasons: map[string]int{}, Turns: map[string]*turnSummary{}, by: map[string][2]int{}}
}

func newLivenessReport(src string, win reportWindow) *livenessReport {
	r := &livenessReport{Source: src, win: win, seen: map[string]bool{}, Enforced: map[string]*livenessTally{}}
	r.ShadowGranted, r.ShadowOther = *newTally(), *newTally()
	r.ShadowOther.Turns = nil // API-denied people and attackers: not the workers' turns
	return r
}

// readFiles reads files in turn. A file of a listed folder that is gone
// was rotated away since the listing (a running daemon): its lines are in
// the next file, read or about to be; gone tells.
func (r *livenessReport) readFiles(files []string, listed bool, gone func(string)) error {
	for _, f := range files {
		err := r.readFile(f)
		if listed && errors.Is(err, os.ErrNotExist) {
			gone(f)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
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
		if len(line) > 0 {
			if why := r.add(line); why != "" && len(r.firstBad) < 3 {
				r.firstBad = append(r.firstBad, fmt.Sprintf("%s:%d: %s", filepath.Base(path), n, why))
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit log %s: line %d: %w", path, n, err)
		}
	}
}

// auditLine is what the report reads of an audit line: a decision event,
// or a line of another kind (relay pulse results, gate inputs).
type auditLine struct {
	record.Event
	Kind string `json:"kind"`
}

// add counts one audit line; it returns why a line was skipped as
// unreadable ("" when it was counted or skipped as expected: blank
// lines, other kinds of line, decisions outside the window, repeated
// event ids).
func (r *livenessReport) add(line []byte) string {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return ""
	}
	var ev auditLine
	if err := json.Unmarshal(line, &ev); err != nil {
		r.Unreadable++
		if !json.Valid(line) {
			return "not JSON (a line torn by a crash is expected)"
		}
		return "not an audit record: " + err.Error()
	}
	if ev.Kind == kiosk.AuditKindUnlock {
		r.addUnlock(line)
		return ""
	}
	if ev.Kind != "" || ev.EventID == "" || ev.Decision == "" || r.seen[ev.EventID] {
		return ""
	}
	ts, err := time.Parse(time.RFC3339Nano, ev.TS)
	switch {
	case err != nil && r.win.set():
		r.Undated++
		return ""
	case err != nil:
		r.Undated++
	default:
		if !r.win.holds(ts) {
			return ""
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
		return ""
	}
	var t *livenessTally
	switch {
	case l.Shadow && ev.Decision == record.DecisionGranted:
		t = &r.ShadowGranted
	case l.Shadow:
		t = &r.ShadowOther
	default:
		m := l.Method
		if m == "" {
			m = "unknown"
		}
		if r.Enforced[m] == nil {
			r.Enforced[m] = newTally()
		}
		t = r.Enforced[m]
	}
	t.add(ev.SubmissionID, l)
	return ""
}

func (t *livenessTally) add(identity string, l *record.Liveness) {
	t.Checks++
	denied := false
	switch {
	case slices.Contains(l.Reasons, "error"):
		t.Errors++
	case slices.ContainsFunc(l.Reasons, func(c string) bool { return liveness.Reason(c).Unavailable() }):
		t.Unavailable++
		denied = true
	case l.Live:
		t.Live++
	default:
		t.Refused++
		denied = true
	}
	if !l.Live || denied {
		for _, c := range l.Reasons {
			t.Reasons[c]++
		}
	}
	if t.Turns != nil {
		t.addTurn(l)
	}
	if identity != "" && !slices.Contains(l.Reasons, "error") {
		c := t.by[identity]
		c[0]++
		if denied {
			c[1]++
		}
		t.by[identity] = c
	}
}

func (t *livenessTally) finish() {
	if n := t.Checks - t.Errors; n > 0 {
		denied := t.Refused + t.Unavailable
		t.DeniedRate = float64(denied) / float64(n)
		t.Upper95 = upper95(denied, n)
	}
	for _, s := range t.Turns {
		s.finish()
	}
	t.Identities = len(t.by)
	for _, c := range t.by {
		if c[0] >= 2 && 2*c[1] >= c[0] {
			t.Often++
		}
	}
}

func (r *livenessReport) finish() {
	r.ShadowGranted.finish()
	r.ShadowOther.finish()
	for _, t := range r.Enforced {
		t.finish()
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
	enforced := 0
	for _, t := range r.Enforced {
		enforced += t.Checks
	}
	if r.ShadowGranted.Checks+r.ShadowOther.Checks+enforced+r.Locked+r.Unlocks.HTTP+r.Unlocks.Site == 0 {
		fmt.Fprintln(w, "no liveness check recorded (policy.liveness was off, or these decisions are older than it)")
		return
	}
	if t := r.ShadowGranted; t.Checks > 0 {
		fmt.Fprintf(w, "\nshadow trial, sessions the gate granted (API approved, local policy passed: your workers, unless someone attacked during the trial): %d\n", t.Checks)
		fmt.Fprintf(w, "  challenge would have denied %d of %d (%.1f %%; one-sided 95 %% upper bound %.1f %%, taking sessions as independent): refused %d, could not run %d\n",
			t.Refused+t.Unavailable, t.Checks-t.Errors, 100*t.DeniedRate, 100*t.Upper95, t.Refused, t.Unavailable)
		printErrors(w, t)
		if t.Identities > 0 {
			fmt.Fprintf(w, "  %d identities; %d of them refused in at least half of their sessions (two or more)\n", t.Identities, t.Often)
		}
		printReasons(w, t.Reasons)
		printTurns(w, t.Turns)
	}
	if t := r.ShadowOther; t.Checks > 0 {
		fmt.Fprintf(w, "\nshadow trial, sessions denied or in error for another reason: %d\n", t.Checks)
		fmt.Fprintf(w, "  the check passed %d, refused %d, could not run %d\n", t.Live, t.Refused, t.Unavailable)
		printErrors(w, t)
		printReasons(w, t.Reasons)
	}
	methods := make([]string, 0, len(r.Enforced))
	for m := range r.Enforced {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		t := r.Enforced[m]
		fmt.Fprintf(w, "\nenforced checks (%s): %d\n", m, t.Checks)
		fmt.Fprintf(w, "  passed %d, refused %d, could not run %d (%.1f %% of the checks that ran denied)\n",
			t.Live, t.Refused, t.Unavailable, 100*t.DeniedRate)
		printErrors(w, *t)
		printReasons(w, t.Reasons)
		printTurns(w, t.Turns)
	}
	if r.Locked > 0 {
		fmt.Fprintf(w, "\nlockout: %d session(s) denied without a check (not in the rates above)\n", r.Locked)
	}
	if u := r.Unlocks; u.HTTP+u.Site > 0 {
		fmt.Fprintf(w, "unlocks by an operator: %d at this gate (%d of a locked-out identity), %d sent by other gates\n", u.HTTP, u.HTTPLocked, u.Site)
	}
}

// addUnlock counts one liveness_unlock line in the window (one without a
// readable ts only when no window is set).
func (r *livenessReport) addUnlock(line []byte) {
	var u struct {
		TS        string `json:"ts"`
		Source    string `json:"source"`
		WasLocked bool   `json:"was_locked"`
	}
	if json.Unmarshal(line, &u) != nil {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, u.TS)
	if err != nil && r.win.set() || err == nil && !r.win.holds(ts) {
		return
	}
	switch u.Source {
	case "http":
		r.Unlocks.HTTP++
		if u.WasLocked {
			r.Unlocks.HTTPLocked++
		}
	case "site":
		r.Unlocks.Site++
	}
}

func printErrors(w io.Writer, t livenessTally) {
	if t.Errors > 0 {
		fmt.Fprintf(w, "  check errors %d (no checker, camera or software faults: fix them; left out of the rate)\n", t.Errors)
	}
}

// printTurns prints how far the heads turned, one line per measure.
func printTurns(w io.Writer, turns map[string]*turnSummary) {
	for _, m := range []turnMeasure{landmarksTurn, trackedTurn} {
		s := turns[m.key]
		if s == nil {
			continue
		}
		line := fmt.Sprintf("  turns the asked way, by %s (the check needs %.3g face widths): %d measured, %d short of it", m.label, s.Needed, s.Checks, s.BelowNeeded)
		if s.BelowNeeded > 0 {
			line += fmt.Sprintf(" (half of those at most %.3g)", s.BelowNeededMedian)
		}
		line += fmt.Sprintf("; %d refused after a turn that fills the kiosk's meter (%.3g or more)", s.RefusedPastMeter, kiosk.TurnMeterFull*s.Needed)
		fmt.Fprintln(w, line)
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
