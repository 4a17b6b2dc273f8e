package kiosk

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/faceauth"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/outbox"
)

// realAPIRig is a kiosk whose Authenticator is the real FaceAuth client
// talking HTTP to a 127.0.0.1 server that answers 200 with body.
func realAPIRig(t *testing.T, cfg *Options, body string) *rig {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	client, err := faceauth.New(faceauth.Options{BaseURL: srv.URL, APIKey: "sk-test-key", Timeout: 5 * time.Second, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = testConfig(t)
	}
	r := &rig{cfg: cfg, sel: &fakeSelector{window: 100 * time.Millisecond}, relay: &fakeRelay{}, pub: &fakePublisher{}, brk: &fakeBroker{connected: true}}
	k, err := New(*cfg, Deps{Selector: r.sel, Authenticator: client, Relay: r.relay, Publisher: r.pub, Broker: r.brk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.k = k
	return r
}

// TestAmbiguousAnswerDoesNotOpen: the gate (real client, real
// HTTP) opens on an answer whose first auth_status is "rejected" with
// Head_cover_fail and a second, differently cased "AUTH_STATUS" says
// approved; and with policy.min_scores.head_cover 60 it opens on a
// head_cover_score given twice, 3 then 99.
func TestAmbiguousAnswerDoesNotOpen(t *testing.T) {
	for name, body := range map[string]string{
		"case-variant status": `{"authentication_id":"a","auth_status":"rejected","fail_code":["Head_cover_fail"],"score":{"face_similarity_score":99,"head_cover_score":99},"AUTH_STATUS":"approved","FAIL_CODE":[]}`,
		"duplicate PPE score": `{"authentication_id":"a","auth_status":"approved","score":{"face_similarity_score":99,"head_cover_score":3,"head_cover_score":99}}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Policy.MinScores.HeadCover = 60
			r := realAPIRig(t, cfg, body)
			stop := r.start(t)
			defer stop()
			r.identify(t, worker, 1)
			if n := r.relay.count(); n != 0 {
				ev := r.events()[0]
				t.Fatalf("relay pulsed %d times on an ambiguous answer: decision %s reason %v auth %+v", n, ev.Decision, ev.Reason, ev.Auth)
			}
		})
	}
}

// TestAPIFieldsDoNotOversizeTheEvent: authentication_id,
// rejected_comment and unknown fail codes go from the API's answer into
// the event unbounded. An answer well within the client's 1 MiB cap makes
// a grant whose event peers refuse (mqtt.MaxSiteEventPayload, 64 KiB: the
// site never learns of the passage until the next resync, 10 minutes), or
// an event the outbox refuses (outbox.MaxPayload, 1 MiB, reached with 180
// KB of '<', each escaped to \u003c).
func TestAPIFieldsDoNotOversizeTheEvent(t *testing.T) {
	for name, body := range map[string]string{
		"grant with a 100 KB authentication_id": `{"authentication_id":"` + strings.Repeat("a", 100<<10) + `","auth_status":"approved","score":{"face_similarity_score":99}}`,
		"denial with 180 KB of comment":         `{"authentication_id":"a","auth_status":"rejected","fail_code":["face_compare_underscore"],"rejected_comment":["` + strings.Repeat("<", 180<<10) + `"]}`,
		"denial with 5000 unknown fail codes":   `{"authentication_id":"a","auth_status":"rejected","fail_code":[` + strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("x", 40)+`",`, 5000), ",") + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := realAPIRig(t, nil, body)
			stop := r.start(t)
			defer stop()
			r.identify(t, worker, 1)
			ev := r.events()[0]
			payload, err := json.Marshal(ev)
			require.NoError(t, err)
			if len(payload) > outbox.MaxPayload {
				t.Errorf("event of decision %s is %d bytes: the outbox refuses more than %d (the decision never reaches MQTT)", ev.Decision, len(payload), outbox.MaxPayload)
			}
			if _, err := mqtt.ParseSiteEvent(payload); err != nil {
				t.Errorf("decision %s (relay pulses %d): peers refuse its event: %v", ev.Decision, r.relay.count(), err)
			}
		})
	}
}
