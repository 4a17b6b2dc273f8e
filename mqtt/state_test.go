package mqtt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// queuedStates drains the retained queue of c and returns the state
// payloads in the order they would be published.
func queuedStates(t *testing.T, c *Client) []StatePayload {
	t.Helper()
	var out []StatePayload
	for len(c.retained.updates) > 0 {
		m := <-c.retained.updates
		if m.topic != c.topics.State {
			continue
		}
		var p StatePayload
		if err := json.Unmarshal(m.payload, &p); err != nil {
			t.Fatalf("state payload %s: %v", m.payload, err)
		}
		out = append(out, p)
	}
	return out
}

func decisionEvent(id string, d record.Decision, user string) record.Event {
	return record.Event{EventID: id, Seq: 1, Decision: d, Reason: []string{string(d)}, UserID: user}
}

// TestStatePairsResultWithItsDecision: a result state is only ever
// published with the decision of its own session, whichever of
// PublishState and PublishEvent the kiosk calls first.
func TestStatePairsResultWithItsDecision(t *testing.T) {
	for _, tc := range []struct {
		name       string
		eventFirst bool
	}{{"state then event", false}, {"event then state", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, testOptions(t, "tcp://127.0.0.1:1"))
			c.retained.live = true // as while a connection publishes the queue
			session := func(state string, ev record.Event) {
				for _, s := range []string{"identified", "capturing", "authenticating"} {
					if err := c.PublishState(s); err != nil {
						t.Fatal(err)
					}
				}
				if tc.eventFirst {
					if err := c.PublishEvent(ev); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.PublishState(state); err != nil {
					t.Fatal(err)
				}
				if !tc.eventFirst {
					if err := c.PublishEvent(ev); err != nil {
						t.Fatal(err)
					}
				}
				for _, s := range []string{"cooldown", "idle"} {
					if err := c.PublishState(s); err != nil {
						t.Fatal(err)
					}
				}
			}
			session("denied", decisionEvent("ev-visitor", record.DecisionDenied, "visitor"))
			session("granted", decisionEvent("ev-worker", record.DecisionGranted, "worker"))
			session("error", decisionEvent("ev-third", record.DecisionError, "third"))
			states := queuedStates(t, c)
			seen := map[string]bool{}
			for _, p := range states {
				if p.TS == "" || p.TS != p.Since {
					t.Errorf("state %s: ts %q, since %q: want both, equal", p.State, p.TS, p.Since)
				}
				if !resultState(p.State) {
					continue
				}
				seen[p.State] = true
				want := map[string]string{"denied": "visitor", "granted": "worker", "error": "third"}[p.State]
				if p.LastDecision == nil || p.LastDecision.UserID != want || string(p.LastDecision.Decision) != p.State {
					t.Errorf("state %s published with last_decision %+v, want the decision of %s", p.State, p.LastDecision, want)
				}
			}
			for _, s := range []string{"denied", "granted", "error"} {
				if !seen[s] {
					t.Errorf("state %s never published; got %+v", s, states)
				}
			}
		})
	}
}

// TestResultStateWithoutDecisionIsNotPublished: a result state whose event
// never comes is replaced by the next state, and does not pair with the
// next session's decision.
func TestResultStateWithoutDecisionIsNotPublished(t *testing.T) {
	c := newClient(t, testOptions(t, "tcp://127.0.0.1:1"))
	for _, s := range []string{"identified", "granted", "cooldown", "idle", "identified", "denied"} {
		if err := c.PublishState(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PublishEvent(decisionEvent("ev-2", record.DecisionDenied, "second")); err != nil {
		t.Fatal(err)
	}
	for _, p := range queuedStates(t, c) {
		if p.State == "granted" {
			t.Fatalf("granted published without a decision: %+v", p)
		}
		if p.State == "denied" && (p.LastDecision == nil || p.LastDecision.EventID != "ev-2") {
			t.Fatalf("denied published with %+v, want ev-2", p.LastDecision)
		}
	}
}

// TestCleanStopLeavesStoppedRetained: a decision that lands just before
// the stop does not stay retained as the gate's state.
func TestCleanStopLeavesStoppedRetained(t *testing.T) {
	h := newHistory()
	b := startBroker(t, "127.0.0.1:0", broker.WithSubscription(prefix+"/#", h.handle))
	c := newClient(t, testOptions(t, b.URL()))
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	require.Eventually(t, c.Connected, 5*time.Second, 5*time.Millisecond, "connected")
	if err := c.PublishState("granted"); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishEvent(decisionEvent("ev-last", record.DecisionGranted, "worker")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	// The broker acknowledges before it delivers; "offline" is the gate's
	// last message, so once it is here the state is too.
	require.Eventually(t, func() bool { return h.last(prefix+"/status") == "offline" }, 5*time.Second, 5*time.Millisecond, "status offline after a clean stop")
	var last StatePayload
	if err := json.Unmarshal([]byte(h.last(prefix+"/state")), &last); err != nil {
		t.Fatalf("retained state %q: %v", h.last(prefix+"/state"), err)
	}
	if last.State != "stopped" || last.LastDecision == nil || last.LastDecision.EventID != "ev-last" {
		t.Errorf("retained state after a clean stop = %+v, want stopped with the last decision", last)
	}
}
