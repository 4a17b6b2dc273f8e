// Package broker is a small in-process MQTT broker (mochi-mqtt) for
// `facegate demo` and for hermetic tests: TCP (or WebSocket) on the address
// given, with optional TLS and username/password, retained messages, wills and
// persistent sessions held in memory.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Handler receives a message published on a subscribed filter. It is called
// on the broker's goroutine and must not block.
type Handler func(topic string, payload []byte, retained bool)

// Option configures Start.
type Option func(*config)

type config struct {
	ws    bool
	tls   *tls.Config
	users map[string]string
	log   *slog.Logger
	subs  []sub
}

type sub struct {
	filter string
	fn     Handler
}

// WithTLS serves TLS (the URL becomes ssl://).
func WithTLS(c *tls.Config) Option { return func(o *config) { o.tls = c } }

// WithWebsocket serves MQTT over WebSocket instead of plain TCP (the URL
// becomes ws://, or wss:// with WithTLS).
func WithWebsocket() Option { return func(o *config) { o.ws = true } }

// WithUsers accepts only these username/password pairs (default: anyone).
func WithUsers(users map[string]string) Option { return func(o *config) { o.users = users } }

// WithLogger logs the broker's messages (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.log = l } }

// WithSubscription subscribes fn to filter before the first client can
// connect, so that no message is missed.
func WithSubscription(filter string, fn Handler) Option {
	return func(o *config) { o.subs = append(o.subs, sub{filter, fn}) }
}

// Broker is a running broker.
type Broker struct {
	srv    *mochi.Server
	conns  *connTracker
	url    string
	once   sync.Once
	closed chan struct{}
	nextID int
	mu     sync.Mutex
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close or
// until ctx is done.
func Start(ctx context.Context, addr string, opts ...Option) (*Broker, error) {
	cfg := config{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	caps := mochi.NewDefaultServerCapabilities()
	// mochi's default is no limit: five bytes announcing a 256 MiB packet,
	// before any CONNECT, made it allocate that much.
	caps.MaximumPacketSize = maxPacketSize
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: cfg.log, Capabilities: caps})
	var hookErr error
	if cfg.users != nil {
		var rules auth.AuthRules
		for u, p := range cfg.users {
			rules = append(rules, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(p), Allow: true})
		}
		hookErr = srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Auth: rules}})
	} else {
		hookErr = srv.AddHook(new(auth.AllowHook), nil)
	}
	if hookErr != nil {
		return nil, fmt.Errorf("broker: auth hook: %w", hookErr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	conns := &connTracker{Listener: ln, open: map[net.Conn]struct{}{}}
	var served net.Listener = conns
	if cfg.tls != nil {
		served = tls.NewListener(conns, cfg.tls)
	}
	var l listeners.Listener = listeners.NewNet("tcp", served)
	scheme := "tcp"
	if cfg.ws {
		scheme = "ws"
		if cfg.tls != nil {
			scheme = "wss"
		}
		l = newWebsocketListener(scheme, served)
	}
	if err := srv.AddListener(l); err != nil {
		conns.Close()
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	b := &Broker{srv: srv, conns: conns, closed: make(chan struct{})}
	for _, s := range cfg.subs {
		if err := b.Subscribe(s.filter, s.fn); err != nil {
			srv.Close()
			return nil, err
		}
	}
	if cfg.tls != nil && scheme == "tcp" {
		scheme = "ssl"
	}
	b.url = scheme + "://" + l.Address()
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-b.closed:
		}
	}()
	return b, nil
}

// URL is the broker's address for clients, e.g. tcp://127.0.0.1:40123.
func (b *Broker) URL() string { return b.url }

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string {
	_, a, _ := cutScheme(b.url)
	return a
}

// Subscribe calls fn for every message published on filter.
func (b *Broker) Subscribe(filter string, fn Handler) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.mu.Unlock()
	err := b.srv.Subscribe(filter, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, append([]byte(nil), pk.Payload...), pk.FixedHeader.Retain)
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe %s: %w", filter, err)
	}
	return nil
}

// Publish publishes as the broker itself (QoS 1).
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if err := b.srv.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	return nil
}

// Close stops the broker and drops every connection. Safe to call twice.
// It stops accepting first, lets mochi disconnect its clients, and drops
// after closeGrace the connections still open (one that never sent
// CONNECT, which mochi would wait for).
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() {
		close(b.closed)
		// mochi stops accepting only after it has disconnected its
		// registered clients, and then waits for every connection,
		// including one that never sent CONNECT. Stop accepting first, let
		// mochi say goodbye to its clients, then drop what is left.
		b.conns.Close()
		stopped := make(chan error, 1)
		go func() { stopped <- b.srv.Close() }()
		select {
		case err = <-stopped:
		case <-time.After(closeGrace):
			b.conns.dropAll()
			err = <-stopped
		}
		// mochi counts a connection only once its goroutine runs, after
		// Accept returned it: one accepted just before the listener
		// closed was not waited for, and would be served by a closed
		// broker. Drop it, and any Accept still returns.
		b.conns.shutDown()
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("broker: close: %w", err)
	}
	return nil
}

// closeGrace is how long Close lets mochi disconnect its clients before it
// drops the connections still open.
const closeGrace = time.Second

// maxPacketSize bounds an MQTT packet, fixed header included: far above
// the largest the daemon publishes (a site's failure list, at most 2 MiB).
const maxPacketSize = 16 << 20

// connTracker is the broker's listening socket, remembering every
// connection it accepted until that connection is closed.
type connTracker struct {
	net.Listener
	mu   sync.Mutex
	open map[net.Conn]struct{}
	shut bool // the broker is closed: a connection accepted now is closed at once
}

func (t *connTracker) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, tracker: t}
	t.mu.Lock()
	if t.shut {
		t.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	t.open[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// shutDown closes every connection still open and any accepted later.
func (t *connTracker) shutDown() {
	t.mu.Lock()
	t.shut = true
	t.mu.Unlock()
	t.dropAll()
}

// dropAll closes every connection still open.
func (t *connTracker) dropAll() {
	t.mu.Lock()
	open := make([]net.Conn, 0, len(t.open))
	for c := range t.open {
		open = append(open, c)
	}
	t.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	tracker *connTracker
	once    sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.tracker.mu.Lock()
		delete(c.tracker.open, c)
		c.tracker.mu.Unlock()
	})
	return c.Conn.Close()
}

func cutScheme(u string) (string, string, bool) {
	for i := 0; i+2 < len(u); i++ {
		if u[i:i+3] == "://" {
			return u[:i], u[i+3:], true
		}
	}
	return "", u, false
}
