package kiosk

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/facegate/facegate/record"
)

// Found by a red-team pass: the outbox's file system is full (or the file read-only): the
// outbox refuses records while it holds 1 event of 100,000. The outbox
// check turns degraded and the alert raised for it is outbox_filling,
// which docs/mqtt.md and docs/operations.md define as "80 % of the bound
// undelivered (the broker has been away long) ... bring the broker back".
// A Home Assistant automation or a pager rule keyed on the code sends the
// operator to the broker, which is fine; the card is what is full. The
// code must name what happened (the message does, the code does not).
func TestOutboxRefusingRecordsIsNotOutboxFilling(t *testing.T) {
	pub := &fakePublisher{}
	brk := &fakeBroker{connected: true}
	brk.setDepth(1)
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Broker: brk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pub.mu.Lock()
	pub.eventErr = syscall.ENOSPC
	pub.mu.Unlock()
	ev := record.Event{Decision: record.DecisionDenied, Reason: []string{"x"}}
	_ = k.record(&session{}, &ev, outcome{})
	k.setHealth(k.selfTest(context.Background()))
	_, _, alerts := pub.snapshot()
	for _, a := range alerts {
		if a.Code == AlertOutboxFilling && strings.Contains(a.Message, "no space left") {
			t.Errorf("an outbox that refuses records (ENOSPC, 1 event queued of %d) is alerted as %s: %q", fakeOutboxCapacity, a.Code, a.Message)
		}
	}
}
