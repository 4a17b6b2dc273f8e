package kiosk

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/facegate/facegate/record"
)

func scrape(t *testing.T, k *Kiosk) string {
	t.Helper()
	rec := httptest.NewRecorder()
	k.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A door forced open and a tamper alarm reach /metrics as well as the
// alert and the audit log (TestGateInputIsAuditedAndAlerted): their
// counters exist at 0 from the start, so that the first one is an increase
// an alerting rule sees, and count each input.
func TestGateInputAlertsAreCounted(t *testing.T) {
	r := newRig(t, nil)
	before := scrape(t, r.k)
	for _, code := range []string{"door_forced", "door_held_open", "tamper_alarm", "input_fault"} {
		if want := `facegate_operator_alerts_total{code="` + code + `"} 0`; !strings.Contains(before, want) {
			t.Errorf("before any input the scrape lacks %s", want)
		}
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	r.k.GateInput(InputDoorForced, "", at)
	r.k.GateInput(InputDoorForced, "", at)
	r.k.GateInput(InputTamperAlarm, "", at)
	after := scrape(t, r.k)
	for _, want := range []string{
		`facegate_operator_alerts_total{code="door_forced"} 2`,
		`facegate_operator_alerts_total{code="tamper_alarm"} 1`,
		`facegate_operator_alerts_total{code="door_held_open"} 0`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// Openings outside sessions are counted by cause from 0: two exit presses
// and one evacuation hold (its release is no opening).
func TestOtherOpeningsAreCounted(t *testing.T) {
	r := newRig(t, nil)
	before := scrape(t, r.k)
	for _, want := range []string{`facegate_other_openings_total{cause="exit_button"} 0`, `facegate_other_openings_total{cause="evacuation_hold"} 0`} {
		if !strings.Contains(before, want) {
			t.Errorf("before any opening the scrape lacks %s", want)
		}
	}
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	r.k.ExitPressed(at)
	r.k.ExitPressed(at.Add(time.Second))
	r.k.RelayHeld(true, "evac-1")
	r.k.RelayHeld(false, "evac-1")
	after := scrape(t, r.k)
	for _, want := range []string{`facegate_other_openings_total{cause="exit_button"} 2`, `facegate_other_openings_total{cause="evacuation_hold"} 1`} {
		if !strings.Contains(after, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// Records of openings that could not be queued while the audit log hung
// are counted in an audit line of their own, with an audit_log alert.
func TestRecordsLostAreRecorded(t *testing.T) {
	r := newRig(t, nil)
	since := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	r.k.RecordsLost(map[string]int{InputExitPressed: 12, "relay_hold": 1}, since)
	b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
	if err != nil {
		t.Fatal(err)
	}
	var rec recordsLostRecord
	if err := json.Unmarshal(bytes.TrimSpace(b), &rec); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if rec.Kind != "records_lost" || rec.Lost[InputExitPressed] != 12 || rec.Lost["relay_hold"] != 1 || rec.Since != "2026-12-07T09:00:00.000Z" {
		t.Fatalf("record %+v", rec)
	}
	if codes := r.alertCodes(); !slices.Contains(codes, AlertAuditLog) {
		t.Fatalf("alerts %v, want %s", codes, AlertAuditLog)
	}
}

// Repeats of a gate input within inputQuiet are one audit line with their
// count (and one alert) at the window's end; the counter counts each.
func TestRepeatedGateInputsAreCountedInOneLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		start := time.Now()
		for i := range 50 {
			r.k.GateInput(InputDoorForced, "", start.Add(time.Duration(i)*100*time.Millisecond))
		}
		// The count goes out at the window's end, and a window follows in
		// case the chatter goes on; once a window passes without any, the
		// next input is written at once.
		time.Sleep(2*inputQuiet + time.Second)
		r.k.GateInput(InputDoorForced, "", time.Now())

		b, err := os.ReadFile(filepath.Join(r.cfg.StateDir, "audit", auditName))
		if err != nil {
			t.Fatal(err)
		}
		var lines []inputRecord
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec inputRecord
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, rec)
		}
		if len(lines) != 3 || lines[0].Repeated != 0 || lines[1].Repeated != 49 || lines[2].Repeated != 0 {
			t.Fatalf("audit lines %+v: want the first, then 49 repeats, then the next window's first", lines)
		}
		if lines[1].Since != record.Timestamp(start.Add(100*time.Millisecond)) || lines[1].TS != record.Timestamp(start.Add(4900*time.Millisecond)) {
			t.Fatalf("repeats from %s to %s", lines[1].Since, lines[1].TS)
		}
		if codes := r.alertCodes(); len(codes) != 3 {
			t.Fatalf("alerts %v: want one per line", codes)
		}
		if got := scrape(t, r.k); !strings.Contains(got, `facegate_operator_alerts_total{code="door_forced"} 51`) {
			t.Fatal("the counter does not count every door forced open")
		}
	})
}
