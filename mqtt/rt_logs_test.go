package mqtt

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// rtLogBudget is what a steady flood of one kind of hostile or broken
// message may cost the journal: the first occurrence and a few periodic
// summaries, not a line per message (TestForgedUnlockListLogsOnce holds
// the unlock lists to one warning a list already).
const rtLogBudget = 20

// TestRtLogsForgedOpenCommandsAreNotALineEach: any client of the broker
// that may publish on <prefix>/cmd/open (an ACL mistake, a compromised
// Home Assistant, a script in a loop) sends unsigned or badly signed
// commands as fast as the broker passes them. Each is refused, as it
// must be, but each costs a warn line: at 100 a second that is 360,000
// lines an hour on the SD card's journal, rotating away the lines an
// operator needs, for a fault nobody is alerted to.
func TestRtLogsForgedOpenCommandsAreNotALineEach(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Open = OpenOptions{Enabled: true, Secret: testSecret}
	logs := &countingHandler{}
	o.Logger = slog.New(logs)
	c := newClient(t, o)
	const n = 2000
	for i := range n {
		c.handle(inbound{topic: c.topics.CmdOpen, payload: fmt.Appendf(nil, `{"ts":%d,"nonce":"n%015d","sig":"00"}`, i, i)})
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.LessOrEqual(t, logs.warns, rtLogBudget, "%d forged cmd/open made %d warn lines", n, logs.warns)
}

// TestRtLogsMalformedIdentifyFloodIsNotALineEach: a badge reader whose
// firmware sends a malformed body (or a stuck one sending it again and
// again) on cmd/identify: a warn line per message.
func TestRtLogsMalformedIdentifyFloodIsNotALineEach(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Identify = true
	logs := &countingHandler{}
	o.Logger = slog.New(logs)
	c := newClient(t, o)
	const n = 2000
	for range n {
		c.handle(inbound{topic: c.topics.CmdIdentify, payload: []byte(`{"submission_id":" stuck "}`)})
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.LessOrEqual(t, logs.warns, rtLogBudget, "%d malformed cmd/identify made %d warn lines", n, logs.warns)
}

// TestRtLogsGarbagePeerEventsAreNotALineEach: a peer gate of an older or
// broken version publishing events every other gate refuses (a site
// mismatch here) writes a warn line per event on every gate of the site,
// for as long as it runs.
func TestRtLogsGarbagePeerEventsAreNotALineEach(t *testing.T) {
	c, _ := unlockListGate(t)
	logs := &countingHandler{}
	c.log = slog.New(logs)
	const n = 2000
	for i := range n {
		c.handleSite(inbound{topic: testSite + "/exit/event", payload: fmt.Appendf(nil, `{"seq":%d,"garbage":true}`, i)})
		c.handleSite(inbound{topic: testSite + "/exit/event/relay", payload: []byte(`not json`)})
		c.handleSite(inbound{topic: testSite + "/evacuation", payload: []byte(`{}`)})
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.LessOrEqual(t, logs.warns, rtLogBudget, "%d garbage peer messages made %d warn lines", 3*n, logs.warns)
}
