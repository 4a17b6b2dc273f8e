package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logBudget is what a steady flood of one kind of hostile or broken
// message may cost the journal: the first occurrence and a few periodic
// summaries, not a line per message (TestForgedUnlockListLogsOnce holds
// the unlock lists to one warning a list already).
const logBudget = 20

// TestLogForgedOpenCommandsAreNotALineEach: any client of the broker
// that may publish on <prefix>/cmd/open (an ACL mistake, a compromised
// Home Assistant, a script in a loop) sends unsigned or badly signed
// commands as fast as the broker passes them. Each is refused, as it
// must be, but each costs a warn line: at 100 a second that is 360,000
// lines an hour on the SD card's journal, rotating away the lines an
// operator needs, for a fault nobody is alerted to.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogForgedOpenCommandsAreNotALineEach(t *testing.T) {
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
	require.LessOrEqual(t, logs.warns, logBudget, "%d forged cmd/open made %d warn lines", n, logs.warns)
}

// TestLogMalformedIdentifyFloodIsNotALineEach: a badge reader whose
// firmware sends a malformed body (or a stuck one sending it again and
// again) on cmd/identify: a warn line per message.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogMalformedIdentifyFloodIsNotALineEach(t *testing.T) {
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
	require.LessOrEqual(t, logs.warns, logBudget, "%d malformed cmd/identify made %d warn lines", n, logs.warns)
}

// TestLogGarbagePeerEventsAreNotALineEach: a peer gate of an older or
// broken version publishing events every other gate refuses (a site
// mismatch here) writes a warn line per event on every gate of the site,
// for as long as it runs.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogGarbagePeerEventsAreNotALineEach(t *testing.T) {
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
	require.LessOrEqual(t, logs.warns, logBudget, "%d garbage peer messages made %d warn lines", 3*n, logs.warns)
}

// TestLogReplayMemoryAlertIsOncePerFault: with the replay memory
// unreadable (corrupt at start) every signed cmd/open is refused, as
// documented, and raised as the alert open_replay_memory. But it is
// raised again for every command: a Home Assistant automation or an
// operator retrying an open sends an alert (and an error line) per try,
// and during a broker outage those alerts fill the 256-entry alert queue
// and push out the door_forced or relay_fault raised in it. The fault is
// one occurrence (the file is still corrupt): one alert, and its
// recovery.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogReplayMemoryAlertIsOncePerFault(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
	require.NoError(t, os.WriteFile(o.Open.ReplayPath, []byte("torn"), 0o640))
	c := newClient(t, o)
	before := len(c.retained.updates)
	const n = 100
	for i := range n {
		c.handle(inbound{topic: c.topics.CmdOpen, payload: signed(t, testSecret, OpenBody{TS: time.Now().Unix(), Nonce: nonceN(i + 1), Topic: c.topics.CmdOpen})})
	}
	raised := len(c.retained.updates) - before
	require.LessOrEqual(t, raised, 1, "%d signed opens refused for one unreadable replay memory raised %d more open_replay_memory alerts", n, raised)
}

// lineCounter counts every record at info level or above (the journal
// with the default log_level: info).
type lineCounter struct {
	mu    sync.Mutex
	lines int
}

func (h *lineCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *lineCounter) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	h.lines++
	h.mu.Unlock()
	return nil
}
func (h *lineCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineCounter) WithGroup(string) slog.Handler      { return h }

// TestLogStuckBadgeReaderIsNotALineEachRead: a badge reader stuck
// sending the same valid badge on cmd/identify (a jammed key, a firmware
// loop) at 10 a second: every read is "mqtt identify command accepted"
// at info level (and the daemon adds "command refused" for each one the
// busy kiosk refuses, cmd/facegate/run.go): 36,000+ lines an hour.
// So it was until 2026-12-08 (a red-team pass on months of faults).
func TestLogStuckBadgeReaderIsNotALineEachRead(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Identify = true
	logs := &lineCounter{}
	o.Logger = slog.New(logs)
	c := newClient(t, o)
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-c.Commands():
			case <-stop:
				return
			}
		}
	}()
	const n = 2000
	for range n {
		c.handle(inbound{topic: c.topics.CmdIdentify, payload: []byte(`{"submission_id":"kyc-7f3e2a","user_id":"w-10442"}`)})
	}
	close(stop)
	<-drained
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.LessOrEqual(t, logs.lines, logBudget, "%d identical cmd/identify made %d journal lines", n, logs.lines)
}
