package kiosk

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
)

// TestMusterKioskOpenEndpointIsNot500: an assembly-point kiosk (mode
// muster) with kiosk.open.enabled (the config accepts it; it refuses only
// an exit button there) answers POST /api/open with 500 Internal Server
// Error and the text of an internal sentinel: RemoteOpen returns
// ErrSourceDisabled, which answerSession does not map. A request the
// kiosk refuses by design is a 4xx naming why, never a 500 (Home
// Assistant retries a 5xx; a monitor pages for it).
func TestMusterKioskOpenEndpointIsNot500(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := siteConfig(t, modeMuster)
		cfg.Page.Open.Enabled = true
		cfg.Page.Open.Token = openToken
		cfg.Page.Open.PerMinute = 6
		r := newSiteRig(t, cfg, newFakeSite())
		stop := r.start(t)
		defer stop()
		req := localRequest("POST", "/api/open", strings.NewReader(`{"by":"home-assistant"}`))
		req.Header.Set("Authorization", "Bearer "+openToken)
		rec := httptest.NewRecorder()
		r.k.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 400 || !strings.Contains(rec.Body.String(), "muster") {
			t.Errorf("POST /api/open on a muster kiosk: %d %s; want a 4xx saying an assembly point opens nothing", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		if rec.Code == http.StatusAccepted {
			t.Error("accepted")
		}
	})
}

// TestIdentifyBodyKeysMeanOneThing: POST /api/identify decodes its body
// with encoding/json alone, not jsonobj.Decode as every other outside
// JSON (cmd/identify over MQTT included): a key given twice is the last
// one to the gate and the first one to most other readers (a proxy that
// checks which submission ids a badge reader may send, a log reader), also when the
// second is written in another letter case ("SUBMISSION_ID"). The same bytes sent over MQTT are refused
// (mqtt.ParseIdentify): the two doors of one command disagree.
func TestIdentifyBodyKeysMeanOneThing(t *testing.T) {
	for _, body := range []string{
		`{"submission_id":"sub-worker-1","submission_id":"sub-worker-2"}`,
		`{"submission_id":"sub-worker-1","SUBMISSION_ID":"sub-worker-2"}`,
	} {
		r, err := ParseIdentifyJSON([]byte(body))
		if err == nil || !errors.Is(err, ErrInvalidIdentity) {
			t.Errorf("%s: accepted as submission_id %q; want ErrInvalidIdentity (key given twice / not the documented key)", body, r.SubmissionID)
		}
	}
}
