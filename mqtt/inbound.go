package mqtt

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// inbound is a message copied off paho's callback goroutine.
type inbound struct {
	topic    string
	payload  []byte
	retained bool
}

// dispatch validates inbound messages off paho's goroutine and hands
// commands to the daemon.
func (c *Client) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.inbox:
			c.handle(m)
		}
	}
}

func (c *Client) handle(m inbound) {
	var cmd Command
	var err error
	switch {
	case m.topic == c.topics.HAStatus && c.opts.HomeAssistant.Enabled:
		if strings.TrimSpace(string(m.payload)) == "online" {
			select {
			case c.haAnnounce <- struct{}{}:
			default:
			}
		}
		return
	case m.topic == c.topics.CmdIdentify && c.opts.Identify:
		var id Identify
		id, err = ParseIdentify(m.payload)
		id.Received = c.clock.Now()
		switch {
		case err != nil:
		case m.retained:
			err = ErrRetained
		case !id.Issued.IsZero() && (id.Received.Sub(id.Issued) > c.opts.Open.MaxSkew || id.Issued.Sub(id.Received) > c.opts.Open.MaxSkew):
			err = fmt.Errorf("%w: identify issued %s, more than %s from the gate's clock", ErrStale, id.Issued.UTC().Format(time.RFC3339), c.opts.Open.MaxSkew)
		}
		cmd = id
	case m.topic == c.topics.CmdOpen && c.opts.Open.Enabled:
		if m.retained {
			err = ErrRetained
			break
		}
		cmd, err = c.verifier.Verify(m.payload)
	default:
		c.log.Debug("mqtt message on an unexpected topic ignored", "topic", m.topic)
		return
	}
	if err != nil {
		reason := refusalReason(err)
		c.refusals.Log(c.log, slog.LevelWarn, m.topic+"|"+reason, "mqtt command refused", "topic", m.topic, "reason", reason, "err", err)
		if errors.Is(err, ErrReplayMemory) {
			c.replayMemoryAlert(err)
		}
		return
	}
	switch v := cmd.(type) {
	case Identify:
		// The session it starts is logged by the kiosk: a reader stuck
		// sending one badge is not a line a read.
		c.log.Debug("mqtt identify command accepted", "user_id", v.UserID)
	case Open:
		c.replayMemoryWorks()
		c.log.Info("mqtt open command accepted", "by", v.By, "reason", v.Reason, "nonce", v.Nonce)
	}
	// Never wait for the reader: a verified open handed over late would
	// open the gate outside its signed time window.
	select {
	case c.commands <- cmd:
	case <-c.done:
	default:
		c.refusals.Log(c.log, slog.LevelWarn, m.topic+"|dropped", "mqtt command dropped: the gate is not reading commands", "topic", m.topic)
	}
}

// replayMemoryAlert tells the operator that remote opens are refused
// because the replay memory cannot be read or written: once per fault
// (until a signed command is accepted again), not once per command, which
// filled the alert queue with it while the broker was away.
func (c *Client) replayMemoryAlert(err error) {
	if c.replayAlerted.Swap(true) {
		return
	}
	c.log.Error("mqtt remote open refused until the replay memory is repaired", "err", err)
	msg := "remote open (cmd/open) refused: " + err.Error()
	if len(msg) > 1024 {
		msg = clipUTF8(msg, 1020) + "…"
	}
	if aerr := c.PublishAlert(Alert{Code: "open_replay_memory", Message: msg}); aerr != nil && !errors.Is(aerr, ErrClosed) {
		c.log.Warn("mqtt alert not published", "err", aerr)
	}
}

// replayMemoryWorks notes a signed command accepted: the replay memory
// read and saved it, and a later fault is alerted again.
func (c *Client) replayMemoryWorks() {
	if c.replayAlerted.Swap(false) {
		c.log.Info("mqtt replay memory works again: signed commands are accepted")
	}
}
