package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt/broker"
)

// operatorAlerts is the operator alert lines of the daemon's log.
func (r *rig) operatorAlerts() []string {
	var out []string
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(l, `msg="operator alert"`) {
			out = append(out, l)
		}
	}
	return out
}

// Found by a red-team pass: the broker refuses the gate's MQTT credentials (the password
// rotated on the broker but not on the gate). The MQTT side stops for good
// (docs/mqtt.md), so no event or alert will ever be published until the
// config is fixed and the daemon restarted; the daemon logs "mqtt stopped"
// and nothing else: facegate_operator_alerts_total stays 0 and /healthz
// says "disconnected, outbox N", the words of a broker that is rebooting.
func TestBrokerRefusesCredentialsTellsTheOperator(t *testing.T) {
	r := newRig(t, 0)
	r.broker.Close()
	var err error
	r.broker, err = broker.Start(context.Background(), "127.0.0.1:0", broker.WithUsers(map[string]string{"gate-north": "the-new-password"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.broker.Close() })
	yaml := strings.Replace(r.cfgYAML, "  enabled: true\n  urls: [", "  enabled: true\n  username: gate-north\n  password: the-old-password\n  urls: [", 1)
	yaml = regexpReplaceURL(yaml, r.broker.URL())
	r.writeConfig(yaml)
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	require.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "refused the credentials") }, 10*time.Second, 50*time.Millisecond, "credentials refused")
	time.Sleep(2500 * time.Millisecond) // two self-tests
	_, health := r.get("/healthz")
	_, metrics := r.get("/metrics")
	if !strings.Contains(health, "credentials") {
		t.Errorf("/healthz does not say the broker refused the credentials (the gate will not reconnect by itself): %s", health)
	}
	if len(r.operatorAlerts()) == 0 {
		var lines []string
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, "facegate_operator_alerts_total") || strings.HasPrefix(l, "facegate_broker_connected") {
				lines = append(lines, l)
			}
		}
		t.Errorf("no operator alert for refused MQTT credentials (the MQTT side has stopped for good); metrics:\n%s", strings.Join(lines, "\n"))
	}
	r.stop()
}

// regexpReplaceURL points the config's mqtt.urls at url.
func regexpReplaceURL(yaml, url string) string {
	i := strings.Index(yaml, "  urls: [")
	j := strings.Index(yaml[i:], "]")
	return yaml[:i] + "  urls: [" + url + yaml[i+j:]
}
