package mqtt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/testpki"
	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
	"github.com/facegate/facegate/mqtt/outbox"
)

// helperEnv makes the test binary act as a gate daemon (see TestMain).
const helperEnv = "FACEGATE_MQTT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "publisher" {
		os.Exit(runPublisherHelper())
	}
	os.Exit(m.Run())
}

// runPublisherHelper is the daemon the kill -9 test kills: it queues
// events FROM..FROM+N-1 and prints "queued <seq>" once PublishEvent has
// returned for each, and "connected" once connected; then waits to be
// killed.
func runPublisherHelper() int {
	from, _ := strconv.Atoi(os.Getenv("HELPER_FROM"))
	n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
	c, err := New(Options{
		URLs: []string{os.Getenv("HELPER_URL")}, ClientID: "facegate-kill9", Prefix: prefix,
		OutboxPath: os.Getenv("HELPER_OUTBOX"), ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Logger: quietLogger(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go c.Run(context.Background())
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(w, format, a...)
		w.Flush()
		mu.Unlock()
	}
	go func() {
		for !c.Connected() {
			time.Sleep(time.Millisecond)
		}
		say("connected\n")
	}()
	for i := from; i < from+n; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		say("queued %d\n", i)
	}
	select {}
}

// observer is a persistent-session subscriber to a real broker: messages
// published while it is away (broker restart) are queued for it.
func observe(t *testing.T, url, topic string, rec *recorder) {
	t.Helper()
	mosquittotest.Observe(t, url, "observer-"+t.Name(), topic, rec.handle)
}

func TestMosquittoOutageLosesNothing(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	rec := newRecorder()
	observe(t, mq.URL(), prefix+"/event", rec)
	c := newClient(t, testOptions(t, mq.URL()))
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	c.PublishEvent(testEvent(0))
	require.Eventually(t, func() bool { return rec.distinct() == 1 }, 5*time.Second, 5*time.Millisecond, "first event")

	mq.Stop()
	require.Eventually(t, func() bool { return !c.Connected() }, 5*time.Second, 5*time.Millisecond, "disconnect noticed")
	n := testN(300)
	for i := 1; i <= n; i++ {
		if err := c.PublishEvent(testEvent(i)); err != nil {
			t.Fatalf("PublishEvent while mosquitto is down: %v", err)
		}
	}
	mq.Restart()
	require.Eventually(t, func() bool { return rec.distinct() == n+1 }, 20*time.Second+time.Duration(n)*time.Millisecond, 5*time.Millisecond, "every event after mosquitto is back")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "outbox drained")
	t.Logf("mosquitto restart: %d events queued while it was down, %d distinct delivered, 0 lost", n, rec.distinct()-1)
	c.Close(context.Background())
}

// The restart test: the daemon is killed with SIGKILL three times — with
// events queued while the broker is down, in the middle of replaying them,
// and while publishing — and every event whose PublishEvent returned is delivered after restart.
func TestKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the kill -9 test")
	}
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	rec := newRecorder()
	observe(t, mq.URL(), prefix+"/event", rec)
	outboxPath := filepath.Join(t.TempDir(), "outbox.log")

	queued := map[int]bool{}
	// runAndKill kills the helper after killAfter "queued" lines, and when
	// afterConnect also delay after its "connected" line.
	runAndKill := func(from, n, killAfter int, afterConnect bool, delay time.Duration) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=publisher", "HELPER_URL="+mq.URL(), "HELPER_OUTBOX="+outboxPath,
			"HELPER_FROM="+strconv.Itoa(from), "HELPER_N="+strconv.Itoa(n))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		got, connected := 0, false
		for (got < killAfter || afterConnect && !connected) && sc.Scan() {
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "queued %d", &i); err == nil {
				queued[i] = true
				got++
			}
			connected = connected || sc.Text() == "connected"
		}
		time.Sleep(delay) // the helper goes on replaying and queueing meanwhile
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() { // lines written before the kill landed: also durable
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "queued %d", &i); err == nil {
				queued[i] = true
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper did not die by SIGKILL: %v\n%s", err, stderr.String())
		}
		if got < killAfter {
			t.Fatalf("helper queued only %d events before dying:\n%s", got, stderr.String())
		}
	}

	// 1. broker down: events only reach the outbox; kill -9.
	n := testN(300)
	mq.Stop()
	runAndKill(0, n, n, false, 0)
	depths := []int{outboxLen(t, outboxPath)}
	// 2. broker up: the restarted daemon replays and queues more; kill -9
	// right away (in the middle of the replay), then again later.
	mq.Restart()
	runAndKill(n, 10*n+100000, 1, true, 10*time.Millisecond)
	depths = append(depths, outboxLen(t, outboxPath))
	runAndKill(10*n+200000, 10*n+100000, 3*n, true, 0)
	depths = append(depths, outboxLen(t, outboxPath))

	// 3. restart once more and let it drain.
	o := testOptions(t, mq.URL())
	o.ClientID = "facegate-kill9"
	o.OutboxPath = outboxPath
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for i := range queued {
			if rec.ids[fmt.Sprintf("ev-%06d", i)] == 0 {
				return false
			}
		}
		return true
	}, 30*time.Second+time.Duration(n)*time.Millisecond, 5*time.Millisecond, "every durable event delivered")
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 10*time.Second, 5*time.Millisecond, "outbox drained")
	rec.mu.Lock()
	dups := len(rec.events) - len(rec.ids)
	rec.mu.Unlock()
	t.Logf("kill -9: %d events durable across three SIGKILLs (outbox depth at each kill: %v), all %d delivered, 0 lost, %d duplicates",
		len(queued), depths, len(queued), dups)
	c.Close(context.Background())
}

// testN is the number of events of the loss tests: FACEGATE_MQTT_TEST_N
// or def (a few hundred keep `go test` quick; fsync dominates).
func testN(def int) int {
	if n, err := strconv.Atoi(os.Getenv("FACEGATE_MQTT_TEST_N")); err == nil && n > 0 {
		return n
	}
	return def
}

func outboxLen(t *testing.T, path string) int {
	b, err := outbox.Open(path, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	return b.Len()
}

func TestMosquittoTLSAndClientCertificate(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mq := mosquittotest.Start(t, mosquittotest.Config{CAFile: pki.CAFile, CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, RequireClientCert: true})
	o := testOptions(t, mq.URL())
	if o.TLS, err = LoadTLS(pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile, "localhost"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "TLS connection with a client certificate")
	if err := c.PublishEvent(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	require.Eventually(t, func() bool { return c.OutboxDepth() == 0 }, 5*time.Second, 5*time.Millisecond, "event over TLS")

	o = testOptions(t, mq.URL()) // no client certificate: refused
	o.TLS, _ = LoadTLS(pki.CAFile, "", "", "")
	c2 := newClient(t, o)
	runClient(t, c2)
	require.Eventually(t, func() bool { return c2.LastError() != nil }, 10*time.Second, 5*time.Millisecond, "a connection error without a client certificate")
	if c2.Connected() {
		t.Fatal("connected without the required client certificate")
	}
}

func TestMosquittoBadCredentials(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{Users: map[string]string{"gate1": "right-password"}})
	o := testOptions(t, mq.URL())
	o.Username, o.Password = "gate1", "wrong"
	c := newClient(t, o)
	select {
	case err := <-runClient(t, c):
		if !errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("Run = %v, want ErrNotAuthorized", err)
		}
		t.Logf("bad credentials: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not report the refused credentials")
	}
	o = testOptions(t, mq.URL())
	o.Username, o.Password = "gate1", "right-password"
	c = newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 10*time.Second, 5*time.Millisecond, "connected with the right password")
}

// BenchmarkReplayMosquitto measures how fast a full outbox drains into a
// local mosquitto: b.N events queued while away, then one connection.
func BenchmarkReplayMosquitto(b *testing.B) {
	mq := mosquittotest.Start(b, mosquittotest.Config{})
	path := filepath.Join(b.TempDir(), "outbox.log")
	box, err := outbox.Open(path, outbox.Options{NoSync: true, MaxRecords: 1 << 30, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		p, _ := jsonEvent(testEvent(i))
		if _, err := box.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	box.Close()
	b.ResetTimer()
	start := time.Now()
	c, err := New(Options{URLs: []string{mq.URL()}, ClientID: "bench", Prefix: prefix, OutboxPath: path,
		OutboxMaxEvents: 1 << 30, OutboxMaxBytes: 1 << 40, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	go c.Run(context.Background())
	for c.OutboxDepth() > 0 {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	c.Close(context.Background())
}

// Clean session is off: a command sent while the gate is away is kept by
// the broker and delivered when the gate is back.
func TestMosquittoPersistentSessionKeepsCommands(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	o := testOptions(t, mq.URL())
	o.Identify = true
	c := newClient(t, o)
	runClient(t, c)
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	reader := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("badge-reader"))
	if tok := reader.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reader connect: %v", tok.Error())
	}
	defer reader.Disconnect(100)
	tok := reader.Publish(prefix+"/cmd/identify", 1, false, `{"submission_id":"sent-while-away"}`)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("reader publish: %v", tok.Error())
	}

	o.OutboxPath = filepath.Join(t.TempDir(), "outbox2.log")
	c2 := newClient(t, o) // same client id: same session
	runClient(t, c2)
	select {
	case cmd := <-c2.Commands():
		if id, ok := cmd.(Identify); !ok || id.SubmissionID != "sent-while-away" {
			t.Fatalf("got %+v", cmd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the command sent while the gate was away was not delivered")
	}
}
