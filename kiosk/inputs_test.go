package kiosk

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
