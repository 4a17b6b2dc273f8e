package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/record"
)

// auditEvent is one decision line as the kiosk writes it (record.Event).
func auditEvent(t *testing.T, id, ts string, d record.Decision, l *record.Liveness, reasons ...string) string {
	t.Helper()
	if reasons == nil {
		reasons = []string{}
	}
	b, err := json.Marshal(record.Event{EventID: id, TS: ts, Site: "s", Gate: "g", Decision: d, Reason: reasons, Liveness: l})
	require.NoError(t, err)
	return string(b) + "\n"
}

func shadowCheck(live bool, reasons ...string) *record.Liveness {
	if reasons == nil {
		reasons = []string{}
	}
	return &record.Liveness{Method: "challenge", Score: map[bool]float64{true: 0.8, false: 0.2}[live], Live: live, Reasons: reasons, Shadow: true}
}

// writeAudit writes a shadow trial's audit log over two files: 11
// granted sessions of three workers (7 passed, 2 refused, 1 could not
// run, 1 check error), a denied one, enforced checks before the trial, the
// lines that are not decisions (a relay pulse result, a gate input), an
// undated decision, a torn line, an object of the wrong shape and an event
// repeated in a rotated file.
func writeAudit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var cur, old strings.Builder
	day := func(d, i int) string { return fmt.Sprintf("2026-11-%02dT08:%02d:00.000Z", d, i) }
	line := func(b *strings.Builder, v any) {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		b.Write(append(j, '\n'))
	}
	as := func(ev string, sub string) string { // the same event, another worker
		var e record.Event
		require.NoError(t, json.Unmarshal([]byte(ev), &e))
		e.SubmissionID = sub
		j, err := json.Marshal(e)
		require.NoError(t, err)
		return string(j) + "\n"
	}
	// Before the trial: challenge and passive, enforced.
	old.WriteString(auditEvent(t, "e1", day(20, 1), record.DecisionGranted, &record.Liveness{Method: "challenge", Score: 0.9, Live: true, Reasons: []string{}}))
	old.WriteString(auditEvent(t, "e2", day(20, 2), record.DecisionDenied, &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}}, "liveness_failed"))
	old.WriteString(auditEvent(t, "e3", day(20, 3), record.DecisionDenied, nil, "liveness_locked"))
	old.WriteString(auditEvent(t, "e4", day(20, 4), record.DecisionDenied, &record.Liveness{Method: "passive", Score: 0.1, Reasons: []string{"no_motion"}}, "liveness_failed"))
	line(&old, record.PulseResult{Kind: record.PulseKind, EventID: "e1", TS: day(20, 1), Site: "s", Gate: "g", Relay: record.RelayPulsed})
	// Worker A passes 5 times; B passes twice and is refused twice; C is
	// refused once and could not run once (refused in half of them).
	for i := range 5 {
		cur.WriteString(as(auditEvent(t, fmt.Sprintf("s%d", i), day(25, i), record.DecisionGranted, shadowCheck(true)), "A"))
	}
	cur.WriteString(as(auditEvent(t, "s5", day(25, 5), record.DecisionGranted, shadowCheck(true)), "B"))
	cur.WriteString(as(auditEvent(t, "s6", day(25, 6), record.DecisionGranted, shadowCheck(true)), "B"))
	cur.WriteString(as(auditEvent(t, "s7", day(26, 1), record.DecisionGranted, shadowCheck(false, "planar_motion")), "B"))
	cur.WriteString(as(auditEvent(t, "s8", day(26, 2), record.DecisionGranted, shadowCheck(false, "wrong_direction")), "C"))
	cur.WriteString(as(auditEvent(t, "s9", day(27, 3), record.DecisionGranted, shadowCheck(false, "face_lost")), "C"))
	cur.WriteString(as(auditEvent(t, "s10", day(27, 4), record.DecisionGranted, shadowCheck(false, "error")), "A"))
	cur.WriteString(auditEvent(t, "s11", day(27, 5), record.DecisionDenied, shadowCheck(false, "planar_motion"), "face_compare_underscore"))
	cur.WriteString(auditEvent(t, "s12", day(27, 6), record.DecisionGranted, nil)) // no check (liveness off again)
	cur.WriteString(auditEvent(t, "s13", "yesterday", record.DecisionGranted, shadowCheck(true)))
	line(&cur, map[string]string{"kind": "input", "input": "door_forced", "ts": day(27, 7), "site": "s", "gate": "g"})
	line(&cur, map[string]any{"kind": "liveness_unlock", "ts": day(27, 7), "site": "s", "gate": "g", "submission_id": "sha256:00",
		"source": "http", "by": "ops", "note": "checked", "was_locked": true, "failures_cleared": 3})
	line(&cur, map[string]any{"kind": "liveness_unlock", "ts": day(21, 7), "site": "s", "gate": "g", "submission_id": "sha256:00",
		"source": "site", "was_locked": false, "failures_cleared": 1})
	// A line of another kind that looks like a decision is still not one.
	line(&cur, map[string]any{"kind": "future", "event_id": "k1", "decision": "granted", "ts": day(27, 8),
		"liveness": map[string]any{"method": "challenge", "live": false, "reasons": []string{"planar_motion"}, "shadow": true}})
	cur.WriteString("\n")
	cur.WriteString(`{"event_id":"s14","decision":"granted","liveness":"x"}` + "\n")
	cur.WriteString(`{"event_id":"s15","decision":"gran`) // torn by a crash, then ended with '\n' at open
	cur.WriteString("\n")
	old.WriteString(as(auditEvent(t, "s0", day(25, 0), record.DecisionGranted, shadowCheck(true)), "A")) // repeated: counted once
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(cur.String()), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl.1"), []byte(old.String()), 0o640))
	// Not the audit log: ignored.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl.bak"), []byte(auditEvent(t, "x", day(25, 9), record.DecisionGranted, shadowCheck(false, "planar_motion"))), 0o640))
	return dir
}

func tally4(t *livenessTally) [4]int { return [4]int{t.Checks, t.Live, t.Refused, t.Unavailable} }

func TestLivenessReport(t *testing.T) {
	dir := writeAudit(t)
	code, out, errOut := runCmd(t, nil, "liveness", "report", "--audit", dir, "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	var got livenessReport
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 2, got.Files)
	assert.Equal(t, 18, got.Decisions) // e1-e4, s0-s13
	assert.Equal(t, 2, got.Unreadable)
	assert.Equal(t, 1, got.Undated)
	assert.Equal(t, "2026-11-20T08:01:00.000Z", got.First)
	assert.Equal(t, "2026-11-27T08:06:00.000Z", got.Last)
	assert.Equal(t, 1, got.Locked)
	assert.Equal(t, reportUnlocks{HTTP: 1, HTTPLocked: 1, Site: 1}, got.Unlocks)
	sg := got.ShadowGranted
	assert.Equal(t, [4]int{12, 8, 2, 1}, tally4(&sg)) // s13 (undated) counts without a window
	assert.Equal(t, 1, sg.Errors)
	assert.InDelta(t, 3.0/11, sg.DeniedRate, 1e-9) // the error is left out
	assert.InDelta(t, upper95(3, 11), sg.Upper95, 1e-9)
	assert.Equal(t, map[string]int{"planar_motion": 1, "wrong_direction": 1, "face_lost": 1, "error": 1}, sg.Reasons)
	// A passes 5 times (its check error left out), B is refused 1 of 3
	// times, C 2 of 2: one identity refused in at least half.
	assert.Equal(t, [2]int{3, 1}, [2]int{sg.Identities, sg.Often})
	assert.Equal(t, [4]int{1, 0, 1, 0}, tally4(&got.ShadowOther))
	require.Len(t, got.Enforced, 2)
	assert.Equal(t, [4]int{2, 1, 1, 0}, tally4(got.Enforced["challenge"]))
	assert.Equal(t, [4]int{1, 0, 1, 0}, tally4(got.Enforced["passive"]))

	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	for _, want := range []string{
		"18 decisions, 2026-11-20T08:01:00.000Z to 2026-11-27T08:06:00.000Z",
		"sessions the gate granted (API approved, local policy passed: your workers, unless someone attacked during the trial): 12",
		"challenge would have denied 3 of 11 (27.3 %; one-sided 95 % upper bound 56.4 %, taking sessions as independent): refused 2, could not run 1",
		"check errors 1 (no checker, camera or software faults: fix them; left out of the rate)",
		"3 identities; 1 of them refused in at least half of their sessions (two or more)",
		"reasons: error 1, face_lost 1, planar_motion 1, wrong_direction 1",
		"enforced checks (challenge): 2",
		"enforced checks (passive): 1",
		"lockout: 1 session(s) denied without a check",
		"unlocks by an operator: 1 at this gate (1 of a locked-out identity), 1 sent by other gates",
	} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, errOut, "2 line(s) skipped; first: audit.jsonl:20: not an audit record: json: cannot unmarshal")
	assert.Contains(t, errOut, "audit.jsonl:21: not JSON (a line torn by a crash is expected)")
	assert.NotContains(t, errOut, "without a readable ts") // no window: counted

	// The window: the trial's last two days only; the undated decision is
	// left out and said so.
	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir, "--since", "2026-11-26", "--until", "2026-11-27", "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	got = livenessReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 6, got.Decisions)
	assert.Equal(t, [4]int{4, 0, 2, 1}, tally4(&got.ShadowGranted))
	assert.Equal(t, reportUnlocks{HTTP: 1, HTTPLocked: 1}, got.Unlocks, "the other gate's unlock is before the window")
	assert.Empty(t, got.Enforced)
	code, _, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir, "--since", "2026-11-26")
	require.Equal(t, exitOK, code)
	assert.Contains(t, errOut, "1 decision(s) without a readable ts left out of the --since/--until window")

	// One file of events (e.g. collected from MQTT) instead of a folder.
	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", filepath.Join(dir, "audit.jsonl"), "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	got = livenessReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 12, got.ShadowGranted.Checks)
	assert.Empty(t, got.Enforced)
}

// TestLivenessReportTurns: of the challenges that measured a turn, the
// report gives by measure (YuNet's landmarks, or tracked points, which
// read smaller turns) how many fell short of what the check needs and
// how close they came; the turn of a check error, of a check that could
// not run, of a passive check and of a shadow session denied for another
// reason, and an event without one (recorded before the events carried
// it) are left out.
func TestLivenessReportTurns(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	ts := func(i int) string { return fmt.Sprintf("2026-11-25T08:%02d:00.000Z", i) }
	check := func(yaw float64, landmarks bool, reasons ...string) *record.Liveness {
		l := shadowCheck(len(reasons) == 0, reasons...)
		l.Yaw, l.Landmarks = &yaw, landmarks
		return l
	}
	// Ten turns measured by landmarks, 0.01 to 0.10 face widths.
	for i := 1; i <= 10; i++ {
		var reasons []string
		if i <= 3 {
			reasons = []string{"no_response"}
		}
		b.WriteString(auditEvent(t, fmt.Sprintf("l%d", i), ts(i), record.DecisionGranted, check(float64(i)/100, true, reasons...)))
	}
	b.WriteString(auditEvent(t, "t1", ts(20), record.DecisionGranted, check(0.015, false, "no_response")))
	b.WriteString(auditEvent(t, "t2", ts(21), record.DecisionGranted, check(0.05, false)))
	// Refused after filling the meter (twice the need): 0.07 and more by
	// landmarks, 0.04 and more by tracked points.
	b.WriteString(auditEvent(t, "r1", ts(28), record.DecisionGranted, check(0.07, true, "planar_motion")))
	b.WriteString(auditEvent(t, "r2", ts(29), record.DecisionGranted, check(0.069, true, "planar_motion")))
	b.WriteString(auditEvent(t, "r3", ts(30), record.DecisionGranted, check(0.04, false, "unmatched_blur")))
	b.WriteString(auditEvent(t, "e1", ts(22), record.DecisionGranted, check(0.01, true, "error")))
	b.WriteString(auditEvent(t, "u1", ts(25), record.DecisionGranted, check(0.01, true, "face_lost")))
	passive := check(0.01, true)
	passive.Method = "passive"
	b.WriteString(auditEvent(t, "p1", ts(26), record.DecisionGranted, passive))
	b.WriteString(auditEvent(t, "d1", ts(27), record.DecisionDenied, check(0.01, true, "no_response"), "face_compare_underscore"))
	b.WriteString(auditEvent(t, "o1", ts(23), record.DecisionGranted, shadowCheck(true)))
	enforced := check(0.06, true)
	enforced.Shadow = false
	b.WriteString(auditEvent(t, "c1", ts(24), record.DecisionGranted, enforced))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(b.String()), 0o640))

	code, out, errOut := runCmd(t, nil, "liveness", "report", "--audit", dir, "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	var got livenessReport
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	turns := got.ShadowGranted.Turns
	require.Len(t, turns, 2)
	assert.Equal(t, turnSummary{Checks: 12, Needed: 0.035, BelowNeeded: 3, BelowNeededMedian: 0.02, RefusedPastMeter: 1}, *turns["landmarks"])
	assert.Equal(t, turnSummary{Checks: 3, Needed: 0.02, BelowNeeded: 1, BelowNeededMedian: 0.015, RefusedPastMeter: 1}, *turns["tracked"])
	assert.Nil(t, got.ShadowOther.Turns, "not the workers' turns")
	require.NotNil(t, got.Enforced["challenge"])
	assert.Equal(t, 1, got.Enforced["challenge"].Turns["landmarks"].Checks, "enforced checks have their own")

	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, out, "turns the asked way, by YuNet's landmarks (the check needs 0.035 face widths): 12 measured, 3 short of it (half of those at most 0.02); 1 refused after a turn that fills the kiosk's meter (0.07 or more)\n")
	assert.Contains(t, out, "turns the asked way, by tracked points (the check needs 0.02 face widths): 3 measured, 1 short of it (half of those at most 0.015); 1 refused after a turn that fills the kiosk's meter (0.04 or more)\n")
	assert.Contains(t, out, "enforced checks (challenge): 1\n")
	assert.Contains(t, out, "turns the asked way, by YuNet's landmarks (the check needs 0.035 face widths): 1 measured, 0 short of it; 0 refused after a turn that fills the kiosk's meter (0.07 or more)\n")
}

// A file of a listed folder rotated away between the listing and the read
// (a running daemon) is skipped; a file named on the command line is not.
func TestLivenessReportRotationWhileReading(t *testing.T) {
	dir := writeAudit(t)
	files, listed, err := auditFiles(dir)
	require.NoError(t, err)
	require.True(t, listed)
	require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.1")))
	var gone []string
	r := newLivenessReport(dir, reportWindow{})
	require.NoError(t, r.readFiles(files, listed, func(f string) { gone = append(gone, f) }))
	assert.Equal(t, []string{filepath.Join(dir, "audit.jsonl.1")}, gone)
	assert.Equal(t, 1, r.Files)
	err = newLivenessReport(dir, reportWindow{}).readFiles(files, false, func(string) { t.Error("a named file reported as rotated") })
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The rotations are read newest first by number (name order read .10
// before .2): a rotation during the read then shifts every file not yet
// read onto the next number, read next, and no file's lines are skipped.
func TestLivenessReportReadsRotationsByNumber(t *testing.T) {
	dir := t.TempDir()
	want := []string{filepath.Join(dir, "audit.jsonl")}
	for i := 1; i <= 11; i++ {
		want = append(want, filepath.Join(dir, fmt.Sprintf("audit.jsonl.%d", i)))
	}
	for _, f := range want {
		require.NoError(t, os.WriteFile(f, nil, 0o600))
	}
	files, listed, err := auditFiles(dir)
	require.NoError(t, err)
	require.True(t, listed)
	assert.Equal(t, want, files)
}

// The state_dir of --config leads to its audit folder.
func TestLivenessReportFromConfig(t *testing.T) {
	state := t.TempDir()
	audit := writeAudit(t)
	require.NoError(t, os.Rename(audit, filepath.Join(state, "audit")))
	cfg := filepath.Join(t.TempDir(), "facegate.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("state_dir: "+state+"\n"), 0o600))
	code, out, errOut := runCmd(t, nil, "liveness", "report", "--config", cfg)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, out, "audit log "+filepath.Join(state, "audit")+" (2 file(s))")
}

func TestLivenessReportNothingRecorded(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(auditEvent(t, "a", "2026-11-20T08:00:00.000Z", record.DecisionGranted, nil)), 0o640))
	code, out, _ := runCmd(t, nil, "liveness", "report", "--audit", dir)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "no liveness check recorded")
}

func TestLivenessReportRefusesBadInput(t *testing.T) {
	dir := writeAudit(t)
	empty := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad date", []string{"--audit", dir, "--since", "26-11-2026"}, `--since "26-11-2026" is not a date (yyyy-mm-dd)`},
		{"reversed window", []string{"--audit", dir, "--since", "2026-11-27", "--until", "2026-11-26"}, "--since 2026-11-27 is after --until 2026-11-26"},
		{"both sources", []string{"--audit", dir, "--config", "x.yaml"}, "--audit and --config do not go together"},
		{"missing", []string{"--audit", filepath.Join(empty, "nope")}, "audit log: stat"},
		{"no log in the folder", []string{"--audit", empty}, "no audit.jsonl file in it"},
		{"a FIFO", []string{"--audit", fifo}, "not a regular file or a folder"},
		{"argument", []string{"--audit", dir, "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, nil, append([]string{"liveness", "report"}, tc.args...)...)
			assert.Equal(t, exitError, code)
			assert.True(t, strings.HasPrefix(errOut, "facegate liveness report: "), errOut)
			assert.Contains(t, errOut, tc.want)
		})
	}
}

// FuzzLivenessReportLine: any audit line is counted or skipped, never a
// panic, and the tallies stay consistent.
func FuzzLivenessReportLine(f *testing.F) {
	f.Add([]byte(`{"event_id":"a","ts":"2026-11-25T08:00:00.000Z","decision":"granted","reason":[],"liveness":{"method":"challenge","score":0.2,"live":false,"reasons":["planar_motion"],"shadow":true}}`))
	f.Add([]byte(`{"event_id":"b","decision":"denied","liveness":{"live":true,"reasons":null}}`))
	f.Add([]byte(`{"kind":"relay_pulse"}`))
	f.Add([]byte(`{"event_id":"c","decision":"granted","liveness":{"reasons":["error","face_lost"]}}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte("\x00"))
	f.Add([]byte(`{"event_id":"d","decision":"granted","liveness":{"method":"challenge","live":true,"reasons":[],"shadow":true,"yaw":-0.5,"landmarks":true}}`))
	f.Add([]byte(`{"event_id":"e","decision":"granted","liveness":{"method":"challenge","live":false,"reasons":["planar_motion"],"shadow":true,"yaw":0.08,"landmarks":true}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := newLivenessReport("x", reportWindow{})
		r.add(line)
		r.add(line) // the same event twice counts once
		r.finish()
		if r.Decisions > 1 {
			t.Fatalf("one line counted as %d decisions", r.Decisions)
		}
		tallies := []*livenessTally{&r.ShadowGranted, &r.ShadowOther}
		for _, tl := range r.Enforced {
			tallies = append(tallies, tl)
		}
		for _, tl := range tallies {
			if tl.Live+tl.Refused+tl.Unavailable+tl.Errors != tl.Checks || tl.Checks > 1 || tl.DeniedRate < 0 || tl.DeniedRate > 1 || tl.Often > tl.Identities {
				t.Fatalf("inconsistent tally %+v", tl)
			}
			for _, s := range tl.Turns {
				if s.Checks != 1 || s.BelowNeeded > s.Checks || s.BelowNeeded != len(s.short) || s.BelowNeededMedian >= s.Needed ||
					s.RefusedPastMeter+s.BelowNeeded > s.Checks {
					t.Fatalf("inconsistent turns %+v", s)
				}
			}
		}
	})
}
