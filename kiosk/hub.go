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
	clients map[chan []byte]struct{}
	closed  bool
}

const (
	sseBuffer     = 64
	maxSSEClients = 32
)

func newHub() *hub { return &hub{clients: map[chan []byte]struct{}{}} }

// subscribe returns a channel of formatted SSE messages, or nil when the
// hub is full or closed. The channel is closed when the client is dropped.
func (h *hub) subscribe() chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= maxSSEClients {
		return nil
	}
	c := make(chan []byte, sseBuffer)
	h.clients[c] = struct{}{}
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
