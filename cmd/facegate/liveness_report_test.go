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

// writeAudit writes a shadow trial's audit log over two files: 10
// granted sessions (7 passed, 2 refused, 1 could not run), a denied one,
// enforced checks before the trial, the lines that are not decisions, a
// torn line and an event repeated in a rotated file.
func writeAudit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var cur, old strings.Builder
	day := func(d, i int) string { return fmt.Sprintf("2026-11-%02dT08:%02d:00.000Z", d, i) }
	// Before the trial: challenge, enforced.
	old.WriteString(auditEvent(t, "e1", day(20, 1), record.DecisionGranted, &record.Liveness{Method: "challenge", Score: 0.9, Live: true, Reasons: []string{}}))
	old.WriteString(auditEvent(t, "e2", day(20, 2), record.DecisionDenied, &record.Liveness{Method: "challenge", Score: 0.1, Reasons: []string{"planar_motion"}}, "liveness_failed"))
	old.WriteString(auditEvent(t, "e3", day(20, 3), record.DecisionDenied, nil, "liveness_locked"))
	old.WriteString(`{"kind":"relay_pulse","event_id":"e1","ts":"2026-11-20T08:01:01.000Z","result":"pulsed"}` + "\n")
	for i := range 7 {
		cur.WriteString(auditEvent(t, fmt.Sprintf("s%d", i), day(25, i), record.DecisionGranted, shadowCheck(true)))
	}
	cur.WriteString(auditEvent(t, "s7", day(26, 1), record.DecisionGranted, shadowCheck(false, "planar_motion")))
	cur.WriteString(auditEvent(t, "s8", day(26, 2), record.DecisionGranted, shadowCheck(false, "wrong_direction")))
	cur.WriteString(auditEvent(t, "s9", day(27, 3), record.DecisionGranted, shadowCheck(false, "face_lost")))
	cur.WriteString(auditEvent(t, "s10", day(27, 4), record.DecisionDenied, shadowCheck(false, "planar_motion"), "face_compare_underscore"))
	cur.WriteString(auditEvent(t, "s11", day(27, 5), record.DecisionGranted, nil)) // no check (liveness off again)
	cur.WriteString(`{"kind":"gate_input","input":"door_forced","ts":"2026-11-27T09:00:00.000Z"}` + "\n")
	cur.WriteString("\n")
	cur.WriteString(`{"event_id":"s12","decision":"gran`) // torn by a crash, then ended with '\n' at open
	cur.WriteString("\n")
	old.WriteString(auditEvent(t, "s0", day(25, 0), record.DecisionGranted, shadowCheck(true))) // repeated: counted once
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl"), []byte(cur.String()), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl.1"), []byte(old.String()), 0o640))
	// Not the audit log: ignored.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.jsonl.bak"), []byte(auditEvent(t, "x", day(25, 9), record.DecisionGranted, shadowCheck(false, "planar_motion"))), 0o640))
	return dir
}

func TestLivenessReport(t *testing.T) {
	dir := writeAudit(t)
	code, out, errOut := runCmd(t, nil, "liveness", "report", "--audit", dir, "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	var got livenessReport
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 2, got.Files)
	assert.Equal(t, 15, got.Decisions) // e1-e3, s0-s11
	assert.Equal(t, 1, got.Unreadable)
	assert.Equal(t, "2026-11-20T08:01:00.000Z", got.First)
	assert.Equal(t, "2026-11-27T08:05:00.000Z", got.Last)
	assert.Equal(t, 1, got.Locked)
	sg := got.ShadowGranted
	assert.Equal(t, [4]int{10, 7, 2, 1}, [4]int{sg.Checks, sg.Live, sg.Refused, sg.Unavailable})
	assert.InDelta(t, 0.3, sg.DeniedRate, 1e-9)
	assert.InDelta(t, upper95(3, 10), sg.Upper95, 1e-9)
	assert.Equal(t, map[string]int{"planar_motion": 1, "wrong_direction": 1, "face_lost": 1}, sg.Reasons)
	assert.Equal(t, [4]int{1, 0, 1, 0}, [4]int{got.ShadowOther.Checks, got.ShadowOther.Live, got.ShadowOther.Refused, got.ShadowOther.Unavailable})
	assert.Equal(t, [4]int{2, 1, 1, 0}, [4]int{got.Enforced.Checks, got.Enforced.Live, got.Enforced.Refused, got.Enforced.Unavailable})

	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, out, "15 decisions, 2026-11-20T08:01:00.000Z to 2026-11-27T08:05:00.000Z")
	assert.Contains(t, out, "sessions the API granted (your workers, unless someone attacked during the trial): 10")
	assert.Contains(t, out, "challenge would have denied 3 (30.0 %; one-sided 95 % upper bound 60.7 %): refused 2, could not run 1")
	assert.Contains(t, out, "reasons: face_lost 1, planar_motion 1, wrong_direction 1")
	assert.Contains(t, out, "enforced checks (passive or challenge): 2")
	assert.Contains(t, out, "1 session(s) denied by the lockout without a check")
	assert.Contains(t, errOut, "1 line(s) skipped")
	assert.Contains(t, errOut, "first: audit.jsonl:15")

	// The window: the trial's last two days only.
	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", dir, "--since", "2026-11-26", "--until", "2026-11-27", "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	got = livenessReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 5, got.Decisions)
	assert.Equal(t, [4]int{3, 0, 2, 1}, [4]int{got.ShadowGranted.Checks, got.ShadowGranted.Live, got.ShadowGranted.Refused, got.ShadowGranted.Unavailable})
	assert.Equal(t, 0, got.Enforced.Checks)

	// One file of events (e.g. collected from MQTT) instead of a folder.
	code, out, errOut = runCmd(t, nil, "liveness", "report", "--audit", filepath.Join(dir, "audit.jsonl"), "--json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	got = livenessReport{}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, 10, got.ShadowGranted.Checks)
	assert.Equal(t, 0, got.Enforced.Checks)
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
	f.Fuzz(func(t *testing.T, line []byte) {
		r := newLivenessReport("x", reportWindow{})
		r.add(line)
		r.add(line) // the same event twice counts once
		r.finish()
		if r.Decisions > 1 {
			t.Fatalf("one line counted as %d decisions", r.Decisions)
		}
		for _, tl := range []livenessTally{r.ShadowGranted, r.ShadowOther, r.Enforced} {
			if tl.Live+tl.Refused+tl.Unavailable != tl.Checks || tl.Checks > 1 || tl.DeniedRate < 0 || tl.DeniedRate > 1 {
				t.Fatalf("inconsistent tally %+v", tl)
			}
		}
	})
}
