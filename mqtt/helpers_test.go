package mqtt

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// recorder collects what a broker subscription sees.
type recorder struct {
	mu       sync.Mutex
	events   []record.Event
	ids      map[string]int // event_id → times seen
	retained map[string]string
	changed  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{ids: map[string]int{}, retained: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) handle(topic string, payload []byte, _ bool) {
	r.mu.Lock()
	if filepath.Base(topic) == "event" {
		var ev record.Event
		if err := json.Unmarshal(payload, &ev); err == nil {
			r.events = append(r.events, ev)
			r.ids[ev.EventID]++
		}
	} else {
		r.retained[topic] = string(payload)
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *recorder) get(topic string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retained[topic]
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions(t *testing.T, url string) Options {
	return Options{
		URLs:         []string{url},
		ClientID:     "facegate-test-" + t.Name(),
		Prefix:       "facegate/site/gate",
		Site:         "site",
		Gate:         "gate",
		OutboxPath:   filepath.Join(t.TempDir(), "outbox.log"),
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		Logger:       quietLogger(),
	}
}

func startBroker(t *testing.T, addr string, opts ...broker.Option) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), addr, opts...)
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// runClient starts c.Run and closes c at the end of the test.
func runClient(t *testing.T, c *Client) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return errc
}

func testEvent(i int) record.Event {
	sim := 99.5
	return record.Event{
		EventID:      fmt.Sprintf("ev-%06d", i),
		Seq:          uint64(i),
		TS:           "2026-11-22T01:00:00.000Z",
		Decision:     record.DecisionGranted,
		Reason:       []string{"approved"},
		SubmissionID: "sub-123",
		UserID:       "u-1",
		Auth:         &record.Auth{AuthenticationID: "a-1", AuthStatus: "approved", Score: record.Score{FaceSimilarity: &sim}},
		LatencyMS:    record.Latency{Capture: 300, API: 400, Total: 700},
	}
}

func hmacHex(secret []byte, body string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// proxy forwards TCP to a broker and can cut every connection abruptly,
// as a dead network link would (the broker then sends the last will).
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	// stalled drops what clients send, as a broker that hangs would.
	stalled atomic.Bool
}

func (p *proxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { p.forward(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *proxy) url() string { return "tcp://" + p.l.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// history records every payload per topic, in arrival order.
type history struct {
	mu sync.Mutex
	m  map[string][]string
}

func newHistory() *history { return &history{m: map[string][]string{}} }

func (h *history) handle(topic string, payload []byte, _ bool) {
	h.mu.Lock()
	h.m[topic] = append(h.m[topic], string(payload))
	h.mu.Unlock()
}

func (h *history) of(topic string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.m[topic]...)
}

func (h *history) last(topic string) string {
	v := h.of(topic)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func (h *history) countPrefix(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for t, v := range h.m {
		if strings.HasPrefix(t, prefix) {
			n += len(v)
		}
	}
	return n
}

var tlsConfigNoCA = tls.Config{MinVersion: tls.VersionTLS12}

func jsonEvent(ev record.Event) ([]byte, error) { return json.Marshal(ev) }

// lockedBuffer is an io.Writer for logs written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
