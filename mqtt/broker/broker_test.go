package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func connect(t *testing.T, url, user, pass string) error {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("t-" + user).
		SetUsername(user).SetPassword(pass).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		// A connection the broker accepted but never answered is not a
		// session: paho's token reports no error on a timeout.
		return errors.New("no CONNACK within 5 s")
	}
	if tok.Error() == nil {
		c.Publish("a/b", 1, true, "hello").WaitTimeout(5 * time.Second)
		c.Disconnect(100)
	}
	return tok.Error()
}

func TestBroker(t *testing.T) {
	got := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, "127.0.0.1:0",
		WithUsers(map[string]string{"gate": "pw"}),
		WithSubscription("a/#", func(topic string, payload []byte, retained bool) { got <- topic + " " + string(payload) }))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Fatalf("URL %s Addr %s", b.URL(), b.Addr())
	}
	if err := connect(t, b.URL(), "gate", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := connect(t, b.URL(), "gate", "pw"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	select {
	case m := <-got:
		if m != "a/b hello" {
			t.Fatalf("subscription got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription saw nothing")
	}
	if err := b.Publish("a/c", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "a/c x" {
		t.Fatalf("broker publish: %q", m)
	}
	cancel() // ctx closes the broker
	deadline := time.Now().Add(5 * time.Second)
	for connect(t, b.URL(), "gate", "pw") == nil {
		if time.Now().After(deadline) {
			t.Fatal("broker still accepts connections after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session, keep-alive 60 s
// and the client identifier "raw".
var connectPacket = []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 3, 'r', 'a', 'w'}

// TestCloseDropsConnectionsMidHandshake: a client whose TCP connection was
// accepted before Close but which had not yet sent CONNECT must not get a
// session from a closed broker (mochi only disconnects the clients it has
// registered, and a client registers after its CONNECT is read).
func TestCloseDropsConnectionsMidHandshake(t *testing.T) {
	b, err := Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Prove the broker holds the connection open before it closes: a
	// connection still in the kernel's backlog would be reset by any order.
	probe, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	writeAndReadConnack(t, probe)
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
	_, _ = conn.Write(connectPacket)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	n, err := conn.Read(buf)
	if err == nil && n > 0 {
		t.Fatalf("a closed broker answered a CONNECT: % x", buf[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a closed broker left a connection open with no answer")
	}
}

func writeAndReadConnack(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write(connectPacket); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 0x20 || buf[3] != 0 {
		t.Fatalf("CONNACK: % x, %v", buf, err)
	}
}
