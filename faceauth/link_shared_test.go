package faceauth

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTimedOutPingDoesNotKillAWorkersAuthentication: the kiosk's
// self-test pings the API (GET history) on the same client, so on the same
// HTTP/2 connection, as the sessions' POSTs. When the ping times out (a
// slow history query: the connection itself is alive and answering), the
// attempt closes that shared connection (74f9fa8), and with it every
// stream multiplexed on it: a worker's POST in flight fails with a network
// error after it was sent, is not sent again (a POST), and the worker at
// the gate is refused though the API was about to approve them.
func TestTimedOutPingDoesNotKillAWorkersAuthentication(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			select { // a slow history query
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			io.WriteString(w, `[]`)
			return
		}
		time.Sleep(700 * time.Millisecond) // a normal face match
		io.WriteString(w, `{"auth_status":"approved","authentication_id":"a-1"}`)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, srv.URL+"/v3", func(o *Options) { o.CAFile = ca; o.Timeout = time.Second; o.MaxAttempts = 1 })
	defer c.CloseIdleConnections()
	if err := c.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	pingDone := make(chan error, 1)
	go func() { pingDone <- c.Ping(context.Background()) }()
	time.Sleep(500 * time.Millisecond)
	res, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	perr := <-pingDone
	if err != nil {
		t.Fatalf("a worker's authentication, answered by the API in 700 ms, failed: %v (the self-test's ping timed out meanwhile: %v)", err, perr)
	}
	if res.Status != StatusApproved {
		t.Fatalf("status %s", res.Status)
	}
}
