package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/testpki"
	"github.com/facegate/facegate/mqtt/broker"
)

const prefix = "facegate/site/gate"

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestPublishEventsInOrder(t *testing.T) {
	rec := newRecorder()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription("facegate/#", rec.handle))
	c := newClient(t, testOptions(t, b.URL()))
	runClient(t, c)
	const n = 200
	for i := 1; i <= n; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	require.Eventually(t, func() bool { return rec.distinct() == n }, 10*time.Second, 5*time.Millisecond, "all events")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "outbox drained")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, ev := range rec.events {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: out of order", i, ev.Seq)
		}
	}
	ev := rec.events[0]
	if !strings.HasPrefix(ev.SubmissionID, "sha256:") || ev.Site != "site" || ev.Gate != "gate" {
		t.Errorf("event = %+v: want a hashed submission_id and site/gate filled", ev)
	}
	if got := rec.retained[prefix+"/status"]; got != "online" {
		t.Errorf("status = %q, want online", got)
	}
}

// The outage test: broker gone, N decisions, broker back: all N arrive, in order.
func TestBrokerOutageLosesNothing(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	addr := b.Addr()
	c := newClient(t, testOptions(t, b.URL()))
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")

	b.Close()
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	const n = 300
	for i := 1; i <= n; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatalf("PublishEvent while the broker is away: %v", err)
		}
	}
	if d := c.OutboxDepth(); d != n {
		t.Fatalf("outbox depth %d while away, want %d", d, n)
	}
	rec := newRecorder()
	startBroker(t, addr, broker.WithSubscription(prefix+"/event", rec.handle))
	require.Eventually(t, c.Connected, 15*time.Second, 5*time.Millisecond, "connected again")
	require.Eventually(t, func() bool { return rec.distinct() == n }, 15*time.Second, 5*time.Millisecond, "all queued events after the broker is back")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "outbox drained")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var last uint64
	for _, ev := range rec.events {
		if ev.Seq < last {
			t.Fatalf("replay out of order: seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
	t.Logf("broker outage: %d queued, %d delivered (%d messages with duplicates), 0 lost", n, len(rec.ids), len(rec.events))
	c.Close(context.Background()) // before the broker goes, so that "offline" is acknowledged quickly
}

func TestRetainedTopicsAndGracefulOffline(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription("facegate/#", h.handle))
	c := newClient(t, testOptions(t, b.URL()))
	// Set before connecting: published on connect.
	if err := c.PublishDoor(true); err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	require.Eventually(t, func() bool { return h.last(prefix+"/door") == "open" }, 5*time.Second, 5*time.Millisecond, "door on connect")

	c.PublishRelay(true)
	c.PublishRelay(false)
	c.PublishCameraHealth(CameraHealth{Status: CameraDegraded, FPS: 4.5, LastFrameAgeMS: 800, Message: "low light"})
	c.PublishState("capturing")
	c.PublishEvent(testEvent(7))
	require.Eventually(t, func() bool {
		r := h.of(prefix + "/relay")
		return len(r) >= 2 && r[len(r)-2] == "open" && r[len(r)-1] == "closed"
	}, 5*time.Second, 5*time.Millisecond, "relay open then closed")
	require.Eventually(t, func() bool {
		var s StatePayload
		json.Unmarshal([]byte(h.last(prefix+"/state")), &s)
		return s.State == "capturing" && s.LastDecision != nil && s.LastDecision.EventID == "ev-000007" &&
			s.LastDecision.FaceSimilarity != nil && *s.LastDecision.FaceSimilarity == 99.5
	}, 5*time.Second, 5*time.Millisecond, "state with the last decision")
	var health CameraHealth
	json.Unmarshal([]byte(h.last(prefix+"/camera")), &health)
	if health.Status != CameraDegraded || health.TS == "" {
		t.Errorf("camera health = %+v", health)
	}
	if err := c.PublishCameraHealth(CameraHealth{Status: "fine"}); err == nil {
		t.Error("PublishCameraHealth accepted status \"fine\"")
	}
	if err := c.PublishAlert(Alert{Code: "api_config", Message: "wrong API key", EventID: "ev-000007"}); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		var a Alert
		json.Unmarshal([]byte(h.last(prefix+"/alert")), &a)
		return a.Code == "api_config" && a.EventID == "ev-000007" && a.TS != ""
	}, 5*time.Second, 5*time.Millisecond, "alert")
	if err := c.PublishSelfTest(SelfTest{Status: "degraded", Checks: map[string]CheckInfo{"api": {Status: "down", Detail: "timeout"}}}); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool {
		var st SelfTest
		json.Unmarshal([]byte(h.last(prefix+"/health")), &st)
		return st.Status == "degraded" && st.Checks["api"].Detail == "timeout" && st.TS != ""
	}, 5*time.Second, 5*time.Millisecond, "self-test")
	if err := c.PublishSelfTest(SelfTest{Status: "fine"}); err == nil {
		t.Error("PublishSelfTest accepted status \"fine\"")
	}
	if err := c.PublishAlert(Alert{}); err == nil {
		t.Error("PublishAlert accepted an alert without a code")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledged to the gate does not mean delivered to every subscriber:
	// the broker hands the message to this one on its own time.
	require.Eventually(t, func() bool { return h.last(prefix+"/status") == "offline" }, 5*time.Second, 5*time.Millisecond, "status offline after Close")
	if err := c.PublishEvent(testEvent(8)); !errors.Is(err, ErrClosed) {
		t.Fatalf("PublishEvent after Close: %v, want ErrClosed", err)
	}
}

func TestLastWillOnAbruptLossThenOnlineAgain(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/status", h.handle))
	p := newProxy(t, b.Addr())
	o := testOptions(t, p.url())
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, func() bool { return h.last(prefix+"/status") == "online" }, 5*time.Second, 5*time.Millisecond, "online")
	p.cut()
	require.Eventually(t, func() bool { return h.last(prefix+"/status") == "offline" }, 5*time.Second, 5*time.Millisecond, "last will offline")
	require.Eventually(t, func() bool { return h.last(prefix+"/status") == "online" }, 5*time.Second, 5*time.Millisecond, "online again after reconnect")
}

func TestCommandsReachTheDaemon(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	o := testOptions(t, b.URL())
	o.Identify = true
	o.Open = OpenOptions{Enabled: true, Secret: testSecret}
	var logs lockedBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := newClient(t, o)
	// A retained command reaches a new subscription with the retain flag:
	// refused (it would run again on every reconnect).
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"retained"}`), true)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")

	next := func() Command {
		t.Helper()
		select {
		case cmd := <-c.Commands():
			return cmd
		case <-time.After(5 * time.Second):
			t.Fatal("no command delivered")
			return nil
		}
	}
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"sub-9","user_id":"u-9"}`), false)
	if id, ok := next().(Identify); !ok || id.SubmissionID != "sub-9" || id.UserID != "u-9" {
		t.Fatalf("identify: got %+v", id)
	}

	open := signed(t, testSecret, OpenBody{TS: time.Now().Unix() + 1, Nonce: "nonce-integration-1", Topic: prefix + "/cmd/open", By: "ops"})
	b.Publish(prefix+"/cmd/open", open, false)
	if op, ok := next().(Open); !ok || op.By != "ops" {
		t.Fatalf("open: got %+v", op)
	}
	// Refused: a replay, an unsigned open, a malformed identify, an old
	// identify (queued by the broker while the gate was away). The valid
	// identify after them must be the next command.
	b.Publish(prefix+"/cmd/open", open, false)
	b.Publish(prefix+"/cmd/open", []byte(`{"body":{"ts":1}}`), false)
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":`), false)
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"queued-an-hour-ago","ts":`+strconv.FormatInt(time.Now().Unix()-3600, 10)+`}`), false)
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"sub-10"}`), false)
	if id, ok := next().(Identify); !ok || id.SubmissionID != "sub-10" {
		t.Fatalf("after refused commands: got %+v, want identify sub-10", id)
	}
	for _, reason := range []string{"retained", "replayed", "unsigned", "malformed", "stale"} {
		if !strings.Contains(logs.String(), `msg="mqtt command refused"`) || !strings.Contains(logs.String(), "reason="+reason) {
			t.Errorf("no refusal logged with reason=%s:\n%s", reason, logs.String())
		}
	}
	if strings.Contains(logs.String(), "sub-9") || strings.Contains(logs.String(), "sub-10") {
		t.Errorf("a submission id was logged:\n%s", logs.String())
	}
}

func TestOpenIsOffByDefault(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	o := testOptions(t, b.URL())
	o.Identify = true
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	open := signed(t, testSecret, OpenBody{TS: time.Now().Unix(), Nonce: "nonce-integration-2", Topic: prefix + "/cmd/open"})
	b.Publish(prefix+"/cmd/open", open, false)
	b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"after"}`), false)
	select {
	case cmd := <-c.Commands():
		if id, ok := cmd.(Identify); !ok || id.SubmissionID != "after" {
			t.Fatalf("got %+v, want only the identify", cmd)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("identify not delivered")
	}
}

func TestHomeAssistantDiscovery(t *testing.T) {
	for _, door := range []bool{false, true} {
		t.Run(fmt.Sprintf("door=%v", door), func(t *testing.T) {
			h := newHistory()
			b := startBroker(t, "127.0.0.1:0", broker.WithSubscription("homeassistant/#", h.handle))
			o := testOptions(t, b.URL())
			o.HomeAssistant.Enabled = true
			o.HomeAssistant.Door = door
			c := newClient(t, o)
			runClient(t, c)
			node := haNodeID(o.ClientID)
			want := []string{"sensor/last_decision", "sensor/face_similarity", "sensor/session_state", "event/decision",
				"binary_sensor/relay", "sensor/camera", "binary_sensor/camera_problem", "binary_sensor/health_problem", "event/alert"}
			if door {
				want = append(want, "binary_sensor/door")
			}
			cfg := func(object string) string {
				return "homeassistant/" + strings.Replace(object, "/", "/"+node+"/", 1) + "/config"
			}
			announced := func(n int) bool {
				for _, w := range want {
					if got := h.of(cfg(w)); len(got) < n || got[n-1] == "" {
						return false
					}
				}
				return true
			}
			require.Eventually(t, func() bool { return announced(1) }, 5*time.Second, 5*time.Millisecond, "discovery configs")
			doorCfg := h.of(cfg("binary_sensor/door"))
			if !door && (len(doorCfg) != 1 || doorCfg[0] != "") {
				t.Errorf("door config without a door input = %q, want one empty (removing) message", doorCfg)
			}
			var relay map[string]any
			if err := json.Unmarshal([]byte(h.last(cfg("binary_sensor/relay"))), &relay); err != nil {
				t.Fatalf("relay config: %v", err)
			}
			if relay["availability_topic"] != prefix+"/status" || relay["state_topic"] != prefix+"/relay" || relay["payload_on"] != "open" {
				t.Fatalf("relay config = %v", relay)
			}
			b.Publish("homeassistant/status", []byte("online"), false)
			require.Eventually(t, func() bool { return announced(2) }, 5*time.Second, 5*time.Millisecond, "discovery republished on homeassistant/status online")
		})
	}
}

func TestBadCredentialsGiveAClearError(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", broker.WithUsers(map[string]string{"gate1": "right-password"}))
	o := testOptions(t, b.URL())
	o.Username, o.Password = "gate1", "wrong-password"
	c := newClient(t, o)
	select {
	case err := <-runClient(t, c):
		if !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), `"gate1"`) {
			t.Fatalf("Run = %v, want ErrNotAuthorized naming the user", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not report the refused credentials")
	}

	o = testOptions(t, b.URL())
	o.Username, o.Password = "gate1", "right-password"
	c = newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected with the right password")
}

func TestTLSWithGeneratedCA(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, "127.0.0.1:0", broker.WithTLS(pki.ServerTLS))
	if !strings.HasPrefix(b.URL(), "ssl://") {
		t.Fatalf("URL %s", b.URL())
	}
	o := testOptions(t, b.URL())
	o.TLS, err = LoadTLS(pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "TLS connection")

	// Without our CA the server certificate is not trusted.
	o = testOptions(t, b.URL())
	o.TLS = &tlsConfigNoCA
	c2 := newClient(t, o)
	runClient(t, c2)
	require.Eventually(t, func() bool {
		err := c2.LastError()
		return err != nil && strings.Contains(err.Error(), "certificate")
	}, 5*time.Second, 5*time.Millisecond, "a certificate error")
	if c2.Connected() {
		t.Fatal("connected to a server signed by an unknown CA")
	}
	if _, err := LoadTLS(pki.ServerKeyFile, "", "", ""); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("LoadTLS with a key as CA: %v", err)
	}
}

func TestPublishEventValidation(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.OutboxMaxEvents = 2
	c := newClient(t, o)
	defer c.Close(context.Background())
	ev := testEvent(1)
	ev.EventID = ""
	if err := c.PublishEvent(ev); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("no event_id: %v", err)
	}
	ev = testEvent(1)
	ev.Decision = "maybe"
	if err := c.PublishEvent(ev); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("bad decision: %v", err)
	}
	c.PublishEvent(testEvent(1))
	c.PublishEvent(testEvent(2))
	if err := c.PublishEvent(testEvent(3)); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("third event in an outbox of 2: %v, want ErrOutboxFull", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		msg  string
	}{
		{"no url", func(o *Options) { o.URLs = nil }, "no broker URL"},
		{"bad scheme", func(o *Options) { o.URLs = []string{"http://x:1"} }, "scheme must be"},
		{"wildcard prefix", func(o *Options) { o.Prefix = "a/#" }, "without wildcards"},
		{"short secret", func(o *Options) { o.Open = OpenOptions{Enabled: true, Secret: []byte("short")} }, "at least 16"},
		{"privacy", func(o *Options) { o.SubmissionID = "blur" }, "plain, hash or omit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, "tcp://127.0.0.1:1")
			tc.mod(&o)
			_, err := New(o)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrInvalidOptions with %q", err, tc.msg)
			}
		})
	}
}

// A broker that stops acknowledging is abandoned after AckTimeout and the
// events go out on a new connection.
func TestStalledBrokerIsAbandoned(t *testing.T) {
	rec := newRecorder()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/event", rec.handle))
	p := newProxy(t, b.Addr())
	o := testOptions(t, p.url())
	o.AckTimeout = 300 * time.Millisecond
	o.ConnectTimeout = 500 * time.Millisecond
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")

	p.stalled.Store(true)
	for i := 1; i <= 5; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "the stalled connection dropped")
	// The event or the retained state (PublishEvent updates both) times out.
	if err := c.LastError(); err == nil || !strings.Contains(err.Error(), "no PUBACK") && !strings.Contains(err.Error(), "no acknowledgement") {
		t.Fatalf("LastError = %v, want the missing acknowledgement", err)
	}
	p.stalled.Store(false)
	require.Eventually(t, func() bool { return rec.distinct() == 5 }, 10*time.Second, 5*time.Millisecond, "events delivered after the stall")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "outbox drained")
}

// Nobody reads Commands: the commands pile up and are dropped, and the
// connection (paho's goroutine) keeps working.
func TestUnreadCommandsNeverBlockTheConnection(t *testing.T) {
	rec := newRecorder()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/event", rec.handle))
	o := testOptions(t, b.URL())
	o.Identify = true
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	for i := 0; i < 500; i++ {
		b.Publish(prefix+"/cmd/identify", []byte(`{"submission_id":"s`+strconv.Itoa(i)+`"}`), false)
	}
	if err := c.PublishEvent(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return rec.distinct() == 1 }, 5*time.Second, 5*time.Millisecond, "an event published while commands pile up")
	if !c.Connected() {
		t.Fatal("connection lost while commands piled up")
	}
	// The commands go through the Client's own goroutine, which under load
	// may run after the event's PUBACK: wait for it.
	require.Eventually(t, func() bool { return len(c.Commands()) == cap(c.Commands()) }, 5*time.Second, 5*time.Millisecond, "the unread command channel full")
	if !c.Connected() {
		t.Fatal("connection lost once the command channel was full")
	}
}

func TestWebsocketAndSecureWebsocket(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scheme string
		opts   []broker.Option
	}{
		{"ws://", []broker.Option{broker.WithWebsocket()}},
		{"wss://", []broker.Option{broker.WithWebsocket(), broker.WithTLS(pki.ServerTLS)}},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			rec := newRecorder()
			b := startBroker(t, "127.0.0.1:0", append(tc.opts, broker.WithSubscription(prefix+"/event", rec.handle))...)
			if !strings.HasPrefix(b.URL(), tc.scheme) {
				t.Fatalf("URL %s", b.URL())
			}
			o := testOptions(t, b.URL())
			o.TLS, _ = LoadTLS(pki.CAFile, "", "", "")
			c := newClient(t, o)
			runClient(t, c)
			c.PublishEvent(testEvent(1))
			require.Eventually(t, func() bool { return rec.distinct() == 1 }, 5*time.Second, 5*time.Millisecond, "event over "+tc.scheme)
		})
	}
}

// TestLogsHideURLPasswords: a broker URL may carry the login
// (tcp://user:password@host); no log line shows the password, neither on a
// failed connect nor on a successful one.
func TestLogsHideURLPasswords(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	withLogin := strings.Replace(b.URL(), "://", "://gate:url-pw-2@", 1) + "?token=url-pw-3"
	o := testOptions(t, withLogin)
	// A first broker that refuses the connection makes paho fall back to the second.
	o.URLs = []string{"tcp://gate:url-pw-1@127.0.0.1:1", withLogin}
	var logs lockedBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="mqtt connected"`) }, 5*time.Second, 5*time.Millisecond, "connected logged")

	down := testOptions(t, "tcp://gate:url-pw-4@127.0.0.1:1")
	down.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	runClient(t, newClient(t, down))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), `msg="mqtt connect failed"`) }, 5*time.Second, 5*time.Millisecond, "connect failure logged")

	if strings.Contains(logs.String(), "url-pw") {
		t.Fatalf("a password from a URL was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "tcp://xxxxx@127.0.0.1:1") {
		t.Errorf("the URLs are not logged (masked):\n%s", logs.String())
	}
}
