package mqtt

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/leakcheck"
	"github.com/facegate/facegate/mqtt/broker"
)

// Leak tests: a gate runs for months on a network that comes and goes. One
// goroutine or socket kept per reconnect would eventually kill it, so these
// run many fault cycles and require goroutines and fds back at the baseline.
// They must not call t.Parallel (the counts are process-wide).

// leakSlack absorbs runtime noise (a timer goroutine, a GC worker); it is far
// below the cycle counts, so one leak per cycle still fails.
var leakSlack = leakcheck.Options{Goroutines: 3, FDs: 2, Wait: 15 * time.Second}

// fastReconnect makes every cycle cheap: backoff only delays the test.
func fastReconnect(o Options) Options {
	o.ReconnectMin = 2 * time.Millisecond
	o.ReconnectMax = 10 * time.Millisecond
	o.ConnectTimeout = 2 * time.Second
	// A publish caught by a loss holds paho (and Run) this long.
	o.WriteTimeout = 250 * time.Millisecond
	return o
}

// warmUp runs the client and broker once so that one-time initialisation
// (the netpoller's epoll and event fds, mochi's and paho's package state)
// is in the baseline.
func warmUp(t *testing.T) {
	t.Helper()
	b := startBroker(t, "127.0.0.1:0")
	c := newClient(t, fastReconnect(testOptions(t, b.URL())))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "warm-up connection")
	closeClient(t, c, errc)
	b.Close()
}

func closeClient(t *testing.T, c *Client, errc <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// The broker goes away and comes back on the same address many times while
// events are published, connected and not: every event arrives, and neither
// the reconnects nor Close leave a goroutine or a socket behind.
func TestBrokerFlappingLeaksNothing(t *testing.T) {
	warmUp(t)
	base := leakcheck.TakeSettled()

	const cycles, perCycle = 60, 4
	rec := newRecorder()
	start := func(addr string) *broker.Broker {
		b, err := broker.Start(context.Background(), addr, broker.WithSubscription(prefix+"/event", rec.handle))
		if err != nil {
			t.Fatalf("start embedded broker on %s: %v", addr, err)
		}
		return b
	}
	b := start("127.0.0.1:0")
	addr := b.Addr()
	c := newClient(t, fastReconnect(testOptions(t, b.URL())))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()

	n := 0
	publish := func() {
		for range perCycle {
			n++
			if err := c.PublishEvent(testEvent(n)); err != nil {
				t.Fatalf("PublishEvent %d: %v", n, err)
			}
		}
	}
	var running leakcheck.Snapshot
	for i := range cycles {
		require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected again")
		if i == 1 {
			// Connected after one reconnect: the level every later
			// connected cycle must come back to.
			running = leakcheck.TakeSettled()
		}
		publish()
		b.Close()
		// Promptly, even when a publish was caught by the loss and holds
		// Run in paho for up to WriteTimeout.
		require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "the lost broker noticed")
		publish()
		b = start(addr)
	}
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected at the end")
	require.Eventually(t, func() bool { return rec.distinct() == n }, 15*time.Second, 5*time.Millisecond, "every event delivered")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 10*time.Second, 5*time.Millisecond, "outbox drained")
	t.Logf("%d broker restarts, %d events published, %d distinct ids delivered (%d messages with duplicates)",
		cycles, n, rec.distinct(), len(rec.events))
	leakcheck.Check(t, running, leakSlack) // while connected, before Close

	closeClient(t, c, errc)
	b.Close()
	leakcheck.Check(t, base, leakSlack)
}

// connectFailures counts the client's failed connection attempts in its log.
type connectFailures struct {
	slog.Handler
	n *atomic.Int64
}

func (h connectFailures) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "mqtt connect failed" {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h connectFailures) WithAttrs(a []slog.Attr) slog.Handler {
	return connectFailures{h.Handler.WithAttrs(a), h.n}
}

func (h connectFailures) WithGroup(g string) slog.Handler {
	return connectFailures{h.Handler.WithGroup(g), h.n}
}

// Nothing listens on the broker's address for many retries (connection
// refused each time); the events queued meanwhile arrive once it listens,
// and the retries leave nothing behind.
func TestRefusedConnectionRetriesLeakNothing(t *testing.T) {
	warmUp(t)
	base := leakcheck.TakeSettled()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every connect is refused

	const retries, events = 200, 20
	var failures atomic.Int64
	o := fastReconnect(testOptions(t, "tcp://"+addr))
	o.Logger = slog.New(connectFailures{quietLogger().Handler(), &failures})
	c := newClient(t, o)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	for i := 1; i <= events; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	require.Eventually(t, func() bool { return failures.Load() >= retries }, 20*time.Second, 5*time.Millisecond, "refused connection attempts")
	if c.Connected() {
		t.Fatal("connected with nothing listening")
	}
	refused := failures.Load()
	leakcheck.Check(t, leakcheck.Snapshot{Goroutines: base.Goroutines + 1, FDs: base.FDs + 1}, leakSlack) // + Run's goroutine and the outbox file

	rec := newRecorder()
	b, err := broker.Start(context.Background(), addr, broker.WithSubscription(prefix+"/event", rec.handle))
	if err != nil {
		t.Fatalf("start embedded broker on %s: %v", addr, err)
	}
	require.Eventually(t, func() bool { return rec.distinct() == events }, 10*time.Second, 5*time.Millisecond, "queued events after the broker listens")
	t.Logf("%d refused connection attempts, then %d queued events delivered", refused, rec.distinct())
	closeClient(t, c, errc)
	b.Close()
	leakcheck.Check(t, base, leakSlack)
}

// The link dies abruptly (RST, no DISCONNECT, the broker stays up and sends
// the will) many times while events are published: every event arrives and
// nothing is left behind.
func TestAbruptLinkLossLeaksNothing(t *testing.T) {
	warmUp(t)
	rec := newRecorder()
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/event", rec.handle),
		broker.WithSubscription(prefix+"/status", h.handle))
	p := newProxy(t, b.Addr())
	onlines := func() int {
		n := 0
		for _, s := range h.of(prefix + "/status") {
			if s == "online" {
				n++
			}
		}
		return n
	}
	base := leakcheck.TakeSettled() // the broker and the proxy's listener are in it

	const cycles, perCycle = 50, 4
	c := newClient(t, fastReconnect(testOptions(t, p.url())))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	n := 0
	for range cycles {
		require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected again")
		for range perCycle {
			n++
			if err := c.PublishEvent(testEvent(n)); err != nil {
				t.Fatalf("PublishEvent %d: %v", n, err)
			}
		}
		before := onlines()
		p.cut()
		// Not !Connected: the reconnect may be quicker than a poll.
		require.Eventually(t, func() bool { return onlines() > before }, 10*time.Second, 5*time.Millisecond, "online again after the cut")
	}
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected at the end")
	require.Eventually(t, func() bool { return rec.distinct() == n }, 15*time.Second, 5*time.Millisecond, "every event delivered")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 10*time.Second, 5*time.Millisecond, "outbox drained")
	closeClient(t, c, errc)
	p.cut() // the proxy's copies of the last connection end with it
	got := leakcheck.Check(t, base, leakSlack)
	t.Logf("%d abrupt cuts, %d events, %d distinct delivered (%d with duplicates): %v before, %v after",
		cycles, n, rec.distinct(), len(rec.events), base, got)
}
