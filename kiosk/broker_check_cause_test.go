package kiosk

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// brokerWithErr is the fake broker with the connection error the real
// client keeps (*mqtt.Client.LastError: "nil once connected").
type brokerWithErr struct {
	fakeBroker
	err error
}

func (b *brokerWithErr) LastError() error { return b.err }

// Found by a red-team pass: the broker refuses the gate's MQTT credentials (a password
// rotated on the broker, an ACL user removed). mqtt.Client.Run gives up for
// good (docs/mqtt.md: "a configuration mistake does not fix itself") and
// logs it; no alert is counted, and the health's broker check reads
// "disconnected, outbox N", the same words as a broker rebooting for a
// minute. The operator on /healthz, Prometheus or the kiosk cannot tell a
// blip from a gate that will never publish again until someone fixes the
// password and restarts it; the cause is in the journal only.
func TestBrokerCheckSaysWhyDisconnected(t *testing.T) {
	r := newRig(t, nil)
	b := &brokerWithErr{err: errors.New(`mqtt: broker refused the credentials (user "gate-north"): not Authorized`)}
	r.k.deps.Broker = b
	h := r.k.selfTest(context.Background())
	c := h.Checks["broker"]
	if c.Status == HealthOK {
		t.Fatalf("broker check ok while disconnected: %+v", c)
	}
	if !strings.Contains(c.Detail, "refused the credentials") {
		t.Errorf("broker check detail %q: the health does not say why the gate is disconnected (credentials refused: it will not reconnect by itself)", c.Detail)
	}
}
