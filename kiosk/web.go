package kiosk

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed web
var webFS embed.FS

var pageTemplate = template.Must(template.ParseFS(webFS, "web/index.html"))

// sseHeartbeat keeps proxies and the browser from timing the stream out,
// and tells the page the daemon is alive (an "event: ping"; the page takes
// 35 s without a word as a hung daemon).
const sseHeartbeat = 15 * time.Second

// pingMessage is the heartbeat's event.
var pingMessage = sseMessage("ping", struct{}{})

// maxMJPEGClients bounds the preview streams (each costs a JPEG copy per
// frame on the network).
const maxMJPEGClients = 4

// HTTP server limits (NewServer). The streams (/events, /stream.mjpg) have
// no overall write timeout: each write gets streamWriteTimeout instead.
// (ReadTimeout does not end them: net/http lifts the read deadline once a
// request without a body has been read.)
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Write deadlines: per answer, and per write on the streams (variables for
// the tests).
var (
	writeTimeout       = 30 * time.Second
	streamWriteTimeout = 30 * time.Second
)

// NewServer is the http.Server for Handler (and MetricsHandler): header,
// read and idle timeouts against slow or idle clients (slowloris), small
// headers, and no server-wide WriteTimeout so that the streams live on
// (Handler sets a write deadline per request and per stream write).
// errorLog may be nil.
func NewServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Handler serves the kiosk page and its API:
//
//	GET  /              the kiosk page (embedded HTML/CSS/JS, no CDN)
//	GET  /static/…      its assets
//	GET  /favicon.ico   the page's icon
//	GET  /events        server-sent events: "state" (Status) and "decision" (record.Event)
//	GET  /stream.mjpg   the camera preview as multipart MJPEG (404 without a PreviewSource;
//	                    403 to other machines unless kiosk.remote_preview)
//	GET  /api/status    the current Status as JSON
//	POST /api/identify  an identify body with "Authorization: Bearer <identity.http.token>"
//	POST /api/open      a remote unlock with "Authorization: Bearer <kiosk.open.token>",
//	                    from loopback only (docs/kiosk.md)
//	GET  /metrics       Prometheus metrics (private registry)
//	GET  /healthz       the last self-test (200 ok/degraded, 503 down or unknown)
//
// Every request whose Host is not an IP address, localhost, the host of
// kiosk.listen or in kiosk.allowed_hosts is refused with 421 (DNS
// rebinding). The daemon serves it on kiosk.listen with NewServer; it
// carries no TLS of its own (the default address is loopback).
func (k *Kiosk) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	mux.HandleFunc("GET /{$}", k.servePage)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /favicon.ico", serveFavicon)
	mux.HandleFunc("GET /events", k.serveEvents)
	mux.HandleFunc("GET /stream.mjpg", k.serveMJPEG)
	mux.HandleFunc("GET /api/status", k.serveStatus)
	mux.HandleFunc("POST /api/identify", k.serveIdentify)
	mux.HandleFunc("POST /api/open", k.serveOpen)
	mux.HandleFunc("POST /api/liveness/unlock", k.serveUnlock)
	mux.HandleFunc("GET /api/liveness/lockouts", k.serveLockouts)
	mux.Handle("GET /metrics", k.metricsHandler())
	mux.HandleFunc("GET /healthz", k.serveHealthz)
	k.siteHandlers(mux) // /site, /site.json, /site/muster.csv, /api/site/… (kiosk/website.go)
	return k.refuseWhileDraining(k.checkHost(writeDeadline(securityHeaders(mux))))
}

// MetricsHandler serves GET /metrics alone, for the metrics.listen
// listener: a Prometheus on another host reaches nothing else (no preview,
// no API). It does not check Host (a scrape names its target as
// configured; the metrics carry no personal data).
func (k *Kiosk) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", k.metricsHandler())
	return writeDeadline(mux)
}

func (k *Kiosk) metricsHandler() http.Handler {
	return promhttp.HandlerFor(k.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{k.log}})
}

// slogPrinter adapts promhttp's error log to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics scrape failed", "err", fmt.Sprint(v...)) }

// writeDeadline bounds the time to write each answer (the server has no
// WriteTimeout, for the streams' sake; they move the deadline per write).
func writeDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses requests for a name this gate does not answer to. A
// DNS-rebinding page (attacker.example re-resolved to the Pi's address)
// sends its own name as Host; a browser that reached the gate by address,
// localhost or a configured name sends one of those.
func (k *Kiosk) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, k.listenHost, k.settings().kiosk.AllowedHosts) {
			k.log.Debug("request refused: host not allowed", "host", clip(r.Host), "path", r.URL.Path)
			http.Error(w, "host not allowed: add it to kiosk.allowed_hosts", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed: an IP address, localhost (or *.localhost), listenHost, or a
// name in allowed (case-insensitive, trailing dot ignored). No Host at all
// (HTTP/1.0) is no browser and passes.
func hostAllowed(host, listenHost string, allowed []string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")), ".")
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if lh := strings.TrimSuffix(strings.ToLower(listenHost), "."); lh != "" && h == lh {
		return true
	}
	for _, a := range allowed {
		if h == strings.TrimSuffix(strings.ToLower(a), ".") {
			return true
		}
	}
	return false
}

// fromLoopback reports whether the request's TCP peer is this machine.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// favicon is a 32x32 icon made at start (no binary in the repository): a
// green ring on the page's dark background, PNG inside an ICO container.
var favicon = sync.OnceValue(func() []byte {
	const n = 32
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			dx, dy := float64(x)-15.5, float64(y)-15.5
			d := math.Sqrt(dx*dx + dy*dy)
			c := color.NRGBA{0x11, 0x11, 0x11, 0xff}
			if d >= 9 && d <= 14 {
				c = color.NRGBA{0x55, 0xdd, 0x55, 0xff}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var pngData bytes.Buffer
	_ = png.Encode(&pngData, img)
	var b bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image.
	_ = binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, 1})
	// ICONDIRENTRY: width, height, colours, reserved, planes, bpp, size, offset.
	b.Write([]byte{n, n, 0, 0})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint16{1, 32})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(pngData.Len()), 6 + 16})
	b.Write(pngData.Bytes())
	return b.Bytes()
})

func serveFavicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(favicon())
}

// pageStatus is a Status as the page and /api/status show it: without the
// worker's name unless kiosk.show_name.
func (k *Kiosk) pageStatus(s Status) Status {
	if !k.settings().kiosk.ShowName {
		s.Name = ""
	}
	return s
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (k *Kiosk) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	set := k.settings()
	data := struct {
		Title, Site, Gate, Version string
		Preview                    bool
	}{set.kiosk.Title, k.site, k.gate, k.deps.Version, k.deps.Preview != nil && (set.kiosk.RemotePreview || fromLoopback(r))}
	if err := pageTemplate.Execute(w, data); err != nil {
		k.log.Warn("kiosk page render failed", "err", err)
	}
}

// pageInfo is the "page" event: what the page was rendered with that can
// change under it. A kiosk browser runs for months: after an upgrade
// (another version) the page reloads itself, so that its script and style
// are the daemon's; a title changed by a reload is shown at once.
type pageInfo struct {
	Version string `json:"version"`
	Title   string `json:"title"`
}

func (k *Kiosk) pageInfo() pageInfo {
	return pageInfo{Version: k.deps.Version, Title: k.settings().kiosk.Title}
}

func (k *Kiosk) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, k.pageStatus(k.Status()))
}

func (k *Kiosk) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// Subscribed and given the current status as one step (sendMu): a
	// change made in between would otherwise be queued before a newer
	// status was sent first, and the page would go back to it.
	host := ""
	if !fromLoopback(r) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			host = ap.Addr().Unmap().String()
		} else {
			host = r.RemoteAddr
		}
	}
	k.sendMu.Lock()
	c := k.hub.subscribeFrom(host)
	var first Status
	if c != nil {
		if k.subscribed != nil {
			k.subscribed()
		}
		first = k.pageStatus(k.Status())
	}
	k.sendMu.Unlock()
	if c == nil {
		http.Error(w, "too many event streams, or the kiosk is stopped", http.StatusServiceUnavailable)
		return
	}
	defer k.hub.unsubscribe(c)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how soon the browser reconnects; then the current state.
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if _, err := w.Write(sseMessage("state", first)); err != nil {
		return
	}
	if _, err := w.Write(sseMessage("page", k.pageInfo())); err != nil {
		return
	}
	fl.Flush()
	tick := time.NewTicker(sseHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-c:
			if !ok {
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			// A named event, not a comment: the page's script sees it and
			// takes a stream silent for longer as a hung daemon.
			if _, err := w.Write(pingMessage); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (k *Kiosk) serveMJPEG(w http.ResponseWriter, r *http.Request) {
	src := k.deps.Preview
	if src == nil {
		http.Error(w, "no preview source", http.StatusNotFound)
		return
	}
	if !fromLoopback(r) && !k.settings().kiosk.RemotePreview {
		http.Error(w, "the camera preview is served to this machine only (kiosk.remote_preview)", http.StatusForbidden)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if k.mjpegClients.Add(1) > maxMJPEGClients {
		k.mjpegClients.Add(-1)
		http.Error(w, "too many preview streams", http.StatusServiceUnavailable)
		return
	}
	defer k.mjpegClients.Add(-1)
	rc := http.NewResponseController(w)
	const boundary = "facegateframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Each part ends with the next part's boundary: a browser shows a part
	// only once it sees the boundary after it, so writing it with the frame
	// (not before the next one) shows every frame at once.
	if _, err := io.WriteString(w, "--"+boundary+"\r\n"); err != nil {
		return
	}
	fl.Flush()
	var seq uint64
	for {
		jpeg, n, err := src.NextPreview(r.Context(), seq)
		if err != nil {
			if r.Context().Err() == nil {
				k.log.Debug("preview stream ended", "err", err)
			}
			return
		}
		seq = n
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		hdr := "Content-Type: image/jpeg\r\nContent-Length: " + strconv.Itoa(len(jpeg)) + "\r\n\r\n"
		if _, err := io.WriteString(w, hdr); err != nil {
			return
		}
		if _, err := w.Write(jpeg); err != nil {
			return
		}
		if _, err := io.WriteString(w, "\r\n--"+boundary+"\r\n"); err != nil {
			return
		}
		fl.Flush()
	}
}

func (k *Kiosk) serveIdentify(w http.ResponseWriter, r *http.Request) {
	set := k.settings()
	if !set.identity.HTTP.Enabled {
		writeJSON(w, http.StatusNotFound, apiAnswer{Error: "identify over HTTP is disabled (identity.http.enabled)"})
		return
	}
	if !tokenOK(r.Header.Get("Authorization"), set.identity.HTTP.Token) {
		k.metrics.identify(SourceHTTP, "unauthorized")
		w.Header().Set("WWW-Authenticate", `Bearer realm="facegate"`)
		writeJSON(w, http.StatusUnauthorized, apiAnswer{Error: "missing or wrong bearer token"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIdentifyBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiAnswer{Error: "body larger than 4096 bytes"})
		return
	}
	// The body may arrive after a reload that rotated the token or turned
	// identify over HTTP off.
	if now := k.settings(); !now.identity.HTTP.Enabled || !tokenOK(r.Header.Get("Authorization"), now.identity.HTTP.Token) {
		k.metrics.identify(SourceHTTP, "unauthorized")
		w.Header().Set("WWW-Authenticate", `Bearer realm="facegate"`)
		writeJSON(w, http.StatusUnauthorized, apiAnswer{Error: "missing or wrong bearer token"})
		return
	}
	err = k.IdentifyJSON(SourceHTTP, body)
	k.answerSession(w, err, apiAnswer{Status: "accepted", State: string(StateIdentified)})
}

// answerSession answers a request that starts a session (identify, open):
// accepted on nil, else the status its error class calls for.
func (k *Kiosk) answerSession(w http.ResponseWriter, err error, accepted apiAnswer) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, accepted)
	case errors.Is(err, ErrInvalidIdentity):
		writeJSON(w, http.StatusBadRequest, apiAnswer{Error: err.Error()})
	case errors.Is(err, ErrUnknownBadge):
		writeJSON(w, http.StatusUnprocessableEntity, apiAnswer{Error: err.Error()})
	case errors.Is(err, ErrBusy):
		writeJSON(w, http.StatusConflict, apiAnswer{Error: "a session is in progress; try again when the gate is idle", State: string(k.Status().State)})
	case errors.Is(err, ErrSourceDisabled):
		// An assembly-point kiosk asked to open: refused by design.
		writeJSON(w, http.StatusForbidden, apiAnswer{Error: err.Error()})
	case errors.Is(err, ErrNotRunning):
		writeJSON(w, http.StatusServiceUnavailable, apiAnswer{Error: "the kiosk is not running"})
	default:
		writeJSON(w, http.StatusInternalServerError, apiAnswer{Error: err.Error()})
	}
}

// apiAnswer is the JSON answer of POST /api/identify.
type apiAnswer struct {
	Status string `json:"status,omitempty"`
	State  string `json:"state,omitempty"`
	Error  string `json:"error,omitempty"`
}

// tokenOK compares the bearer token in constant time (both sides hashed
// first, so that the length does not leak either). An empty configured
// token never matches.
func tokenOK(header, want string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || want == "" {
		return false
	}
	g := sha256.Sum256([]byte(strings.TrimSpace(got)))
	w := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func (k *Kiosk) serveHealthz(w http.ResponseWriter, r *http.Request) {
	h := k.Health()
	code := http.StatusOK
	if h.Status != HealthOK && h.Status != HealthDegraded {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, struct {
		Health
		Version string `json:"version,omitempty"`
		State   State  `json:"state"`
	}{h, k.deps.Version, k.Status().State})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// listenHost is the host part of a listen address ("" when it has none).
func listenHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}
