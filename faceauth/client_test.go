package faceauth

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const testKey = "sk-test-0123456789-secret"

var jpeg = []byte("\xff\xd8\xff\xe0fake jpeg bytes")

// newTestClient talks to url without sleeping between retries; waits
// records the backoffs asked for.
func newTestClient(t *testing.T, url string, mod func(*Options)) (*Client, *[]time.Duration) {
	t.Helper()
	o := Options{BaseURL: url, APIKey: testKey, Timeout: 2 * time.Second, UserAgent: "facegate/test"}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	var mu sync.Mutex
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return c, &waits
}

// counting serves h and counts requests.
func counting(h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	return srv, &n
}

func asAPIError(t *testing.T, err error) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	if strings.Contains(ae.Error(), testKey) || strings.Contains(fmt.Sprintf("%+v %#v", err, ae), testKey) {
		t.Fatalf("error leaks the key: %v", ae)
	}
	return ae
}

func TestAuthenticateRequest(t *testing.T) {
	srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/faceauth" {
			http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, 404)
			return
		}
		problems := []string{}
		check := func(ok bool, what string) {
			if !ok {
				problems = append(problems, what)
			}
		}
		check(r.Header.Get("x-api-key") == testKey, "x-api-key")
		check(r.Header.Get("User-Agent") == "facegate/test", "user agent")
		check(r.ParseMultipartForm(1<<20) == nil, "multipart")
		if r.MultipartForm != nil {
			check(r.FormValue("submissionId") == "sub-1", "submissionId")
			check(r.FormValue("userId") == "u-9", "userId")
			check(r.FormValue("cf2") == "two", "cf2")
			_, hasCF1 := r.MultipartForm.Value["cf1"]
			check(!hasCF1, "empty cf1 must not be sent")
			fh := r.MultipartForm.File["faceImage"]
			check(len(fh) == 1, "faceImage part")
			if len(fh) == 1 {
				check(fh[0].Filename == "face.jpg", "filename")
				check(fh[0].Header.Get("Content-Type") == "image/jpeg", "part content type")
				f, _ := fh[0].Open()
				b, _ := io.ReadAll(f)
				check(string(b) == string(jpeg), "image bytes")
			}
		}
		if len(problems) > 0 {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error_code":"invalid_data_format","message":%q}`, strings.Join(problems, ","))
			return
		}
		fmt.Fprint(w, `{"authentication_id":"A","auth_status":"approved","score":{"face_similarity_score":97}}`)
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL+"/v3/", nil)
	res, err := c.Authenticate(context.Background(), Request{SubmissionID: "sub-1", UserID: "u-9", CF2: "two", Image: jpeg})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Approved() || res.AuthenticationID != "A" || *res.Scores.FaceSimilarity != 97 {
		t.Fatalf("%+v", res)
	}
}

func TestAuthenticateInvalidRequest(t *testing.T) {
	srv, n := counting(func(w http.ResponseWriter, r *http.Request) {})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	for _, req := range []Request{{Image: jpeg}, {SubmissionID: "  ", Image: jpeg}, {SubmissionID: "s"}} {
		_, err := c.Authenticate(context.Background(), req)
		ae := asAPIError(t, err)
		if ae.Code != CodeInvalidRequest || ae.Class != ClassClient || !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%+v", ae)
		}
	}
	if n.Load() != 0 {
		t.Fatal("an invalid request was sent")
	}
}

// TestRetryPolicy: what is retried, and how often, for POST and GET.
func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		postCalls int32 // with MaxAttempts 3
		getCalls  int32
		class     Class
	}{
		{"rejected 200 is an answer", 200, `{"auth_status":"rejected","fail_code":["face_compare_underscore"]}`, 1, 1, ""},
		{"no_face is never retried", 400, `{"error_code":"no_face","message":"Face is not detected"}`, 1, 1, ClassRecapture},
		{"invalid_submission_status never retried", 400, `{"errorCode":"invalid_submission_status","Message":"m"}`, 1, 1, ClassIdentity},
		{"Invalid_projectId never retried", 400, `{"error_code":"Invalid_projectId","message":"m"}`, 1, 1, ClassConfig},
		{"invalid_data_format never retried", 400, `{"error_code":"invalid_data_format","message":"m"}`, 1, 1, ClassClient},
		{"detection_server_error retried", 400, `{"error_code":"detection_server_error","message":"m"}`, 3, 3, ClassTransient},
		{"data_processing_error retried", 400, `{"errorCode":"data_processing_error","message":"m"}`, 3, 3, ClassTransient},
		{"502 html: POST may have been processed", 502, `<html>Bad Gateway</html>`, 1, 3, ClassTransient},
		{"503 empty", 503, ``, 1, 3, ClassTransient},
		{"429 text", 429, `Too Many Requests`, 1, 3, ClassTransient},
		{"500 is not retried", 500, `oops`, 1, 1, ClassTransient},
		{"401 text", 401, `Unauthorized`, 1, 1, ClassConfig},
		{"403 gateway", 403, `{"message":"Forbidden"}`, 1, 1, ClassConfig},
		{"200 truncated JSON is not retried", 200, `{"auth_status":"appr`, 1, 1, ClassTransient},
		{"error body sent with 200", 200, `{"error_code":"no_face","message":"Face is not detected"}`, 1, 1, ClassRecapture},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				body := tc.body
				if r.Method == http.MethodGet && tc.class == "" {
					body = `[]` // the GET's own success shape
				}
				io.WriteString(w, body)
			})
			defer srv.Close()
			c, waits := newTestClient(t, srv.URL, nil)
			_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
			if got := n.Load(); got != tc.postCalls {
				t.Errorf("POST: %d calls, want %d", got, tc.postCalls)
			}
			if tc.class == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if ae := asAPIError(t, err); ae.Class != tc.class || ae.HTTPStatus != tc.status {
				t.Errorf("POST error %+v, want class %s", ae, tc.class)
			}
			if len(*waits) != int(tc.postCalls-1) {
				t.Errorf("waits %v", *waits)
			}
			n.Store(0)
			err = c.Ping(context.Background())
			if got := n.Load(); got != tc.getCalls {
				t.Errorf("GET: %d calls, want %d", got, tc.getCalls)
			}
			if (err == nil) != (tc.class == "") {
				t.Errorf("GET err %v", err)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	var calls atomic.Int32
	srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(400)
			io.WriteString(w, `{"error_code":"detection_server_error","message":"m"}`)
			return
		}
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
	})
	defer srv.Close()
	c, waits := newTestClient(t, srv.URL, nil)
	res, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if err != nil || !res.Approved() || n.Load() != 2 || len(*waits) != 1 || (*waits)[0] != 200*time.Millisecond {
		t.Fatalf("res %+v err %v calls %d waits %v", res, err, n.Load(), *waits)
	}
}

// refusingFirst dials a closed port first (connection refused: nothing was
// sent), then the real server.
type refusingFirst struct {
	dials  atomic.Int32
	closed string
}

func (d *refusingFirst) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	if d.dials.Add(1) == 1 {
		return nd.DialContext(ctx, network, d.closed)
	}
	return nd.DialContext(ctx, network, addr)
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefusedBeforeSendIsRetried(t *testing.T) {
	srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
	})
	defer srv.Close()
	d := &refusingFirst{closed: closedAddr(t)}
	c, _ := newTestClient(t, srv.URL, func(o *Options) {
		o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.dial}}
	})
	res, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if err != nil || !res.Approved() {
		t.Fatalf("res %+v err %v", res, err)
	}
	if d.dials.Load() != 2 || n.Load() != 1 {
		t.Fatalf("dials %d, requests %d; want 2 and 1", d.dials.Load(), n.Load())
	}
}

// A host name that does not exist (NXDOMAIN: a mistyped api.url) is a
// configuration error for an operator, not a transient one tried again
// and again; a name server that does not answer stays transient.
func TestHostNameThatDoesNotResolveIsAConfigError(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   *net.DNSError
		class Class
	}{
		{"no such host", &net.DNSError{Err: "no such host", Name: "api.exmaple.com", IsNotFound: true}, ClassConfig},
		{"name server timeout", &net.DNSError{Err: "i/o timeout", Name: "api.example.com", IsTimeout: true}, ClassTransient},
		{"server misbehaving", &net.DNSError{Err: "server misbehaving", Name: "api.example.com", IsTemporary: true}, ClassTransient},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, _ := newTestClient(t, "http://api.example.com/v3", func(o *Options) {
				o.AllowInsecureHTTP = true
				o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, c.err }}}
			})
			_, err := cl.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
			ae := asAPIError(t, err)
			if ae.Class != c.class || c.class == ClassConfig && !errors.Is(err, ErrNetwork) {
				t.Fatalf("%+v, want class %s", ae, c.class)
			}
			if c.class == ClassConfig && !strings.Contains(ae.Message, "check api.url") {
				t.Fatalf("message %q does not point at api.url", ae.Message)
			}
		})
	}
}

// A network error that is the configuration's (a name that does not
// resolve, a certificate not trusted) is not tried again: the answer is
// the same, and a worker waited 0.6 s of backoff for it, the self-test's
// ping three handshakes (until 2026-12-08).
func TestConfigNetworkErrorsAreNotRetried(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"auth_status":"approved","authentication_id":"a-1"}`)
	}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer tlsSrv.Close()
	for _, c := range []struct {
		name string
		make func(t *testing.T) *Client
	}{
		{"host name does not resolve", func(t *testing.T) *Client {
			cl, _ := newTestClient(t, "http://api.exmaple.com/v3", func(o *Options) {
				o.AllowInsecureHTTP = true
				o.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
					return nil, &net.DNSError{Err: "no such host", Name: "api.exmaple.com", IsNotFound: true}
				}}}
			})
			return cl
		}},
		{"certificate not trusted", func(t *testing.T) *Client {
			cl, _ := newTestClient(t, tlsSrv.URL+"/v3", nil)
			return cl
		}},
	} {
		for _, call := range []struct {
			name string
			do   func(*Client) error
		}{
			{"authenticate", func(cl *Client) error {
				_, err := cl.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
				return err
			}},
			{"ping", func(cl *Client) error { return cl.Ping(context.Background()) }},
		} {
			t.Run(c.name+"/"+call.name, func(t *testing.T) {
				cl := c.make(t)
				var waits []time.Duration
				cl.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
				ae := asAPIError(t, call.do(cl))
				if ae.Class != ClassConfig {
					t.Fatalf("%+v, want class config", ae)
				}
				if len(waits) != 0 {
					t.Errorf("a configuration error was tried again (waits %v)", waits)
				}
			})
		}
	}
}

func TestConnectionRefusedEveryTime(t *testing.T) {
	c, waits := newTestClient(t, "http://"+closedAddr(t)+"/v3", nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	ae := asAPIError(t, err)
	if ae.Code != CodeNetwork || ae.Class != ClassTransient || ae.HTTPStatus != 0 || !errors.Is(err, ErrNetwork) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%+v", ae)
	}
	if len(*waits) != 2 {
		t.Fatalf("want 3 attempts (2 waits), got waits %v", *waits)
	}
	if strings.Contains(ae.Message, "Post ") || strings.Contains(ae.Message, "http://") {
		t.Errorf("message should not repeat the URL: %q", ae.Message)
	}
}

func TestDroppedAfterSend(t *testing.T) {
	srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if ae := asAPIError(t, err); ae.Code != CodeNetwork || ae.Class != ClassTransient {
		t.Fatalf("%+v", ae)
	}
	if n.Load() != 1 {
		t.Fatalf("POST dropped after sending was retried: %d calls", n.Load())
	}
	n.Store(0)
	if err := c.Ping(context.Background()); err == nil || n.Load() != 3 {
		t.Fatalf("GET: err %v, %d calls (want 3)", err, n.Load())
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "slowbody":
			w.WriteHeader(200)
			io.WriteString(w, `{"auth_status":`)
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer srv.Close()
	defer close(release)

	t.Run("request timeout", func(t *testing.T) {
		n.Store(0)
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Timeout = 150 * time.Millisecond })
		start := time.Now()
		_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
		ae := asAPIError(t, err)
		if ae.Code != CodeTimeout || ae.Class != ClassTransient || !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%+v", ae)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("took %s", el)
		}
		if n.Load() != 1 {
			t.Fatalf("a POST that timed out after sending was retried (%d calls)", n.Load())
		}
	})
	t.Run("caller deadline bounds a long timeout", func(t *testing.T) {
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Timeout = time.Minute })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Authenticate(ctx, Request{SubmissionID: "s", Image: jpeg})
		if ae := asAPIError(t, err); ae.Code != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%+v", ae)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("took %s", el)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c, _ := newTestClient(t, srv.URL+"/v3", func(o *Options) { o.Timeout = 150 * time.Millisecond; o.MaxAttempts = 1 })
		req := func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v3/faceauth?mode=slowbody", nil)
		}
		start := time.Now()
		err := c.call(context.Background(), req, true, func([]byte) error { return nil })
		if ae := asAPIError(t, err); ae.Code != CodeTimeout || ae.HTTPStatus != 0 {
			t.Fatalf("%+v", ae)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("took %s", el)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		c, _ := newTestClient(t, srv.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Authenticate(ctx, Request{SubmissionID: "s", Image: jpeg})
		if ae := asAPIError(t, err); ae.Code != CodeCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("%+v", ae)
		}
	})
	t.Run("retry stops at the caller deadline", func(t *testing.T) {
		srv2, n2 := counting(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error_code":"data_processing_error","message":"m"}`)
		})
		defer srv2.Close()
		c, waits := newTestClient(t, srv2.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Authenticate(ctx, Request{SubmissionID: "s", Image: jpeg})
		if ae := asAPIError(t, err); ae.Code != CodeDataProcessing {
			t.Fatalf("%+v", ae)
		}
		if n2.Load() != 1 || len(*waits) != 0 {
			t.Fatalf("retried past the deadline: %d calls, waits %v", n2.Load(), *waits)
		}
	})
}

func TestHugeBody(t *testing.T) {
	srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved","rejected_comment":["`)
		io.WriteString(w, strings.Repeat("x", MaxBodyBytes))
		io.WriteString(w, `"]}`)
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if ae := asAPIError(t, err); ae.Code != CodeInvalidResponse || !errors.Is(err, ErrBadResponse) || !strings.Contains(ae.Message, "larger than") {
		t.Fatalf("%+v", ae)
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error_code":"Invalid_projectId","message":"no project for key %s","traceId":"%s"}`, r.Header.Get("x-api-key"), r.Header.Get("x-api-key"))
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	ae := asAPIError(t, err)
	if !strings.Contains(ae.Message, "<redacted>") || ae.Class != ClassConfig {
		t.Fatalf("%+v", ae)
	}
}

// TestKeyNeverLeaksAcrossTheClip: a key echoed where the message is cut
// short must not survive in part (the body is scrubbed before clipping).
func TestKeyNeverLeaksAcrossTheClip(t *testing.T) {
	for _, at := range []int{140, 160, 168} { // the key starts 25 bytes after the a's; clip keeps 200
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(401)
				fmt.Fprintf(w, "<html>%s invalid x-api-key %s</html>", strings.Repeat("a", at), r.Header.Get("x-api-key"))
			})
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, nil)
			_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
			ae := asAPIError(t, err)
			for _, s := range []string{err.Error(), ae.Message, ae.Code, ae.TraceID} {
				if strings.Contains(s, testKey[:5]) {
					t.Fatalf("part of the key in %q", s)
				}
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != "" {
			leaked.Store(true)
		}
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
	}))
	defer other.Close()
	srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v3/faceauth", http.StatusTemporaryRedirect)
	})
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if ae := asAPIError(t, err); ae.HTTPStatus != 307 {
		t.Fatalf("%+v", ae)
	}
	if leaked.Load() {
		t.Fatal("the key followed a redirect")
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		err  string
	}{
		{"defaults", Options{APIKey: "k"}, ""},
		{"loopback http", Options{BaseURL: "http://127.0.0.1:8089/v3", APIKey: "k"}, ""},
		{"localhost http", Options{BaseURL: "http://localhost:8089/v3", APIKey: "k"}, ""},
		{"ipv6 loopback http", Options{BaseURL: "http://[::1]:8089/v3", APIKey: "k"}, ""},
		{"remote http refused", Options{BaseURL: "http://api.example.com/v3", APIKey: "k"}, "plain http"},
		{"remote http allowed", Options{BaseURL: "http://api.example.com/v3", APIKey: "k", AllowInsecureHTTP: true}, ""},
		{"no key", Options{}, "API key is empty"},
		{"key with newline", Options{APIKey: "abc\r\nX-Evil: 1"}, "control characters"},
		{"bad scheme", Options{BaseURL: "ftp://x/v3", APIKey: "k"}, "not an http(s) URL"},
		{"no host", Options{BaseURL: "https:///v3", APIKey: "k"}, "not an http(s) URL"},
		{"user info", Options{BaseURL: "https://u:p@x/v3", APIKey: "k"}, "user info"},
		{"negative timeout", Options{APIKey: "k", Timeout: -1}, "negative"},
		{"missing CA", Options{APIKey: "k", CAFile: "/nonexistent/ca.pem"}, "CA file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if tc.o.APIKey != "" && tc.o.APIKey != "k" && strings.Contains(err.Error(), tc.o.APIKey) {
				t.Fatal("key in error")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"authentication_id":"a-1","auth_status":"approved"}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
	if ae := asAPIError(t, err); ae.Class != ClassConfig || !strings.Contains(ae.Message, "certificate") {
		t.Fatalf("untrusted certificate: %+v", ae)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ = newTestClient(t, srv.URL, func(o *Options) { o.CAFile = ca })
	if tr, ok := c.http.Transport.(*http.Transport); !ok || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("TLS config")
	}
	if res, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg}); err != nil || !res.Approved() {
		t.Fatalf("with CA file: %v", err)
	}
}

// pagingServer serves total records, pageSize per page, wrapped shape.
func pagingServer(t *testing.T, total int, seen *[]string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("x-api-key") != testKey {
			w.WriteHeader(400)
			io.WriteString(w, `{"traceId":"t","errorCode":"NOT_FOUND","message":"faceAuth_project not found"}`)
			return
		}
		q := r.URL.Query()
		*seen = append(*seen, q.Encode())
		size := 2000
		fmt.Sscan(q.Get("count"), &size)
		start := 0
		if k := q.Get("nextKey_id"); k != "" {
			fmt.Sscanf(k, "id-%d", &start)
			start++
		}
		var recs []string
		end := min(total, start+size)
		for i := start; i < end; i++ {
			recs = append(recs, fmt.Sprintf(`{"auth_id":"id-%d","auth_status":"approved","create_time":"2025-01-0%dT00:00:00.000Z"}`, i, 1+i%9))
		}
		next := ""
		if end < total {
			next = fmt.Sprintf(`,"nextPage_key":{"authId":"id-%d","createTime":"2025-01-01T00:00:00.000Z"}`, end-1)
		}
		fmt.Fprintf(w, `[{"faceAuth_projectId":"p","data":[%s]%s}]`, strings.Join(recs, ","), next)
	}))
}

func TestHistoryPaging(t *testing.T) {
	var seen []string
	srv := pagingServer(t, 5, &seen)
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, nil)
	since, _ := ParseDate("2025-01-01")
	until, _ := ParseDate("2025-01-31")
	var ids []string
	for r, err := range c.History(context.Background(), HistoryQuery{PageSize: 2, Since: since, Until: until}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.AuthID)
	}
	if strings.Join(ids, ",") != "id-0,id-1,id-2,id-3,id-4" || len(seen) != 3 {
		t.Fatalf("ids %v, requests %v", ids, seen)
	}
	if seen[0] != "count=2&endDate=2025-01-31&startDate=2025-01-01" ||
		seen[1] != "count=2&endDate=2025-01-31&nextKey_date=2025-01-01T00%3A00%3A00.000Z&nextKey_id=id-1&startDate=2025-01-01" {
		t.Fatalf("queries %v", seen)
	}

	seen = nil
	for r, err := range c.History(context.Background(), HistoryQuery{PageSize: 2}) {
		if err != nil || r.AuthID != "id-0" {
			t.Fatal(r, err)
		}
		break
	}
	if len(seen) != 1 {
		t.Fatalf("breaking after the first record fetched %d pages", len(seen))
	}

	bad, _ := newTestClient(t, srv.URL, func(o *Options) { o.APIKey = "wrong-key" })
	for _, err := range bad.History(context.Background(), HistoryQuery{}) {
		if ae := asAPIError(t, err); ae.Code != CodeNotFound || ae.Class != ClassConfig || ae.TraceID != "t" {
			t.Fatalf("%+v", ae)
		}
	}
	if err := bad.Ping(context.Background()); ClassOf(err) != ClassConfig {
		t.Fatalf("ping with a wrong key: %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryRepeatedKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		keys  []string // the server's nextPage_key authIds, in turn
		calls int32
	}{
		{"same key", []string{"a"}, 2},
		{"keys in a cycle", []string{"a", "b", "c"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var i atomic.Int64
			srv, n := counting(func(w http.ResponseWriter, r *http.Request) {
				k := tc.keys[int(i.Add(1)-1)%len(tc.keys)]
				fmt.Fprintf(w, `[{"data":[{"auth_id":"%s"}],"nextPage_key":{"authId":"%s","createTime":"t"}}]`, k, k)
			})
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, nil)
			var errs []error
			for _, err := range c.History(context.Background(), HistoryQuery{}) {
				if err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "same nextPage_key") || n.Load() != tc.calls {
				t.Fatalf("errs %v calls %d, want 1 error after %d calls", errs, n.Load(), tc.calls)
			}
		})
	}
}

func TestHistoryQueryValidation(t *testing.T) {
	d := func(s string) time.Time { t, _ := ParseDate(s); return t }
	for _, q := range []HistoryQuery{
		{Since: d("2025-01-01")},
		{Until: d("2025-01-01")},
		{Since: d("2025-02-01"), Until: d("2025-01-01")},
		{PageSize: 2001},
		{PageSize: -1},
	} {
		srv, n := counting(func(w http.ResponseWriter, r *http.Request) {})
		c, _ := newTestClient(t, srv.URL, nil)
		for _, err := range c.History(context.Background(), q) {
			if ae := asAPIError(t, err); ae.Code != CodeInvalidRequest {
				t.Errorf("%+v: %+v", q, ae)
			}
		}
		if n.Load() != 0 {
			t.Errorf("%+v was sent", q)
		}
		srv.Close()
	}
	if _, err := ParseDate("2025-13-01"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatal(err)
	}
}

// TestMalformedApprovalsAreErrors: a 200 "approved" that carries an error
// code is that error; one with a non-finite or out-of-range score, or a
// fail code, is invalid_response with the raw fields in the message (key
// redacted). None of them is a Result the kiosk could grant on.
func TestMalformedApprovalsAreErrors(t *testing.T) {
	tests := []struct {
		name, body, code string
		class            Class
		inMessage        string
	}{
		{"error code wins", `{"authentication_id":"a-1","auth_status":"approved","error_code":"Invalid_submissionId","message":"m"}`, CodeInvalidSubmissionID, ClassIdentity, "m"},
		{"NaN score", `{"authentication_id":"a-1","auth_status":"approved","score":{"face_similarity_score":"NaN"}}`, CodeInvalidResponse, ClassTransient, `face_similarity_score is "NaN"`},
		{"Infinity score", `{"authentication_id":"a-1","auth_status":"approved","score":{"occluded_score":"Infinity"}}`, CodeInvalidResponse, ClassTransient, "occluded_score"},
		{"fail code", `{"authentication_id":"a-1","auth_status":"approved","fail_code":["Head_cover_fail"],"note":"KEY"}`, CodeInvalidResponse, ClassTransient, "Head_cover_fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := counting(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, strings.ReplaceAll(tc.body, "KEY", r.Header.Get("x-api-key")))
			})
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, nil)
			res, err := c.Authenticate(context.Background(), Request{SubmissionID: "s", Image: jpeg})
			if res != nil {
				t.Fatalf("result %+v for a malformed approval", res)
			}
			ae := asAPIError(t, err)
			if ae.Code != tc.code || ae.Class != tc.class || !strings.Contains(ae.Message, tc.inMessage) {
				t.Fatalf("%+v, want code %s class %s message containing %q", ae, tc.code, tc.class, tc.inMessage)
			}
		})
	}
}
