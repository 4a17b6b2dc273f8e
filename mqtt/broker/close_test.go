//go:build !race

// The race detector reports mochi's own WaitGroup use here: a client's
// connection (ClientsWg.Add in attachClient) and Server.Close
// (ClientsWg.Wait) have no happens-before edge when a connection is open
// as the broker closes, which is what these tests are about.

package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session, keep-alive 60 s
// and the client identifier "raw".
var connectPacket = []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 3, 'r', 'a', 'w'}

// TestCloseDropsConnectionsMidHandshake: a client whose connection was
// accepted before Close but which had not yet sent CONNECT must not hold
// Close up, nor get a session from a closed broker (mochi only disconnects
// the clients it has registered, a client registers after its CONNECT is
// read, and mochi waits for every connection).
func TestCloseDropsConnectionsMidHandshake(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Start(context.Background(), "127.0.0.1:0", tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			silent := tc.dial(t, b.Addr())
			defer silent.Close()
			// A connection the broker answers, so the silent one is
			// surely accepted too, not still in the kernel's backlog
			// (which any order of closing resets).
			probe := tc.dial(t, b.Addr())
			if err := probe.send(connectPacket); err != nil {
				t.Fatal(err)
			}
			if got, err := probe.recv(); err != nil || len(got) < 4 || got[0] != 0x20 || got[3] != 0 {
				t.Fatalf("CONNACK: % x, %v", got, err)
			}
			probe.Close()
			closed := make(chan error, 1)
			go func() { closed <- b.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close still waits after 10 s for a connection that has not sent CONNECT")
			}
			_ = silent.send(connectPacket)
			got, err := silent.recv()
			if err == nil {
				t.Fatalf("a closed broker answered a CONNECT: % x", got)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("a closed broker left a connection open with no answer")
			}
		})
	}
}

// transports are the broker's two ways in, each with how a test dials it.
var transports = []struct {
	name string
	opts []Option
	dial func(t *testing.T, addr string) stream
}{
	{"tcp", nil, dialTCP},
	{"websocket", []Option{WithWebsocket()}, dialWebsocket},
}

// stream is one client connection to the broker, below MQTT.
type stream interface {
	send([]byte) error
	recv() ([]byte, error) // what arrives within 5 s
	Close() error
}

type tcpStream struct{ net.Conn }

func dialTCP(t *testing.T, addr string) stream {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return tcpStream{c}
}

func (s tcpStream) send(p []byte) error { _, err := s.Write(p); return err }

func (s tcpStream) recv() ([]byte, error) {
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	n, err := io.ReadFull(s, buf)
	if n > 0 && err != nil {
		err = nil
	}
	return buf[:n], err
}

type wsStream struct{ *websocket.Conn }

func dialWebsocket(t *testing.T, addr string) stream {
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return wsStream{c}
}

func (s wsStream) send(p []byte) error { return s.WriteMessage(websocket.BinaryMessage, p) }

func (s wsStream) recv() ([]byte, error) {
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := s.ReadMessage()
	return p, err
}

// TestCloseDropsAConnectionMochiHasNotCounted: mochi counts a connection
// only once its goroutine runs, after Accept returned it; Close must drop
// one accepted just before the listener closed, which mochi did not wait
// for (a closed broker answered its CONNECT and kept it open).
func TestCloseDropsAConnectionMochiHasNotCounted(t *testing.T) {
	b, err := Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ours, peer := net.Pipe()
	defer peer.Close()
	b.conns.mu.Lock()
	b.conns.open[&trackedConn{Conn: ours, tracker: b.conns}] = struct{}{}
	b.conns.mu.Unlock()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the accepted connection after Close: %v, want it closed", err)
	}
}

// TestOversizedPacketIsRefused: a fixed header announcing more than
// maxPacketSize ends the connection at once (mochi allocated the 256 MiB
// announced before any CONNECT and waited for them).
func TestOversizedPacketIsRefused(t *testing.T) {
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Start(context.Background(), "127.0.0.1:0", append(tc.opts, WithUsers(map[string]string{"u": "p"}))...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			s := tc.dial(t, b.Addr())
			defer s.Close()
			if err := s.send([]byte{0x10, 0xff, 0xff, 0xff, 0x7f}); err != nil {
				t.Fatal(err)
			}
			got, err := s.recv()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the broker waits for a 256 MiB packet")
			}
			if err == nil {
				t.Fatalf("the broker answered % x, want the connection closed", got)
			}
		})
	}
}
