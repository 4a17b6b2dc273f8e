package kiosk

import (
	"strings"
	"testing"
)

// Found by a red-team pass: Prometheus sees a counter's first increment only when its series
// existed before it (increase()/rate() over a series that first appears
// at 1 is 0). The kiosk starts some operator alert series at 0, not these
// ones, which need a person as much as any: record_failed (a grant not
// recorded, so not opened), relay_interrupted (raised at start after a
// power loss during a grant: the series is born at 1 in the first scrape
// of the new process, so no rate rule ever fires for it),
// api_invalid_response, disk_low, audit_log, outbox_filling and
// outbox_corrupt. A site alerting from Prometheus misses the first (and
// after every restart, the first again) of each.
func TestEveryKioskAlertSeriesStartsAtZero(t *testing.T) {
	r := newRig(t, nil)
	got := scrape(t, r.k)
	for _, code := range []string{AlertRecordFailed, AlertRelayInterrupted, AlertAPIInvalidResponse,
		AlertDiskLow, AlertAuditLog, AlertOutboxFilling, AlertOutboxCorrupt} {
		if want := `facegate_operator_alerts_total{code="` + code + `"} 0`; !strings.Contains(got, want) {
			t.Errorf("no %s before the first one: a Prometheus rule on increase() misses it", want)
		}
	}
}
