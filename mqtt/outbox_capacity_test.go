package mqtt

import (
	"errors"
	"testing"

	"github.com/facegate/facegate/mqtt/outbox"
)

// OutboxCapacity is documented (kiosk.BrokerMonitor) as "how many it
// holds: at that depth new decisions cannot be recorded", and the kiosk's
// outbox check (and alert outbox_filling) turns degraded at 80 % of it.
// The outbox refuses a record at MaxRecords or at MaxBytes, whichever
// comes first; mqtt.outbox.max_bytes may be set down to 1 MiB (a small SD
// card), where the bytes bind after about two thousand events: the outbox
// is full, every decision's record refused (a grant does not open), with
// the depth at a few per cent of the capacity the check measures, so
// outbox_filling is never raised.
func TestOutboxCapacityIsWhereDecisionsAreRefused(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1") // never connected
	o.OutboxMaxBytes = 1 << 20
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	for i := 1; ; i++ {
		err := c.PublishEvent(testEvent(i))
		if errors.Is(err, outbox.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 200000 {
			t.Fatal("never full")
		}
	}
	depth, capacity := c.OutboxDepth(), c.OutboxCapacity()
	if float64(depth) < 0.8*float64(capacity) {
		t.Fatalf("the outbox refuses new events at depth %d, but OutboxCapacity says %d (the outbox check degrades at %d): no outbox_filling before decisions are refused",
			depth, capacity, int(0.8*float64(capacity)))
	}
}
