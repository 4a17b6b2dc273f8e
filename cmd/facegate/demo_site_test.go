package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/internal/mosquittotest"
	"github.com/facegate/facegate/record"
)

// TestDemoSite runs `facegate demo --site --seconds 30` in-process: every
// stdout line but the last is one decision event with its gate and zone
// fields, the day's passback, occupancy and muster decisions among them;
// the last line is exactly the presence and missing the scripted day
// leads to, agreed by every gate; the exit code is 0.
func TestDemoSite(t *testing.T) {
	if _, err := demoscene.ImagesDir(os.Getenv); err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	lines := runSiteDemo(t, "--seconds", "30")
	evs := decisions(t, lines[:len(lines)-1])
	steps := 0
	for _, st := range demoSiteDay() {
		if st.Action == "" {
			steps++
		}
	}
	if len(evs) != steps {
		t.Errorf("%d decisions on stdout, the day has %d passages", len(evs), steps)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Gate == "" || ev.Site != demoSiteName {
			t.Errorf("event without its site and gate: %+v", ev)
		}
		if ev.Mode == record.ModeMuster {
			seen["muster"] = true
			continue
		}
		if ev.ZoneFrom == "" || ev.ZoneTo == "" || ev.Direction == "" {
			t.Errorf("gate %s: event without zone fields: %+v", ev.Gate, ev)
		}
		for _, r := range ev.Reason {
			seen[r] = true
		}
	}
	for _, code := range []string{"passback_same_zone", "passback_no_path", "occupancy_full", "muster"} {
		if !seen[code] {
			t.Errorf("no %s decision in the day", code)
		}
	}
	if !json.Valid([]byte(lines[len(lines)-1])) {
		t.Error("the last line is not JSON")
	}
}

// demoSiteOutcome is the last line the scripted day leads to.
const demoSiteOutcome = `{"presence":{"site":["worker-0001","worker-0004","worker-0005"],"zone-b":["worker-0002","worker-0003"]},"missing":["worker-0003","worker-0004"]}`

// runSiteDemo runs `facegate demo --site ARGS…`, checks that it exits 0
// with the day's outcome as its last stdout line, and returns the lines.
func runSiteDemo(t *testing.T, args ...string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"demo", "--site"}, args...), osEnv(), nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; last != demoSiteOutcome {
		t.Fatalf("last line\n%s\nwant\n%s\nstderr:\n%s", last, demoSiteOutcome, stderr.String())
	}
	return lines
}

// TestDemoSiteTwiceOnOneBroker runs the site demo twice on one mosquitto
// (--mqtt): the second run must not inherit the first one's retained
// snapshots and evacuation (it would deny everyone at once).
func TestDemoSiteTwiceOnOneBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: two site demos take about 40 s")
	}
	if _, err := demoscene.ImagesDir(os.Getenv); err != nil {
		t.Skipf("gocv sample images unavailable: %v", err)
	}
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	for i := 0; i < 2; i++ {
		runSiteDemo(t, "--seconds", "25", "--mqtt", mq.URL())
	}
}

// TestDemoSiteGateConfigs: every gate of the demo site gets a file the
// config package accepts, with the door, mode and site topic the demo
// relies on (a renamed key fails here in a second, not in the demo).
func TestDemoSiteGateConfigs(t *testing.T) {
	r := &siteRun{o: siteOptions{Site: demoSiteName, BrokerURL: "tcp://127.0.0.1:1883", Dir: t.TempDir(),
		ZoneBMax: demoSiteZoneBMax, ReconnectMax: time.Second},
		apiURL: "http://127.0.0.1:8089/v3", apiKey: "demo-key", roster: "roster.csv", cmdSecret: []byte("0123456789abcdef0123")}
	for _, spec := range demoSiteGates {
		cfg, err := r.gateConfig(spec)
		if err != nil {
			t.Fatalf("gate %s: %v", spec.Name, err)
		}
		if got := cfg.MQTT.PrefixFor(cfg.Site, cfg.Gate); got != "facegate/demo/"+spec.Name {
			t.Errorf("gate %s: prefix %q", spec.Name, got)
		}
		if !cfg.Zones.Enabled || cfg.Zones.AntiPassback.Mode != "hard" {
			t.Errorf("gate %s: zones %+v", spec.Name, cfg.Zones)
		}
		if spec.Muster {
			if cfg.Mode != config.ModeMuster {
				t.Errorf("gate %s: mode %q", spec.Name, cfg.Mode)
			}
			continue
		}
		if d := cfg.Zones.Door; d.From != spec.From || d.To != spec.To || d.Direction != spec.Direction {
			t.Errorf("gate %s: door %+v, want %+v", spec.Name, d, spec)
		}
		if z, ok := cfg.Zones.Zone("zone-b"); !ok || z.MaxOccupancy != demoSiteZoneBMax || z.Inside != "site" || !z.Hazardous {
			t.Errorf("gate %s: zone-b %+v", spec.Name, z)
		}
	}
}

// A broker that accepts the connection but never answers makes
// publishOnce report what timed out and where, not "<nil>".
func TestPublishOnceConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // read nothing, answer nothing
		}
	}()
	url := "tcp://" + ln.Addr().String()
	err = publishWithin(t.Context(), url, 300*time.Millisecond, brokerMessage{topic: "facegate/demo/cmd/evacuate", payload: []byte("{}")})
	ln.Close()
	<-done
	for _, c := range held {
		c.Close()
	}
	if err == nil {
		t.Fatal("published through a broker that never answered")
	}
	for _, want := range []string{"connect to broker", ln.Addr().String(), "300ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "<nil>") {
		t.Errorf("error %q reports no cause", err)
	}
}

// A connection given up (cancelled, or timed out) is not left behind: a
// broker that answers after publishWithin returned sees the client hang up
// at once, rather than a connected client that pings it for good.
func TestPublishWithinAbandonedConnectHangsUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan struct{})
	closed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			closed <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 256)
		if _, err := c.Read(buf); err != nil { // the CONNECT
			closed <- err
			return
		}
		cancel()
		<-returned
		if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil { // CONNACK, accepted
			closed <- err
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			if _, err := c.Read(buf); err != nil {
				closed <- err
				return
			}
		}
	}()
	err = publishWithin(ctx, "tcp://"+ln.Addr().String(), 30*time.Second, brokerMessage{topic: "facegate/demo/x", payload: []byte("{}")})
	close(returned)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("publishWithin = %v, want context.Canceled", err)
	}
	if err := <-closed; !errors.Is(err, io.EOF) {
		t.Fatalf("the broker's connection after a late CONNACK: %v, want EOF (the client hung up)", err)
	}
}

// A broker that refuses the connection is reported with its cause.
func TestPublishOnceRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	err = publishWithin(t.Context(), "tcp://"+addr, 2*time.Second, brokerMessage{topic: "facegate/demo/x", payload: []byte("{}")})
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "<nil>") {
		t.Fatalf("refused connection reported as %v", err)
	}
}

// demoToken is a paho token already done.
type demoToken struct{ err error }

func (demoToken) Wait() bool                     { return true }
func (demoToken) WaitTimeout(time.Duration) bool { return true }
func (demoToken) Done() <-chan struct{}          { ch := make(chan struct{}); close(ch); return ch }
func (d demoToken) Error() error                 { return d.err }

// demoClient is a paho client whose connect is done at once with connErr,
// connected or not, and whose publishes fail with pubErr; it counts
// Disconnect calls.
type demoClient struct {
	paho.Client
	connected       bool
	connErr, pubErr error
	disconnects     int
}

func (d *demoClient) Connect() paho.Token { return demoToken{d.connErr} }
func (d *demoClient) IsConnected() bool   { return d.connected }
func (d *demoClient) Disconnect(uint)     { d.disconnects++; d.connected = false }
func (d *demoClient) Publish(string, byte, bool, any) paho.Token {
	return demoToken{d.pubErr}
}

// Every way out of publishWithin stops its client once: a client left
// behind (connect done without error yet not connected, a failed connect
// or publish) would reconnect in the background for good.
func TestPublishWithinStopsItsClient(t *testing.T) {
	tests := []struct {
		name    string
		client  demoClient
		wantErr string
	}{
		{"connect done, not connected", demoClient{}, "no connection after"},
		{"connect failed", demoClient{connErr: errors.New("refused")}, "refused"},
		{"publish failed", demoClient{connected: true, pubErr: errors.New("no PUBACK")}, "no PUBACK"},
		{"published", demoClient{connected: true}, ""},
	}
	orig := newDemoMQTT
	t.Cleanup(func() { newDemoMQTT = orig })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.client
			newDemoMQTT = func(*paho.ClientOptions) paho.Client { return &c }
			err := publishWithin(t.Context(), "tcp://127.0.0.1:1", time.Second, brokerMessage{topic: "facegate/demo/x", payload: []byte("{}")})
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("publishWithin = %v, want %q", err, tt.wantErr)
			}
			if c.disconnects != 1 {
				t.Fatalf("%d Disconnect calls, want 1", c.disconnects)
			}
		})
	}
}
