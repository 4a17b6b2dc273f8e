package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFailedStartFreesThePort: a Start that fails after its listener was
// added (here an invalid subscription) closes the listening socket, over
// WebSocket too, whose HTTP server never got it.
func TestFailedStartFreesThePort(t *testing.T) {
	for _, ws := range []bool{false, true} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		opts := []Option{WithSubscription("a/#/b", func(string, []byte, bool) {})}
		if ws {
			opts = append(opts, WithWebsocket())
		}
		if _, err := Start(context.Background(), addr, opts...); err == nil {
			t.Fatal("Start accepted an invalid filter")
		}
		again, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("websocket %v: the port is still bound after a failed Start: %v", ws, err)
		}
		again.Close()
	}
}

// TestAcceptAfterShutDownCloses: a connection the listener returns once
// the broker is closed is closed, not handed to mochi.
func TestAcceptAfterShutDownCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &connTracker{Listener: ln, open: map[net.Conn]struct{}{}}
	defer tr.Close()
	tr.shutDown()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := tr.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after shutDown: %v, %v; want net.ErrClosed", got, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the client of a connection accepted after shutDown reads %v, want EOF", err)
	}
}

// TestWebsocketCloseLogsNoError: a clean Close is not an error in the log
// (the listening socket closes before the HTTP server does).
func TestWebsocketCloseLogsNoError(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := Start(context.Background(), "127.0.0.1:0", WithWebsocket(), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	// A request answered: the HTTP server is serving.
	resp, err := http.Get("http://" + b.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // Serve returns on its own goroutine
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(buf.String(), "level=ERROR") {
		t.Fatalf("a clean Close logged an error: %s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestIdleHTTPConnectionIsDropped: a connection that made a plain request
// and then says nothing is closed after wsIdleTimeout (it was held for
// as long as the client wished).
func TestIdleHTTPConnectionIsDropped(t *testing.T) {
	defer func(d time.Duration) { wsIdleTimeout = d }(wsIdleTimeout)
	wsIdleTimeout = 200 * time.Millisecond
	b, err := Start(context.Background(), "127.0.0.1:0", WithWebsocket())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("an idle HTTP connection after 5 s: %v, want it closed", err)
	}
}
