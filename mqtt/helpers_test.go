package mqtt

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/mqtt/broker"
)

// recorder collects what a broker subscription sees.
type recorder struct {
	mu       sync.Mutex
	events   []Event
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
		var ev Event
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

func testEvent(i int) Event {
	sim := 0.9
	return Event{
		EventID:      fmt.Sprintf("ev-%06d", i),
		Seq:          uint64(i),
		TS:           "2026-11-22T01:00:00.000Z",
		Decision:     DecisionGranted,
		Reason:       []string{"approved"},
		SubmissionID: "sub-123",
		UserID:       "u-1",
		Auth:         &Auth{AuthenticationID: "a-1", AuthStatus: "approved", Score: Score{FaceSimilarity: &sim}},
		LatencyMS:    Latency{Capture: 300, API: 400, Total: 700},
	}
}

func hmacHex(secret []byte, body string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
