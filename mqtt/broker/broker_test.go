package broker

import (
	"context"
	"errors"
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
