package faceauth

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWarmKeepsTheConnectionForAuthenticate: after Warm, Authenticate goes
// over the connection Warm opened (one TCP connection, one TLS handshake),
// and Warm itself never carries the key.
func TestWarmKeepsTheConnectionForAuthenticate(t *testing.T) {
	var conns atomic.Int32
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		if r.Method == http.MethodOptions {
			if r.Header.Get("x-api-key") != "" {
				t.Error("Warm sent the API key")
			}
			w.WriteHeader(http.StatusMethodNotAllowed) // any status keeps the connection
			io.WriteString(w, `{"message":"Method Not Allowed"}`)
			return
		}
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.CAFile = ca })
	if err := c.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections after Warm, want 1", n)
	}
	if _, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg}); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections after Warm and Authenticate, want 1 (the warm one reused)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(methods) != 2 || methods[0] != http.MethodOptions || methods[1] != http.MethodPost {
		t.Fatalf("requests %v, want OPTIONS then POST", methods)
	}
}

func TestWarmErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	c, _ := newTestClient(t, url, nil)
	ae := asAPIError(t, c.Warm(context.Background()))
	if ae.Code != CodeNetwork || ae.Class != ClassTransient {
		t.Fatalf("closed port: %+v", ae)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ae := asAPIError(t, c.Warm(ctx)); ae.Code != CodeCanceled {
		t.Fatalf("canceled: %+v", ae)
	}
}
