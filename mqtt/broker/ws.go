package broker

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket on a listener the broker opened
// itself, as mochi's own (listeners.Websocket) does on one it opens in
// Serve: so the kernel's port is known at once, and the broker's
// connTracker sees every connection (Broker.Close).
type wsListener struct {
	id  string
	ln  net.Listener
	log *slog.Logger
	srv *http.Server
}

// newWebsocketListener serves on ln; scheme is "ws" or "wss" (ln then
// speaks TLS), which is also the listener's id.
func newWebsocketListener(scheme string, ln net.Listener) *wsListener {
	return &wsListener{id: scheme, ln: ln}
}

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Address() string  { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string { return l.id }

// Init prepares the HTTP server; mochi calls it before Serve, and Close
// may come before Serve has started.
func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	// A connection that is not upgraded (a plain request, then nothing)
	// is dropped after wsIdleTimeout, as a silent MQTT client is by
	// mochi's keep-alive; an upgraded one is the WebSocket's, without
	// the server's deadlines.
	l.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: wsIdleTimeout}
	return nil
}

// Serve upgrades each request to a WebSocket (subprotocol "mqtt", any
// origin, as mochi's listener) and hands it to mochi.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}, CheckOrigin: func(*http.Request) bool { return true }}
	l.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if err := establish(l.id, &wsConn{Conn: c.UnderlyingConn(), ws: c}); err != nil {
			l.log.Warn("websocket client", "error", err)
		}
	})
	// Broker.Close closes the listening socket before mochi closes this
	// listener: either way the server stopped because the broker closed.
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		l.log.Error("websocket listener stopped", "error", err, "listener", l.id)
	}
}

// Close disconnects mochi's clients, stops the HTTP server and closes
// the listening socket, which the server holds only once Serve has run
// (a Start that fails before Serve). Upgraded connections are no longer
// the server's (Broker.Close drops them).
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	closeClients(l.id)
	_ = l.srv.Close()
	_ = l.ln.Close() // already closed by the server or Broker.Close: nothing to report
}

// wsIdleTimeout: see Init.
var wsIdleTimeout = 30 * time.Second

// wsConn is one WebSocket as the byte stream mochi reads: binary messages
// back to back.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
	r  io.Reader // the message being read, nil between messages
}

var errNotBinary = errors.New("broker: websocket message is not binary")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue // an empty message, or the end of one read to the byte
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
