package kiosk

import (
	"bytes"
	"encoding/json"
	"sync"
)

// hub fans server-sent events out to the page's connections. A client that
// falls behind by more than its buffer is dropped (its EventSource
// reconnects and starts again from the current state) so that no slow
// client holds up the session.
type hub struct {
	mu      sync.Mutex
	clients map[chan []byte]string // → the remote host, "" for this machine
	closed  bool
}

// Streams from other machines (kiosk.allow_remote) take at most
// maxRemoteSSE of the maxSSEClients slots, and maxSSEPerHost each: a host
// on the network holding every slot shut the kiosk page's own stream out
// (the screen said "Gate offline": no arrow, no result).
const (
	sseBuffer     = 64
	maxSSEClients = 32
	maxRemoteSSE  = 16
	maxSSEPerHost = 4
)

func newHub() *hub { return &hub{clients: map[chan []byte]string{}} }

// subscribe is subscribeFrom this machine.
func (h *hub) subscribe() chan []byte { return h.subscribeFrom("") }

// subscribeFrom returns a channel of formatted SSE messages for a client
// on host ("" for this machine), or nil when the hub is full for it or
// closed. The channel is closed when the client is dropped.
func (h *hub) subscribeFrom(host string) chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= maxSSEClients {
		return nil
	}
	if host != "" {
		remote, same := 0, 0
		for _, hc := range h.clients {
			if hc != "" {
				remote++
			}
			if hc == host {
				same++
			}
		}
		if remote >= maxRemoteSSE || same >= maxSSEPerHost {
			return nil
		}
	}
	c := make(chan []byte, sseBuffer)
	h.clients[c] = host
	return c
}

func (h *hub) unsubscribe(c chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c)
	}
}

// send formats one event and queues it for every client.
func (h *hub) send(event string, v any) {
	msg := sseMessage(event, v)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- msg:
		default:
			delete(h.clients, c)
			close(c)
		}
	}
}

// close ends every client's stream.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c)
	}
}

// sseMessage is "event: <name>\ndata: <json>\n\n" (JSON has no raw newlines).
func sseMessage(event string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{"error":"unencodable"}`)
	}
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}
