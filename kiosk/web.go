package kiosk

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed web
var webFS embed.FS

var pageTemplate = template.Must(template.ParseFS(webFS, "web/index.html"))

// sseHeartbeat keeps proxies and the browser from timing the stream out.
const sseHeartbeat = 15 * time.Second

// maxMJPEGClients bounds the preview streams (each costs a JPEG copy per
// frame on the network).
const maxMJPEGClients = 4

// Handler serves the kiosk page and its API:
//
//	GET  /              the kiosk page (embedded HTML/CSS/JS, no CDN)
//	GET  /static/…      its assets
//	GET  /events        server-sent events: "state" (Status) and "decision" (mqtt.Event)
//	GET  /stream.mjpg   the camera preview as multipart MJPEG (404 without a PreviewSource)
//	GET  /api/status    the current Status as JSON
//	POST /api/identify  an identify body with "Authorization: Bearer <identity.http.token>"
//	GET  /metrics       Prometheus metrics (private registry)
//	GET  /healthz       the last self-test (200 ok/degraded, 503 down or unknown)
//
// The daemon serves it on kiosk.listen; it carries no TLS of its own (the
// default address is loopback).
func (k *Kiosk) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	mux.HandleFunc("GET /{$}", k.servePage)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /events", k.serveEvents)
	mux.HandleFunc("GET /stream.mjpg", k.serveMJPEG)
	mux.HandleFunc("GET /api/status", k.serveStatus)
	mux.HandleFunc("POST /api/identify", k.serveIdentify)
	mux.Handle("GET /metrics", promhttp.HandlerFor(k.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", k.serveHealthz)
	return securityHeaders(mux)
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
		Title, Site, Gate string
		Preview           bool
	}{set.kiosk.Title, k.site, k.gate, k.deps.Preview != nil}
	if err := pageTemplate.Execute(w, data); err != nil {
		k.log.Warn("kiosk page render failed", "err", err)
	}
}

func (k *Kiosk) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, k.Status())
}

func (k *Kiosk) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	c := k.hub.subscribe()
	if c == nil {
		http.Error(w, "too many event streams, or the kiosk is stopped", http.StatusServiceUnavailable)
		return
	}
	defer k.hub.unsubscribe(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how soon the browser reconnects; then the current state.
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if _, err := w.Write(sseMessage("state", k.Status())); err != nil {
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
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		case <-tick.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
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
	const boundary = "facegateframe"
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
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
		hdr := "--" + boundary + "\r\nContent-Type: image/jpeg\r\nContent-Length: " + strconv.Itoa(len(jpeg)) + "\r\n\r\n"
		if _, err := io.WriteString(w, hdr); err != nil {
			return
		}
		if _, err := w.Write(jpeg); err != nil {
			return
		}
		if _, err := io.WriteString(w, "\r\n"); err != nil {
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
	if !tokenOK(r.Header.Get("Authorization"), set.identity.HTTP.Token.Value()) {
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
	err = k.IdentifyJSON(SourceHTTP, body)
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, apiAnswer{Status: "accepted", State: string(StateIdentified)})
	case errors.Is(err, ErrInvalidIdentity):
		writeJSON(w, http.StatusBadRequest, apiAnswer{Error: err.Error()})
	case errors.Is(err, ErrUnknownBadge):
		writeJSON(w, http.StatusUnprocessableEntity, apiAnswer{Error: err.Error()})
	case errors.Is(err, ErrBusy):
		writeJSON(w, http.StatusConflict, apiAnswer{Error: "a session is in progress; try again when the gate is idle", State: string(k.Status().State)})
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
