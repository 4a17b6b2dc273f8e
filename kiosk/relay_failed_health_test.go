package kiosk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// Found by a red-team pass: the relay driver refuses the pulse (the GPIO chip gone, the line
// taken by another process: "device or resource busy"). Every grant ends
// "Gate did not open" and raises relay_failed, but
//   - the alert says only "the relay could not be energised for a grant":
//     the driver's error (what to fix) is in the journal only;
//   - the self-test's relay check stays ok: /healthz, <prefix>/health and
//     facegate_health_check{check="relay"} say the relay is fine while it
//     cannot open the gate at all.
func TestRelayDriverErrorReachesOperator(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, nil)
		r.relay.err = errors.New("gpiochip0 line 17: device or resource busy")
		stop := r.start(t)
		defer stop()
		if err := r.k.Identify(worker); err != nil {
			t.Fatal(err)
		}
		require.Eventually(t, func() bool { return len(r.pub.relayResults()) > 0 }, time.Minute, 100*time.Millisecond)
		_, _, alerts := r.pub.snapshot()
		var msg string
		for _, a := range alerts {
			if a.Code == ReasonRelayFailed {
				msg = a.Message
			}
		}
		if msg == "" {
			t.Fatalf("no relay_failed alert: %+v", alerts)
		}
		if !strings.Contains(msg, "device or resource busy") {
			t.Errorf("relay_failed alert %q does not say what the driver answered: the operator must read the journal", msg)
		}
		h := r.k.selfTest(context.Background())
		if c := h.Checks["relay"]; c.Status == HealthOK {
			t.Errorf("after a grant the relay could not open, the health's relay check is %q (%q): the health says the relay is fine", c.Status, c.Detail)
		}
	})
}
