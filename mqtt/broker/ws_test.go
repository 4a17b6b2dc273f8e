package broker

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestWebsocketStream: binary messages read as one byte stream, whatever
// their sizes (empty ones too), and a text message is an error.
func TestWebsocketStream(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			got <- "upgrade: " + err.Error()
			return
		}
		defer c.Close()
		conn := &wsConn{Conn: c.UnderlyingConn(), ws: c}
		var sb strings.Builder
		buf := make([]byte, 3) // smaller than a message: read in pieces
		for {
			n, err := conn.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				if errors.Is(err, errNotBinary) {
					sb.WriteString("|not binary")
				} else {
					sb.WriteString("|" + err.Error())
				}
				got <- sb.String()
				return
			}
		}
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"", "MQ", "TT-packet", "", "!"} {
		if err := c.WriteMessage(websocket.BinaryMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("text")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "MQTT-packet!|not binary" {
			t.Fatalf("read %q, want the binary messages' bytes in order, then the text message refused", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing read")
	}
}
