package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRefusedReloadDoesNotPublishTheBrokerPassword: an operator puts the
// broker password in the URL, as docs/mqtt.md allows ("masked in config
// check's output and in every log line"), and the password has a space or
// a double quote (or the scheme lost a '/'). url.Parse refuses such a URL,
// the refusal quotes it through redact.URL, whose text fallback masks
// "scheme://…@" only when nothing between holds a space or a quote. The
// reload's refusal then goes, password included, to the journal, to
// systemd's STATUS= (systemctl status, readable by every user) and to the
// retained-less <prefix>/alert on the broker, read by every subscriber.
func TestRefusedReloadDoesNotPublishTheBrokerPassword(t *testing.T) {
	r := newRig(t, 0)
	r.start()
	r.waitOnlineAndIdle(t)
	for _, tc := range []struct{ pw, url string }{
		{"Hunter 2 broker", "tcp://gate:Hunter 2 broker@127.0.0.1:1883"},
		{`2broker-quoted`, `tcp://gate:Hunter\"2broker-quoted@127.0.0.1:1883`}, // %q escapes the quote: look for the rest,
		{"Hunter2-typo", "tcp:/gate:Hunter2-typo@127.0.0.1:1883"},
	} {
		before := r.notify.count()
		logsBefore := len(r.logs.String())
		r.writeConfig(strings.Replace(r.cfgYAML, "urls: [", "urls: [\""+tc.url+"\", ", 1))
		r.reload <- os.Interrupt
		require.Eventually(t, func() bool {
			return strings.Contains(r.logs.String()[logsBefore:], "configuration reload failed")
		}, 10*time.Second, 20*time.Millisecond, "the reload's refusal")
		require.Eventually(t, func() bool {
			r.bl.mu.Lock()
			defer r.bl.mu.Unlock()
			for _, a := range r.bl.alerts {
				if strings.Contains(a.Message, "reload") {
					return true
				}
			}
			return false
		}, 10*time.Second, 20*time.Millisecond, "the reload alert on the broker")
		time.Sleep(100 * time.Millisecond) // STATUS=
		r.bl.mu.Lock()
		for _, a := range r.bl.alerts {
			if strings.Contains(a.Message, tc.pw) {
				t.Errorf("MQTT alert carries the broker password %q: %s", tc.pw, a.Message)
			}
		}
		r.bl.alerts = nil
		r.bl.mu.Unlock()
		r.notify.mu.Lock()
		for _, m := range r.notify.msgs[before:] {
			if strings.Contains(m, tc.pw) {
				t.Errorf("sd_notify carries the broker password %q: %q", tc.pw, m)
			}
		}
		r.notify.mu.Unlock()
		if l := r.logs.String()[logsBefore:]; strings.Contains(l, tc.pw) {
			t.Errorf("the journal carries the broker password %q", tc.pw)
		}
	}
}
