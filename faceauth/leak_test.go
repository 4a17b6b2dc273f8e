package faceauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/leakcheck"
)

// faultyAPI answers by the base URL's last element: a 503 error body, a
// reset connection, no answer at all (until the client gives up), or an
// approval.
func faultyAPI(t *testing.T) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does net/http watch the
		// connection and cancel r.Context() when the client hangs up.
		io.Copy(io.Discard, r.Body)
		switch path.Base(path.Dir(r.URL.Path)) {
		case "5xx":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errorCode":"server_busy","message":"try later"}`)
		case "reset":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
			conn.Close()
		case "hang":
			select {
			case <-r.Context().Done():
			case <-done: // the test failed midway: let srv.Close return
			}
		case "ok":
			if r.Method == http.MethodGet { // Ping reads one history record
				io.WriteString(w, `[{"faceAuth_projectId":"p","data":[{"auth_id":"id-1","auth_status":"approved","create_time":"2025-01-01T00:00:00.000Z"}]}]`)
				return
			}
			io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
		default:
			http.Error(w, "unknown mode", http.StatusBadRequest)
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

// Many calls against an API that fails in every way a flaky network does
// leave no goroutine or socket behind. Each fault has its own Client on the
// production transport; while running, only idle keep-alive connections
// stay (at most two per Client), and CloseIdleConnections takes the level
// back to the one before the calls.
func TestFaultCyclesLeakNothing(t *testing.T) {
	srv := faultyAPI(t)
	modes := []string{"5xx", "reset", "hang", "ok"}
	clients := map[string]*Client{}
	for _, m := range modes {
		clients[m], _ = newTestClient(t, srv.URL+"/"+m, func(o *Options) { o.Timeout = 5 * time.Second })
	}
	closeIdle := func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}
	req := Request{SubmissionID: "s", Image: jpeg}

	// Warm up: the netpoller exists before the baseline.
	if _, err := clients["ok"].Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	closeIdle()
	base := leakcheck.TakeSettled()

	const cycles = 60
	calls := map[string]int{}
	for i := range cycles {
		for _, m := range modes {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if m == "hang" {
				// The caller's deadline, not a slow per-attempt
				// timeout: 30ms per hanging call keeps the test fast.
				ctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
			}
			var err error
			if i%2 == 0 {
				_, err = clients[m].Authenticate(ctx, req)
			} else {
				err = clients[m].Ping(ctx) // a GET: retried, so more attempts per call
			}
			cancel()
			if got := outcome(err); got != m {
				t.Fatalf("cycle %d mode %s: outcome %s (%v)", i, m, got, err)
			}
			calls[m]++
		}
	}
	// Idle keep-alive connections may stay: at most two per Client, each
	// two client goroutines, one server goroutine and a socket at either end.
	t.Logf("right after the calls: %v", leakcheck.Take())
	const maxIdle = 2 * 4
	leakcheck.Check(t, base, leakcheck.Options{Goroutines: 3*maxIdle + 2, FDs: 2*maxIdle + 1, Wait: 15 * time.Second})
	closeIdle()
	leakcheck.Check(t, base, leakcheck.Options{Goroutines: 2, FDs: 1, Wait: 15 * time.Second})
	t.Logf("%d calls: %v", cycles*len(modes), calls)
}

// outcome names what a call met, in faultyAPI's modes.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	ae, ok := err.(*APIError)
	if !ok {
		return fmt.Sprintf("non-API error %T", err)
	}
	switch {
	case ae.HTTPStatus == http.StatusServiceUnavailable:
		return "5xx"
	case ae.Code == CodeNetwork:
		return "reset"
	case ae.Code == CodeTimeout:
		return "hang"
	}
	return "unexpected " + ae.Code
}
