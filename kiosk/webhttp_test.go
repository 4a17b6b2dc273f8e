package kiosk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHostCheckStopsDNSRebinding(t *testing.T) {
	k := webRig(t, func(c *Options) {
		c.Page.Listen = "gate1.lan:8080"
		c.Page.AllowedHosts = []string{"Gate1.Local."}
	}, nil)
	h := k.Handler()
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", http.StatusOK},
		{"192.168.1.20:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"kiosk.localhost", http.StatusOK},
		{"gate1.lan:8080", http.StatusOK},   // the host of kiosk.listen
		{"gate1.local:8080", http.StatusOK}, // kiosk.allowed_hosts, any case, trailing dot
		{"GATE1.LOCAL.:8080", http.StatusOK},
	} {
		for _, path := range []string{"/api/status", "/events", "/", "/healthz", "/metrics", "/stream.mjpg"} {
			if path == "/events" && tc.want == http.StatusOK {
				continue // a stream; served below through a real server
			}
			r := localRequest("GET", path, nil)
			r.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			got := rec.Code
			if got != http.StatusMisdirectedRequest && tc.want == http.StatusOK {
				got = http.StatusOK // 404 (no preview), 503 (healthz) are answers too
			}
			if got != tc.want {
				t.Errorf("Host %q %s: %d, want %d", tc.host, path, rec.Code, tc.want)
			}
		}
	}
	// And through a real server, as a rebinding page's fetch arrives.
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/api/status", "/events"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s with Host evil.example: %d", path, resp.StatusCode)
		}
	}
}

// TestServerCutsSlowloris: a client that trickles its header is cut after
// the header timeout instead of holding a connection for ever.
func TestServerCutsSlowloris(t *testing.T) {
	k := webRig(t, nil, nil)
	srv := httptest.NewUnstartedServer(k.Handler())
	srv.Config = NewServer(k.Handler(), nil)
	srv.Start()
	defer srv.Close()
	if srv.Config.ReadHeaderTimeout <= 0 || srv.Config.ReadTimeout <= 0 || srv.Config.IdleTimeout <= 0 || srv.Config.MaxHeaderBytes <= 0 {
		t.Fatalf("server limits %+v", srv.Config)
	}
	if srv.Config.WriteTimeout != 0 {
		t.Fatal("a server-wide WriteTimeout would end the streams")
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := false
	for time.Since(start) < readHeaderTimeout+10*time.Second {
		time.Sleep(250 * time.Millisecond)
		if _, err := io.WriteString(conn, "X-a: b\r\n"); err != nil {
			closed = true
			break
		}
	}
	if !closed {
		t.Fatalf("a header trickled for %s was not cut", time.Since(start).Round(time.Second))
	}
	took := time.Since(start)
	if took < readHeaderTimeout-time.Second {
		t.Errorf("cut after %s, before the header timeout %s", took, readHeaderTimeout)
	}
	t.Logf("trickled header cut after %s", took.Round(100*time.Millisecond))
}

// TestStreamsOutliveTimeouts: the streams live past the server's
// ReadTimeout and past the per-answer write deadline (they move it at
// each write).
func TestStreamsOutliveTimeouts(t *testing.T) {
	defer func(w, s time.Duration) { writeTimeout, streamWriteTimeout = w, s }(writeTimeout, streamWriteTimeout)
	writeTimeout, streamWriteTimeout = 300*time.Millisecond, 10*time.Second
	k := webRig(t, nil, func(d *Deps) { d.Preview = &slowPreview{} })
	srv := httptest.NewUnstartedServer(k.Handler())
	srv.Config = NewServer(k.Handler(), nil)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	readUntil := func(want string) {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended before %q: %v", want, err)
			}
			if strings.Contains(line, want) {
				return
			}
		}
	}
	readUntil(`"state":"stopped"`)
	time.Sleep(4 * srv.Config.ReadTimeout)
	k.setState(StateIdle, msgIdle, nil)
	readUntil(`"state":"idle"`)

	mreq, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/stream.mjpg", nil)
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	if mresp.StatusCode != 200 {
		t.Fatalf("preview: %d", mresp.StatusCode)
	}
	// Frames written after both timeouts still arrive.
	mr := multipart.NewReader(mresp.Body, "facegateframe")
	for i := range 3 {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("preview frame %d (%s after the start): %v", i, 4*srv.Config.ReadTimeout*time.Duration(i), err)
		}
		_, _ = io.Copy(io.Discard, p)
	}
}

// slowPreview hands out a frame every 1.2 s (past the test's timeouts).
type slowPreview struct{}

func (slowPreview) NextPreview(ctx context.Context, after uint64) ([]byte, uint64, error) {
	if after > 0 {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(1200 * time.Millisecond):
		}
	}
	return []byte("jpeg"), after + 1, nil
}

func TestPreviewStaysOnLoopback(t *testing.T) {
	for _, remote := range []bool{false, true} {
		k := webRig(t, func(c *Options) { c.Page.RemotePreview = remote }, func(d *Deps) { d.Preview = &fakePreview{} })
		r := localRequest("GET", "/stream.mjpg", nil)
		r.RemoteAddr = "192.168.1.50:5000"
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		r = r.WithContext(ctx)
		rec := httptest.NewRecorder()
		k.Handler().ServeHTTP(rec, r)
		cancel()
		if want := map[bool]int{false: http.StatusForbidden, true: http.StatusOK}[remote]; rec.Code != want {
			t.Errorf("remote_preview=%v: a LAN client gets %d, want %d", remote, rec.Code, want)
		}
		page := httptest.NewRecorder()
		pr := localRequest("GET", "/", nil)
		pr.RemoteAddr = "192.168.1.50:5000"
		k.Handler().ServeHTTP(page, pr)
		if got := strings.Contains(page.Body.String(), `src="/stream.mjpg"`); got != remote {
			t.Errorf("remote_preview=%v: the page for a LAN client embeds the preview: %v", remote, got)
		}
	}
}

func TestFavicon(t *testing.T) {
	k := webRig(t, nil, nil)
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, localRequest("GET", "/favicon.ico", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/x-icon" {
		t.Fatalf("favicon: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	b := rec.Body.Bytes()
	var dir [3]uint16
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &dir); err != nil || dir != [3]uint16{0, 1, 1} {
		t.Fatalf("ICO header %v: %v", dir, err)
	}
	size := binary.LittleEndian.Uint32(b[6+8:])
	off := binary.LittleEndian.Uint32(b[6+12:])
	img, err := png.Decode(bytes.NewReader(b[off : off+size]))
	if err != nil || img.Bounds().Dx() != int(b[6]) || img.Bounds().Dx() != 32 {
		t.Fatalf("icon image: %v %v", err, img)
	}
}

func TestNameShownOnlyWhenConfigured(t *testing.T) {
	for _, show := range []bool{false, true} {
		k := webRig(t, func(c *Options) { c.Page.ShowName = show }, nil)
		k.setState(StateGranted, "Welcome", func(s *Status) { s.Name = "Ana Díaz" })
		rec := httptest.NewRecorder()
		k.Handler().ServeHTTP(rec, localRequest("GET", "/api/status", nil))
		var s Status
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		if got := s.Name == "Ana Díaz"; got != show {
			t.Errorf("show_name=%v: /api/status name %q", show, s.Name)
		}
		if got := strings.Contains(string(sseMessage("state", k.pageStatus(k.Status()))), "Ana"); got != show {
			t.Errorf("show_name=%v: the page's event names the worker: %v", show, got)
		}
	}
}

// TestMetricsScrapePassesPromtool runs `promtool check metrics` (Debian's
// prometheus package; make deps installs it) on a real scrape. In CI
// (CI=true) a missing promtool fails the test.
func TestMetricsScrapePassesPromtool(t *testing.T) {
	promtool := promtoolOrSkip(t)
	k := webRig(t, nil, func(d *Deps) {
		d.Camera = &fakeCamera{h: CameraHealth{FPS: 15, Frames: 1234, DetectorTime: 40 * time.Millisecond, LastChange: time.Now()}}
		d.Version = "v1.2.3-test"
	})
	k.ObserveDetection(42 * time.Millisecond)
	k.metrics.identify(SourceHTTP, "accepted")
	srv := httptest.NewServer(k.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	scrape := string(body)
	for _, want := range []string{
		`facegate_api_errors_total{class="transient"} 0`,
		`facegate_api_errors_total{class="config"} 0`,
		`facegate_operator_alerts_total{code="relay_fault"} 0`,
		`facegate_operator_alerts_total{code="api_config"} 0`,
		`facegate_operator_alerts_total{code="liveness_lockout"} 0`,
		`facegate_identifications_total{result="busy",source="qr"} 0`,
		`facegate_identifications_total{result="accepted",source="http"} 1`,
		`facegate_build_info{goversion="go`,
		`version="v1.2.3-test"} 1`,
		"facegate_camera_frames_total 1234",
		"facegate_camera_fps 15",
		"# TYPE facegate_detection_duration_seconds histogram",
		`facegate_detection_duration_seconds_bucket{le="0.05"} 1`,
		"facegate_detection_duration_seconds_count 1",
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	file := filepath.Join(t.TempDir(), "scrape.txt")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	in, _ := os.Open(file)
	defer in.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// The metrics listener serves nothing else.
	for _, path := range []string{"/stream.mjpg", "/", "/api/status", "/events"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// FuzzHostAllowed: with no configured names, only IP addresses and
// localhost pass, whatever the Host header holds.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"", "evil.example", "127.0.0.1:8080", "[::1]:80", "localhost", "a.localhost:1", "LOCALHOST.", "[::1", "1.2.3.4.evil", ":80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, "", nil) || host == "" {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
		if _, err := netip.ParseAddr(h); err != nil && h != "localhost" && !strings.HasSuffix(h, ".localhost") {
			t.Fatalf("Host %q allowed", host)
		}
	})
}
