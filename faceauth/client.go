// Package faceauth is the client of the FaceAuth API (POST and GET
// {base}/faceauth, see docs/faceauth.md): typed results, one typed error
// (*APIError) with a class the kiosk acts on, safe retries, capped bodies,
// and an API key that never appears in any error or log line.
package faceauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultBaseURL     = "https://rest-api.argosidentity.com/v3"
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 3
	// MaxBodyBytes caps every response body read.
	MaxBodyBytes = 1 << 20
)

// Options configure a Client. Only APIKey is required.
type Options struct {
	// BaseURL includes the version, e.g. https://rest-api.argosidentity.com/v3
	// (DefaultBaseURL when empty).
	BaseURL string
	// APIKey is the dedicated FaceAuth key, sent as x-api-key. Never logged.
	APIKey string
	// Timeout bounds each attempt, reading the body included
	// (DefaultTimeout when 0). The caller's context bounds the whole call.
	Timeout time.Duration
	// CAFile is a PEM bundle added to the system roots. TLS verification is
	// always on.
	CAFile string
	// AllowInsecureHTTP permits http:// to hosts other than loopback.
	AllowInsecureHTTP bool
	// UserAgent is sent as User-Agent ("facegate/dev" when empty).
	UserAgent string
	// HTTPClient replaces the default client (tests); its redirects are
	// disabled all the same, so the key never follows a redirect.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call (DefaultMaxAttempts when 0,
	// 1 disables retries). Only safe failures are retried (see Authenticate).
	MaxAttempts int
	// Logger gets one debug line per retry (nil: no logging).
	Logger *slog.Logger
}

// Client is safe for concurrent use.
type Client struct {
	base        *url.URL
	key         string
	timeout     time.Duration
	userAgent   string
	maxAttempts int
	http        *http.Client
	log         *slog.Logger
	// sleep waits between attempts; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
	// inUse counts the attempts on each connection (HTTP/2 multiplexes
	// them): a timed-out attempt closes its connection only when alone on
	// it, never under another caller's request that is being answered.
	connMu sync.Mutex
	inUse  map[net.Conn]int
	// killed are the connections a timed-out attempt closed (the newest
	// few): HTTP/2's pool may hand one out again before its reader sees
	// the close, and a request that got one was never sent.
	killed []net.Conn
}

// maxKilled bounds Client.killed.
const maxKilled = 16

// takeConn counts an attempt on conn; dead reports that a timed-out
// attempt had closed it already (this attempt's request cannot reach the
// server on it).
func (c *Client) takeConn(conn net.Conn) (dead bool) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.inUse == nil {
		c.inUse = map[net.Conn]int{}
	}
	c.inUse[conn]++
	return slices.Contains(c.killed, conn)
}

// releaseConn ends an attempt on conn. With kill (the attempt timed out)
// and no other attempt on it, the connection is made to fail at once,
// under the lock so that no attempt takes it in between and sends on it,
// and closed.
func (c *Client) releaseConn(conn net.Conn, kill bool) {
	c.connMu.Lock()
	n := c.inUse[conn] - 1
	if n > 0 {
		c.inUse[conn] = n
		c.connMu.Unlock()
		return
	}
	delete(c.inUse, conn)
	if !kill {
		c.connMu.Unlock()
		return
	}
	_ = conn.SetDeadline(time.Unix(1, 0)) // every read and write fails from now on
	if !slices.Contains(c.killed, conn) {
		c.killed = append(c.killed, conn)
		if len(c.killed) > maxKilled {
			c.killed = c.killed[1:]
		}
	}
	c.connMu.Unlock()
	conn.Close() // may wait to send TLS's close_notify: not under the lock
}

// New checks opts and builds a Client. Errors wrap ErrInvalidOptions and
// never contain the key.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("%w: base URL %q is not an http(s) URL with a host", ErrInvalidOptions, redactURL(opts.BaseURL))
	}
	if base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("%w: base URL must not carry user info, a query or a fragment", ErrInvalidOptions)
	}
	if base.Scheme == "http" && !opts.AllowInsecureHTTP && !isLoopback(base.Hostname()) {
		return nil, fmt.Errorf("%w: plain http to %s is refused (only loopback, unless insecure HTTP is allowed)", ErrInvalidOptions, base.Host)
	}
	if opts.APIKey == "" {
		return nil, fmt.Errorf("%w: API key is empty (set FACEGATE_API_KEY, api.key.file or the facegate-api-key credential)", ErrInvalidOptions)
	}
	if strings.ContainsAny(opts.APIKey, "\r\n\x00") || strings.TrimSpace(opts.APIKey) != opts.APIKey {
		return nil, fmt.Errorf("%w: API key contains whitespace or control characters", ErrInvalidOptions)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%w: timeout %s is negative", ErrInvalidOptions, opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("%w: max attempts %d is negative", ErrInvalidOptions, opts.MaxAttempts)
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "facegate/dev"
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr, err := newTransport(opts.CAFile)
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Transport: tr}
	} else if opts.CAFile != "" {
		return nil, fmt.Errorf("%w: CAFile cannot be combined with a custom HTTPClient", ErrInvalidOptions)
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := opts.Logger
	if log == nil {
		log = slog.New(discardHandler{})
	}
	return &Client{
		base: base, key: opts.APIKey, timeout: opts.Timeout, userAgent: opts.UserAgent,
		maxAttempts: opts.MaxAttempts, http: &cp, log: log, sleep: sleepCtx,
	}, nil
}

// BaseURL is the API base the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// CloseIdleConnections closes the kept-alive connections that carry no
// request now (at most two per host, each a socket and two goroutines, else
// closed after 90s idle). Call it when dropping the Client, e.g. on reload or
// shutdown; the Client stays usable and dials again when needed.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

func newTransport(caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// An HTTP/2 connection that received nothing for 15 s is pinged and
	// closed when the ping is not answered within 5 s: a connection a
	// router forgot silently is found before the next worker's POST.
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrInvalidOptions, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidOptions, caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	// A proxy (HTTPS_PROXY) that refuses the CONNECT is named as such, so
	// that its 407 reads as the configuration problem it is.
	tr.OnProxyConnectResponse = func(_ context.Context, proxy *url.URL, _ *http.Request, res *http.Response) error {
		if res.StatusCode == http.StatusOK {
			return nil
		}
		return &proxyError{host: proxy.Host, status: res.StatusCode}
	}
	return tr, nil
}

// proxyError is a proxy's answer other than 200 to a CONNECT.
type proxyError struct {
	host   string // never the proxy URL: it may carry credentials
	status int
}

func (e *proxyError) Error() string {
	return fmt.Sprintf("proxy %s answered the CONNECT with %d %s", e.host, e.status, http.StatusText(e.status))
}

// Authenticate sends one face (POST {base}/faceauth). A rejection is a
// *Result with Status "rejected", not an error. Every error is an *APIError.
//
// A POST creates an authentication, so it is retried only when the request
// certainly never reached the server (connection refused, DNS failure before
// anything was written) or when the server answered detection_server_error
// or data_processing_error; never after a timeout once the request was sent,
// and never on a gateway error page. Retries stop at the caller's deadline.
func (c *Client) Authenticate(ctx context.Context, req Request) (*Result, error) {
	if strings.TrimSpace(req.SubmissionID) == "" {
		return nil, invalidRequest("submission id is empty")
	}
	if len(req.Image) == 0 {
		return nil, invalidRequest("image is empty")
	}
	body, contentType, err := encodeForm(req)
	if err != nil {
		return nil, invalidRequest(err.Error())
	}
	u := c.endpoint(nil)
	newReq := func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", contentType)
		return r, nil
	}
	var res *Result
	err = c.call(ctx, newReq, false, func(b []byte) error {
		var perr error
		res, perr = parseResult(b)
		return perr
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Ping checks that the API answers and accepts the key: a history request
// for one record. Its error is an *APIError (ClassConfig for a wrong key).
func (c *Client) Ping(ctx context.Context) error {
	q := url.Values{"count": {"1"}}
	return c.call(ctx, c.getRequest(q), true, func(b []byte) error {
		_, _, err := parseHistoryPage(b)
		return err
	})
}

// Warm opens a connection to the API (TCP and TLS handshakes) and leaves it
// kept alive in the client's pool, so that the next Authenticate does not
// pay two or three round trips for it. It sends OPTIONS {base}/faceauth
// without the API key (gateways answer it without the backend, nothing is
// created or counted) and drains the answer; any HTTP status is a success,
// only a connection failure is an error. One attempt, bounded by the
// client's timeout and ctx. Safe to call concurrently with other calls.
func (c *Client) Warm(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodOptions, c.endpoint(nil), nil)
	if err != nil {
		return invalidRequest(clip(err.Error()))
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, actx, err, "warm connection")
	}
	defer resp.Body.Close()
	// Drained (capped) so that the connection goes back to the pool.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
		return c.transportError(ctx, actx, err, "warm connection")
	}
	return nil
}

func (c *Client) endpoint(q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/faceauth"
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) getRequest(q url.Values) func(context.Context) (*http.Request, error) {
	u := c.endpoint(q)
	return func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
}

// call runs attempts until one succeeds, fails for good, or the caller's
// context ends. parse handles a 200 body.
func (c *Client) call(ctx context.Context, newReq func(context.Context) (*http.Request, error), idempotent bool, parse func([]byte) error) error {
	backoff := 200 * time.Millisecond
	var last *APIError
	for attempt := 1; ; attempt++ {
		status, body, sent, aerr := c.attempt(ctx, newReq)
		if aerr == nil && c.key != "" {
			// Before any parsing or clipping: a key echoed across the
			// clip would otherwise survive in part.
			body = bytes.ReplaceAll(body, []byte(c.key), []byte("<redacted>"))
		}
		if aerr == nil {
			if status == http.StatusOK {
				perr := parse(body)
				if perr == nil {
					return nil
				}
				aerr = &APIError{HTTPStatus: status, Code: CodeInvalidResponse, Class: ClassTransient,
					Message: "response is not the documented shape: " + clip(perr.Error()), Err: ErrBadResponse}
				if e := errorFromResponse(status, body); e.Code != CodeHTTPStatus {
					aerr = e // an error body sent with 200
				}
			} else {
				aerr = errorFromResponse(status, body)
			}
		}
		last = c.scrub(aerr)
		if attempt >= c.maxAttempts || !c.retryable(last, status, sent, idempotent) || ctx.Err() != nil {
			return last
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff {
			return last
		}
		c.log.Debug("faceauth retry", "attempt", attempt, "code", last.Code, "http_status", last.HTTPStatus, "wait", backoff)
		if err := c.sleep(ctx, backoff); err != nil {
			return last
		}
		backoff *= 2
	}
}

// retryable says whether the failed attempt may be sent again.
func (c *Client) retryable(e *APIError, status int, sent, idempotent bool) bool {
	switch e.Code {
	case CodeCanceled, CodeInvalidRequest:
		return false
	case CodeNetwork, CodeTimeout:
		// A name that does not resolve, a certificate not trusted, a
		// proxy's refusal: the same answer again, after the backoff.
		return e.Class != ClassConfig && (!sent || idempotent)
	}
	if retryableCode(e.Code) {
		return true
	}
	if idempotent {
		return status == http.StatusTooManyRequests || status == http.StatusBadGateway ||
			status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
	}
	return false
}

// attempt sends one request and reads its capped body. sent reports whether
// the request headers were written to a connection (from then on a POST may
// have been processed). The error is nil when a whole response was read.
func (c *Client) attempt(ctx context.Context, newReq func(context.Context) (*http.Request, error)) (status int, body []byte, sent bool, aerr *APIError) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var wrote atomic.Bool // set from the transport's goroutine
	var conn atomic.Pointer[net.Conn]
	// onKilled: the connection this attempt got had been closed by a
	// timed-out one (found by CI under emulation: HTTP/2 handed it out
	// again before its reader saw the close).
	var onKilled atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Conn == nil {
				return
			}
			onKilled.Store(c.takeConn(i.Conn))
			if old := conn.Swap(&i.Conn); old != nil { // the transport retried on another
				c.releaseConn(*old, false)
			}
		},
	}
	// A timeout may mean that the connection is dead without the kernel
	// knowing (a router that forgot it silently): HTTP/2 would multiplex
	// every later request onto it, each timing out in turn. Close it, so
	// that the next request dials.
	// Only when no other attempt shares it (HTTP/2): theirs may be
	// answered, and a dead one is found by the HTTP/2 ping anyway.
	defer func() {
		if p := conn.Load(); p != nil {
			c.releaseConn(*p, aerr != nil && aerr.Code == CodeTimeout)
		}
	}()
	req, err := newReq(httptrace.WithClientTrace(actx, trace))
	if err != nil {
		return 0, nil, false, &APIError{Code: CodeInvalidRequest, Class: ClassClient, Message: clip(err.Error()), Err: ErrInvalidRequest}
	}
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// On a connection closed before this attempt took it, nothing
		// reached the server: the request may go again, a POST too.
		return 0, nil, wrote.Load() && !onKilled.Load(), c.transportError(ctx, actx, err, "send request")
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return resp.StatusCode, nil, true, c.transportError(ctx, actx, err, "read response")
	}
	if len(body) > MaxBodyBytes {
		return resp.StatusCode, nil, true, &APIError{HTTPStatus: resp.StatusCode, Code: CodeInvalidResponse, Class: ClassTransient,
			Message: fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes), Err: ErrBadResponse}
	}
	return resp.StatusCode, body, true, nil
}

// transportError classifies a failure without a (whole) response.
func (c *Client) transportError(ctx, actx context.Context, err error, what string) *APIError {
	msg := what + ": " + describeNetErr(err)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return &APIError{Code: CodeCanceled, Class: ClassTransient, Message: what + ": canceled by caller", Err: errors.Join(ErrCanceled, context.Canceled)}
	case ctx.Err() != nil:
		return &APIError{Code: CodeTimeout, Class: ClassTransient, Message: what + ": caller's deadline expired", Err: errors.Join(ErrTimeout, context.DeadlineExceeded)}
	case actx.Err() != nil:
		return &APIError{Code: CodeTimeout, Class: ClassTransient, Message: fmt.Sprintf("%s: no answer within %s", what, c.timeout), Err: errors.Join(ErrTimeout, context.DeadlineExceeded)}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &APIError{Code: CodeTimeout, Class: ClassTransient, Message: msg, Err: errors.Join(ErrTimeout, err)}
	}
	var pe *proxyError
	if errors.As(err, &pe) {
		switch pe.status {
		case http.StatusProxyAuthRequired, http.StatusForbidden:
			return &APIError{Code: CodeNetwork, Class: ClassConfig, Message: msg + " (check the proxy's credentials and rules: HTTPS_PROXY in the service's environment)", Err: errors.Join(ErrNetwork, err)}
		}
		return &APIError{Code: CodeNetwork, Class: ClassTransient, Message: msg, Err: errors.Join(ErrNetwork, err)}
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		// The name server says the name does not exist: a mistyped
		// api.url, or the site's DNS not knowing it. Trying again will
		// not help; an operator must look (a DNS outage is a timeout or a
		// server failure, not this).
		return &APIError{Code: CodeNetwork, Class: ClassConfig, Message: msg + " (the API's host name does not resolve: check api.url, or this machine's DNS)", Err: errors.Join(ErrNetwork, err)}
	}
	var ie x509.CertificateInvalidError
	if errors.As(err, &ie) && ie.Reason == x509.Expired && ie.Cert != nil {
		now := time.Now()
		hint := fmt.Sprintf(" (the API's certificate expired on %s, or this machine's clock is ahead)", ie.Cert.NotAfter.UTC().Format(time.RFC3339))
		if now.Before(ie.Cert.NotBefore) {
			hint = fmt.Sprintf(" (this machine's clock, %s, is behind: the certificate is valid from %s; is NTP synchronised? no restart is needed once it is)",
				now.UTC().Format(time.RFC3339), ie.Cert.NotBefore.UTC().Format(time.RFC3339))
		}
		return &APIError{Code: CodeNetwork, Class: ClassConfig, Message: what + ": TLS certificate not valid at this time" + hint, Err: errors.Join(ErrNetwork, err)}
	}
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &ce) || errors.As(err, &ue) || errors.As(err, &he) {
		return &APIError{Code: CodeNetwork, Class: ClassConfig, Message: msg + " (TLS certificate not trusted; see api.ca_file)", Err: errors.Join(ErrNetwork, err)}
	}
	return &APIError{Code: CodeNetwork, Class: ClassTransient, Message: msg, Err: errors.Join(ErrNetwork, err)}
}

// describeNetErr drops net/http's "Post \"https://…\":" prefix and keeps
// the cause.
func describeNetErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return clip(err.Error())
}

// scrub removes the key from anything that came back from the server or
// the network, in case a server echoes it.
func (c *Client) scrub(e *APIError) *APIError {
	if c.key == "" {
		return e
	}
	e.Message = strings.ReplaceAll(e.Message, c.key, "<redacted>")
	e.TraceID = strings.ReplaceAll(e.TraceID, c.key, "<redacted>")
	e.Code = strings.ReplaceAll(e.Code, c.key, "<redacted>")
	return e
}

func encodeForm(req Request) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fields := [][2]string{{"submissionId", req.SubmissionID}, {"userId", req.UserID}, {"cf1", req.CF1}, {"cf2", req.CF2}, {"cf3", req.CF3}}
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("encode %s: %w", f[0], err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="faceImage"; filename="face.jpg"`)
	h.Set("Content-Type", "image/jpeg")
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("encode faceImage: %w", err)
	}
	if _, err := part.Write(req.Image); err != nil {
		return nil, "", fmt.Errorf("encode faceImage: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("encode form: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

func invalidRequest(msg string) *APIError {
	return &APIError{Code: CodeInvalidRequest, Class: ClassClient, Message: msg, Err: ErrInvalidRequest}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable>"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	u.RawQuery = ""
	return u.String()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
