package mqtt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mosquittotest"
)

// TestQueuedSiteCommandAfterCommandsTurnedOffDoesNotCrash: a gate of a
// site ran with the site commands on (zones on, a command secret set).
// The operator turns them off (removes the secret; mqtt.commands.open is
// off, the default) and restarts the gate. A cmd/evacuate sent meanwhile
// (another gate's fire alarm, the operator console) waits in the gate's
// persistent session: the broker delivers it right after CONNACK, before
// the gate unsubscribes from the topic it no longer wants. handleSite
// passes it to c.verifier.VerifySite, but with neither cmd/open nor the
// site commands on there is no verifier (nil): the siteDispatch goroutine
// panics and the daemon dies (mid-grant, if one was running).
func TestQueuedSiteCommandAfterCommandsTurnedOffDoesNotCrash(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	dir := t.TempDir()
	// First run: site commands on; the session subscribes to cmd/evacuate.
	first := newSiteGate(t, mq.URL(), "entrance", withSiteCommands(dir))
	require.Eventually(t, first.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, first.c.Close(ctx))
	cancel()

	// While it is down, a signed evacuation start is sent to the site.
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("ops-console"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	cmd, err := SignSiteCommand(testSecret, SiteCommandBody{TS: time.Now().Unix(), Nonce: "evac-nonce-0000001", Topic: testSite + "/cmd/evacuate", Action: "start", By: "ops"})
	require.NoError(t, err)
	if tok := pub.Publish(testSite+"/cmd/evacuate", 1, false, cmd); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	// Second run, same client id and state: site commands off, cmd/open off.
	second := newSiteGate(t, mq.URL(), "entrance", func(o *Options) {
		o.OutboxPath = filepath.Join(dir, "outbox2.log")
	})
	require.Eventually(t, second.c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	time.Sleep(500 * time.Millisecond) // the queued command is handled (or panics) by now
	if n := len(second.h.commands()); n != 0 {
		t.Fatalf("a gate with the site commands off applied %d queued commands", n)
	}
}

// TestSiteCmdOffHelperProcess is the daemon of TestQueuedSiteCommandCrashLoops: the
// gate with the site commands off, for two seconds.
func TestSiteCmdOffHelperProcess(t *testing.T) {
	url := os.Getenv("FACEGATE_TEST_CMDOFF_URL")
	if url == "" {
		t.Skip("helper of TestQueuedSiteCommandCrashLoops")
	}
	o := testOptions(t, url)
	o.ClientID = "facegate-plant-a-entrance-crashloop"
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Source: &fakeSource{snapshot: []byte(`{}`)}}
	c := newClient(t, o)
	runClient(t, c)
	time.Sleep(2 * time.Second)
}

// TestQueuedSiteCommandCrashLoops: as above, with the daemon restarted
// after each crash (systemd's Restart=always): does the queued command
// come back each time?
func TestQueuedSiteCommandCrashLoops(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	// The session, subscribed to cmd/evacuate under the gate's client id.
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("facegate-plant-a-entrance-crashloop").SetCleanSession(false))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := sub.Subscribe(testSite+"/cmd/evacuate", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	sub.Disconnect(100)
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("ops-console"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	cmd, _ := SignSiteCommand(testSecret, SiteCommandBody{TS: time.Now().Unix(), Nonce: "evac-nonce-0000001", Topic: testSite + "/cmd/evacuate", Action: "start", By: "ops"})
	if tok := pub.Publish(testSite+"/cmd/evacuate", 1, false, cmd); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	crashes := 0
	for range 3 {
		out, err := func() *exec.Cmd {
			c := exec.Command(os.Args[0], "-test.run=^TestSiteCmdOffHelperProcess$", "-test.count=1")
			c.Env = append(os.Environ(), "FACEGATE_TEST_CMDOFF_URL="+mq.URL())
			return c
		}().CombinedOutput()
		if err != nil && strings.Contains(string(out), "nil pointer dereference") {
			crashes++
		}
	}
	if crashes > 0 {
		t.Fatalf("the gate daemon crashed in %d of 3 starts on one queued cmd/evacuate (site commands off)", crashes)
	}
}
