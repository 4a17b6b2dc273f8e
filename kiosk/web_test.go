package kiosk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

const testToken = "0123456789abcdef-token"

// localRequest is a request as the kiosk's own browser sends it: from
// loopback, for the listen address.
func localRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8080"
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

func webRig(t *testing.T, mut func(*Options), deps func(*Deps)) *Kiosk {
	t.Helper()
	cfg := testConfig(t)
	cfg.Identity.HTTP.Enabled = true
	cfg.Identity.HTTP.Token = testToken
	if mut != nil {
		mut(cfg)
	}
	d := Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Logger: quietLogger(), Version: "v-test"}
	if deps != nil {
		deps(&d)
	}
	k, err := New(*cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// accept makes the kiosk accept identities without running sessions
// (the HTTP layer is under test, not the session).
func accept(k *Kiosk) {
	k.mu.Lock()
	k.accepting = true
	k.mu.Unlock()
}

func TestIdentifyEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		disabled bool
		running  bool
		busy     bool
		auth     string
		body     string
		code     int
		contains string
	}{
		{name: "disabled", disabled: true, auth: "Bearer " + testToken, body: `{"submission_id":"s1"}`, code: 404, contains: "disabled"},
		{name: "no token", running: true, body: `{"submission_id":"s1"}`, code: 401},
		{name: "wrong token", running: true, auth: "Bearer " + testToken + "x", body: `{"submission_id":"s1"}`, code: 401},
		{name: "token without scheme", running: true, auth: testToken, body: `{"submission_id":"s1"}`, code: 401},
		{name: "accepted", running: true, auth: "Bearer " + testToken, body: `{"submission_id":"s1","user_id":"u1"}`, code: 202, contains: `"accepted"`},
		{name: "bad json", running: true, auth: "Bearer " + testToken, body: `{"submission_id":`, code: 400},
		{name: "unknown field", running: true, auth: "Bearer " + testToken, body: `{"submission_id":"s1","x":1}`, code: 400},
		{name: "bad characters", running: true, auth: "Bearer " + testToken, body: `{"submission_id":"s 1"}`, code: 400, contains: "submission_id"},
		{name: "unknown badge", running: true, auth: "Bearer " + testToken, body: `{"badge_id":"B9"}`, code: 422},
		{name: "busy", running: true, busy: true, auth: "Bearer " + testToken, body: `{"submission_id":"s1"}`, code: 409},
		{name: "not running", auth: "Bearer " + testToken, body: `{"submission_id":"s1"}`, code: 503},
		{name: "too large", running: true, auth: "Bearer " + testToken, body: `{"submission_id":"` + strings.Repeat("a", 5000) + `"}`, code: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := webRig(t, func(c *Options) { c.Identity.HTTP.Enabled = !tc.disabled }, nil)
			if tc.running {
				accept(k)
			}
			if tc.busy {
				k.mu.Lock()
				k.inSession = true
				k.mu.Unlock()
			}
			req := localRequest("POST", "/api/identify", strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			k.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("body %q lacks %q", rec.Body, tc.contains)
			}
			if tc.code == 202 {
				k.mu.Lock()
				p := k.pending
				k.mu.Unlock()
				if p == nil || p.SubmissionID != "s1" || p.UserID != "u1" || p.Source != SourceHTTP {
					t.Errorf("pending %+v", p)
				}
			}
		})
	}
}

func TestTokenOK(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"Bearer abc ", "abc", true},
		{"Bearer abd", "abc", false},
		{"Bearer ", "", false},
		{"Basic abc", "abc", false},
		{"", "abc", false},
	} {
		if got := tokenOK(tc.header, tc.want); got != tc.ok {
			t.Errorf("tokenOK(%q, %q) = %v", tc.header, tc.want, got)
		}
	}
}

func TestPageIsSelfContained(t *testing.T) {
	k := webRig(t, func(c *Options) { c.Page.Title = "North <gate>" }, func(d *Deps) { d.Preview = &fakePreview{} })
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, localRequest("GET", "/", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "North &lt;gate&gt;") || !strings.Contains(body, `src="/stream.mjpg"`) {
		t.Fatalf("page %d: %s", rec.Code, body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, asset := range []string{"/static/kiosk.js", "/static/kiosk.css"} {
		rec := httptest.NewRecorder()
		k.Handler().ServeHTTP(rec, localRequest("GET", asset, nil))
		if rec.Code != 200 || rec.Body.Len() < 100 {
			t.Errorf("%s: %d, %d bytes", asset, rec.Code, rec.Body.Len())
		}
		body += rec.Body.String()
	}
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(body, bad) {
			t.Errorf("page or assets reference %q (no CDN, no outside URL)", bad)
		}
	}
	rec = httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, localRequest("GET", "/nope", nil))
	if rec.Code != 404 {
		t.Errorf("/nope: %d", rec.Code)
	}
}

func TestEventsStream(t *testing.T) {
	k := webRig(t, func(c *Options) { c.Page.ShowName = true }, nil)
	resp := openEvents(t, k.Handler())
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() (string, string) {
		t.Helper()
		var event, data string
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			case line == "" && event != "":
				return event, data
			}
		}
	}
	ev, data := next()
	var s Status
	if ev != "state" || json.Unmarshal([]byte(data), &s) != nil || s.State != StateStopped {
		t.Fatalf("first event %s %s", ev, data)
	}
	// Then what the page was rendered with (version, title).
	if ev, data = next(); ev != "page" || !strings.Contains(data, `"version":"v-test"`) || !strings.Contains(data, `"title":"Face check"`) {
		t.Fatalf("page event %s %s", ev, data)
	}
	k.setState(StateIdentified, msgIdentified, func(s *Status) { s.Name = "Ana" })
	ev, data = next()
	if ev != "state" || !strings.Contains(data, `"state":"identified"`) || !strings.Contains(data, `"name":"Ana"`) {
		t.Fatalf("second event %s %s", ev, data)
	}
	k.hub.send("decision", record.Event{EventID: "e1", Decision: record.DecisionGranted})
	ev, data = next()
	if ev != "decision" || !strings.Contains(data, `"event_id":"e1"`) {
		t.Fatalf("third event %s %s", ev, data)
	}
	k.hub.close() // Run's end closes every stream
	if _, err := io.ReadAll(rd); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

func TestSlowEventClientIsDropped(t *testing.T) {
	h := newHub()
	c := h.subscribe()
	for i := 0; i < sseBuffer+1; i++ {
		h.send("state", i)
	}
	n := 0
	for range c { // closed by the drop
		n++
	}
	if n != sseBuffer {
		t.Errorf("%d messages before the drop, want %d", n, sseBuffer)
	}
	for i := 0; i < maxSSEClients; i++ {
		if h.subscribe() == nil {
			t.Fatalf("client %d refused", i)
		}
	}
	if h.subscribe() != nil {
		t.Error("more than maxSSEClients accepted")
	}
}

func TestMJPEGStream(t *testing.T) {
	frames := [][]byte{[]byte("\xff\xd8one\xff\xd9"), []byte("\xff\xd8two\xff\xd9")}
	k := webRig(t, nil, func(d *Deps) { d.Preview = &fakePreview{frames: frames} })
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/stream.mjpg", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i, want := range frames {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got := make([]byte, len(want)) // the part ends only when the next frame starts
		if _, err := io.ReadFull(p, got); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if cl := p.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
			t.Errorf("part %d: content length %q", i, cl)
		}
		if p.Header.Get("Content-Type") != "image/jpeg" || string(got) != string(want) {
			t.Errorf("part %d: %q %q", i, p.Header.Get("Content-Type"), got)
		}
	}
	// without a preview source
	k2 := webRig(t, nil, nil)
	rec := httptest.NewRecorder()
	k2.Handler().ServeHTTP(rec, localRequest("GET", "/stream.mjpg", nil))
	if rec.Code != 404 {
		t.Errorf("no preview: %d", rec.Code)
	}
}

func TestMetricsAndHealthz(t *testing.T) {
	cam := &fakeCamera{h: CameraHealth{FPS: 14.5, LastChange: time.Now(), DetectorTime: 30 * time.Millisecond}}
	brk := &fakeBroker{connected: false, depth: 7}
	k := webRig(t, nil, func(d *Deps) { d.Camera = cam; d.Broker = brk; d.Pinger = fakePinger{} })
	h := k.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"unknown"`) {
		t.Errorf("healthz before the first self-test: %d %s", rec.Code, rec.Body)
	}

	k.setHealth(k.selfTest(context.Background()))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/healthz", nil))
	var got struct {
		Status  string           `json:"status"`
		Checks  map[string]Check `json:"checks"`
		Version string           `json:"version"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || got.Status != HealthDegraded || got.Checks["broker"].Status != HealthDegraded ||
		got.Checks["camera"].Status != HealthOK || got.Checks["api"].Status != HealthOK || got.Version != "v-test" {
		t.Errorf("healthz %d %+v", rec.Code, got)
	}

	// a decision with a submission id, then the metrics must not show it
	s := &session{id: Identity{SubmissionID: "secret-sub-id", Source: SourceQR}, start: time.Now()}
	ev := &record.Event{Decision: record.DecisionDenied, Reason: []string{"head_cover_fail", "weird_code"}, SubmissionID: "secret-sub-id"}
	k.metrics.decision(ev, s)
	k.metrics.failCode("HEAD_COVER_FAIL")
	k.metrics.apiError("config")
	k.metrics.apiLatency.Observe(0.8)
	k.metrics.relayPulses.Inc()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`facegate_decisions_total{result="denied"} 1`,
		`facegate_decisions_total{result="granted"} 0`,
		`facegate_decision_reasons_total{reason="head_cover_fail"} 1`,
		`facegate_decision_reasons_total{reason="other"} 1`,
		`facegate_fail_codes_total{code="head_cover_fail"} 1`,
		`facegate_api_errors_total{class="config"} 1`,
		`facegate_time_to_decision_seconds_bucket`,
		`facegate_api_latency_seconds_count 1`,
		`facegate_relay_pulses_total 1`,
		`facegate_camera_fps 14.5`,
		`facegate_outbox_depth 7`,
		`facegate_broker_connected 0`,
		`facegate_health 1`,
		`facegate_health_check{check="camera"} 2`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "secret-sub-id") {
		t.Error("a submission id appears in the metrics")
	}

	// camera frozen and API down: down, 503
	cam.mu.Lock()
	cam.h.LastChange = time.Now().Add(-time.Hour)
	cam.mu.Unlock()
	k.setHealth(k.selfTest(context.Background()))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", "/healthz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "frames unchanged") {
		t.Errorf("frozen camera: %d %s", rec.Code, rec.Body)
	}
}

func TestStatusEndpoint(t *testing.T) {
	k := webRig(t, nil, nil)
	k.SetDoor(true)
	k.SetRelay(false)
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, localRequest("GET", "/api/status", nil))
	var s Status
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || s.Door != "open" || s.Relay != "closed" || s.State != StateStopped {
		t.Errorf("status %+v %v", s, err)
	}
}

// TestPageGetsTheLastStatusLast: status updates from several goroutines
// (the session, the door, the health check, the turn meter) reach the
// page in the order they were made, so the last message is the status
// as it is: a health update racing a change of state must not resend the
// state before it.
func TestPageGetsTheLastStatusLast(t *testing.T) {
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{res: approved()}, Relay: &fakeRelay{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k.snapshotTaken = runtime.Gosched // let another change overtake, if it can
	for round := range 300 {
		page := k.hub.subscribe()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 { // 60 messages: within the page's buffer
					switch g {
					case 0:
						k.setState([]State{StateIdentified, StateCapturing, StateChallenge}[i%3], "", nil)
					case 1:
						k.updateStatus(func(s *Status) { s.Door = openClosed(i%2 == 0) })
					case 2:
						k.updateStatus(func(s *Status) { s.Health = []string{HealthOK, HealthDegraded}[i%2] })
					default:
						k.updateStatus(func(s *Status) { s.LastEventID = fmt.Sprint(round, i) })
					}
				}
			}()
		}
		wg.Wait()
		var last Status
		for len(page) > 0 {
			msg := <-page
			_, data, _ := bytes.Cut(msg, []byte("\ndata: "))
			last = Status{}
			if err := json.Unmarshal(bytes.TrimSpace(data), &last); err != nil {
				t.Fatal(err)
			}
		}
		k.hub.unsubscribe(page)
		now := k.Status()
		if last.State != now.State || last.Door != now.Door || last.Health != now.Health || last.LastEventID != now.LastEventID {
			t.Fatalf("round %d: the page's last status is %s/%s/%s/%s, the kiosk's %s/%s/%s/%s", round,
				last.State, last.Door, last.Health, last.LastEventID, now.State, now.Door, now.Health, now.LastEventID)
		}
	}
}

// TestEventsStreamStartsWithTheLatestStatus: a page that connects while
// the status changes gets the current status first and then only newer
// ones: the changes made while it subscribed are not replayed after it.
func TestEventsStreamStartsWithTheLatestStatus(t *testing.T) {
	k := webRig(t, nil, nil)
	// While the page subscribes, two changes try to happen. They wait for
	// the subscription to finish (at most 200 ms; without the lock they
	// are made at once, and queued for the page before its first status).
	done := make(chan struct{})
	k.subscribed = func() {
		go func() {
			k.setState(StateIdentified, msgIdentified, nil)
			k.setState(StateCapturing, msgCapturing, nil)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
		}
	}
	resp := openEvents(t, k.Handler())
	k.subscribed = nil
	<-done
	k.setState(StateAuthenticating, msgChecking, nil) // the last change: read up to it
	rd := bufio.NewReader(resp.Body)
	order := map[State]int{StateStopped: 0, StateIdentified: 1, StateCapturing: 2, StateAuthenticating: 3}
	last := -1
	var seen []State
	for len(seen) == 0 || seen[len(seen)-1] != StateAuthenticating {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (states %v)", err, seen)
		}
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
		if !ok {
			continue
		}
		var s Status
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, s.State)
		if order[s.State] < last {
			t.Fatalf("the page went back to %s: states %v", s.State, seen)
		}
		last = order[s.State]
	}
}

// openEvents serves h and opens its event stream (closed when the test
// ends).
func openEvents(t *testing.T, h http.Handler) *http.Response {
	t.Helper()
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	// Cleanups run last first: the body, then the context, then the server.
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
