package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/internal/mqttrules"
)

// doneToken is a paho token that is complete with err.
type doneToken struct{ err error }

func (doneToken) Wait() bool                     { return true }
func (doneToken) WaitTimeout(time.Duration) bool { return true }
func (doneToken) Done() <-chan struct{}          { c := make(chan struct{}); close(c); return c }
func (t doneToken) Error() error                 { return t.err }

// fakePaho is a paho client whose Publish, Subscribe and Unsubscribe
// answer at once, failing as fail says; other methods are not used.
type fakePaho struct {
	paho.Client
	mu    sync.Mutex
	calls []string // "publish <topic>", "subscribe <topic>", "unsubscribe <topic>"
	fail  func(call string, n int) error
}

func (f *fakePaho) do(call string) paho.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	f.calls = append(f.calls, call)
	return doneToken{f.fail(call, n)}
}

func (f *fakePaho) Publish(topic string, _ byte, _ bool, _ any) paho.Token {
	return f.do("publish " + topic)
}
func (f *fakePaho) Subscribe(topic string, _ byte, _ paho.MessageHandler) paho.Token {
	return f.do("subscribe " + topic)
}
func (f *fakePaho) SubscribeMultiple(filters map[string]byte, _ paho.MessageHandler) paho.Token {
	return f.do("subscribe " + strings.Join(slices.Sorted(maps.Keys(filters)), ","))
}
func (f *fakePaho) Unsubscribe(topics ...string) paho.Token {
	return f.do("unsubscribe " + strings.Join(slices.Sorted(slices.Values(topics)), ","))
}

func (f *fakePaho) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func siteClient(t *testing.T, h *siteRecorder) *Client {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate = testSite+"/entrance", "plant-a", "entrance"
	o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: h, SnapshotWindow: time.Millisecond}
	return newClient(t, o)
}

// An evacuation state whose publish fails is published on the next
// connection: the signal consumed for it is given back.
func TestEvacuationPublishFailureKeepsTheSignal(t *testing.T) {
	c := siteClient(t, &siteRecorder{})
	if err := c.PublishEvacuation(Evacuation{Active: true, ID: "e1", By: "gpio"}); err != nil {
		t.Fatal(err)
	}
	evac := testSite + "/evacuation"
	f := &fakePaho{fail: func(call string, _ int) error {
		if call == "publish "+evac {
			return errors.New("broker gone")
		}
		return nil
	}}
	err := c.publishRetained(context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "broker gone") {
		t.Fatalf("publishRetained = %v, want the evacuation publish error", err)
	}
	select {
	case <-c.evacOut():
	default:
		t.Fatal("the evacuation state is not signalled again after its publish failed")
	}
}

// A failed snapshot, failure list and unlock list (un)subscription is tried again after a window; it
// used to end the resyncs for the rest of the connection.
func TestSiteSyncRetriesFailedSubscriptions(t *testing.T) {
	for _, op := range []string{"subscribe", "unsubscribe"} {
		t.Run(op, func(t *testing.T) {
			c := siteClient(t, &siteRecorder{})
			call := op + " " + c.site.topics.Lockouts + "," + c.site.topics.Snapshots + "," + c.site.topics.UnlockLists
			f := &fakePaho{fail: func(c string, n int) error {
				if c == call && n == 0 {
					return fmt.Errorf("%s refused", op)
				}
				return nil
			}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.siteSync(ctx, f); close(done) }()
			require.Eventually(t, func() bool { return f.count(call) >= 2 }, 5*time.Second, time.Millisecond,
				"%s not tried again after failing", op)
			cancel()
			<-done
		})
	}
}

// The retained evacuation state this gate knows already (re-delivered on
// each reconnect) is not handed to the site again: a week later it would
// start an evacuation that ended and was forgotten.
func TestKnownEvacuationStateNotAppliedAgain(t *testing.T) {
	h := &siteRecorder{}
	c := siteClient(t, h)
	e := Evacuation{Active: true, ID: "e1", Since: "2026-11-22T07:45:12.000Z", TS: "2026-11-22T07:45:12.000Z", Gate: "exit"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.handleSite(inbound{topic: testSite + "/evacuation", payload: b, retained: true})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.evacs) != 1 || h.evacs[0] != e {
		t.Fatalf("handed %+v, want %+v once", h.evacs, e)
	}
}

func TestSiteSecretLength(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{mqttrules.MinOpenSecret - 1, fmt.Sprintf("at least %d needed", mqttrules.MinOpenSecret)},
		{mqttrules.MinOpenSecret, ""},
	} {
		o := testOptions(t, "tcp://127.0.0.1:1")
		o.Prefix = testSite + "/entrance"
		o.Zones = SiteOptions{Enabled: true, Topic: testSite, Handler: &siteRecorder{}, Commands: true,
			Secret: []byte(strings.Repeat("k", tc.n))}
		err := o.setDefaults()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("%d-byte secret: %v, want %q", tc.n, err, tc.want)
		}
	}
}
