package mqtt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// update rewrites the golden payloads in testdata/payloads, the examples
// in docs/mqtt.md and the discovery configs in testdata/ha from what the
// code emits: go test ./mqtt -run 'Golden|Discovery' -update
var update = flag.Bool("update", false, "rewrite golden files and the payload examples of docs/mqtt.md from the code")

const docsPath = "../docs/mqtt.md"

// documentedPayloads emits each payload shown in docs/mqtt.md through the
// Client's own code paths (PublishEvent, PublishState, …) from fixed
// inputs. A field added to a payload shows up here, so the golden files
// and the docs must follow (-update).
func documentedPayloads(t *testing.T) map[string][]byte {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 11, 22, 7, 31, 5, 420_000_000, time.UTC)}
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Prefix, o.Site, o.Gate, o.Clock = "facegate/plant-a/north-turnstile", "plant-a", "north-turnstile", clk
	c := newClient(t, o)
	f := func(v float64) *float64 { return &v }
	granted := record.Event{
		EventID: "019a8b2e-6c1e-7b4a-9f3e-2d8c5a1b7e40", Seq: 4182, TS: "2026-11-22T07:31:05.412Z",
		Decision: record.DecisionGranted, Reason: []string{"approved"}, Message: "Welcome",
		SubmissionID: "kyc-7f3e2a", UserID: "w-10442", IdentitySource: "qr",
		Auth: &record.Auth{AuthenticationID: "auth_9d1c0b7e", AuthStatus: "approved", CreateTime: "2026-11-22T07:31:05.201Z",
			Score: record.Score{FaceSimilarity: f(99.5), Occluded: f(99.9), FaceCover: f(93.3), HeadCover: f(87)}},
		Faces: 1, AgeMS: 640, LatencyMS: record.Latency{Capture: 420, API: 215, Total: 655}, Relay: record.RelayPending,
	}
	denied := record.Event{
		EventID: "019a8b2e-8f40-7c11-8d2a-51e0b7c39a66", Seq: 4183, TS: "2026-11-22T07:33:48.090Z",
		Decision: record.DecisionDenied, Reason: []string{"face_compare_underscore", "head_cover_below_minimum"},
		Message: "Face not recognised: please remove your hat", SubmissionID: "kyc-19b0c4", UserID: "w-20931", IdentitySource: "mqtt",
		Auth: &record.Auth{AuthenticationID: "auth_5e2f9a01", AuthStatus: "rejected", CreateTime: "2026-11-22T07:33:47.955Z",
			Score:    record.Score{FaceSimilarity: f(41.2), Occluded: f(98.7), FaceCover: f(95.1), HeadCover: f(22.4)},
			FailCode: []string{"face_compare_underscore", "head_cover_below_minimum"}, RejectedComment: []string{"Face does not match the registration photo", "Head cover detected"}},
		Faces: 1, AgeMS: 512, LatencyMS: record.Latency{Capture: 380, API: 131, Total: 512},
	}
	apiErr := record.Event{
		EventID: "019a8b31-0a77-7e09-b3c4-6f1d2e8a9b05", Seq: 4184, TS: "2026-11-22T07:36:12.301Z",
		Decision: record.DecisionError, Reason: []string{"api_identity"}, Message: "Your registration is not approved yet",
		SubmissionID: "kyc-ad9e00", UserID: "w-31877", IdentitySource: "mqtt",
		Error: &record.Error{Code: "invalid_submission_status", Class: "identity", Message: "KYC submission not approved", HTTPStatus: 400, TraceID: "7c2f0e"},
		Faces: 1, AgeMS: 498, LatencyMS: record.Latency{Capture: 360, API: 138, Total: 498},
	}
	// A grant at a site's hazardous-zone door, let through by soft
	// anti-passback (docs/site.md).
	zoned := record.Event{
		EventID: "019a8b33-41c2-7d08-a6e5-0b9f3c7d2e11", Seq: 4185, TS: "2026-11-22T07:38:20.114Z",
		Decision: record.DecisionGranted, Reason: []string{"approved"}, Message: "Welcome",
		SubmissionID: "kyc-7f3e2a", UserID: "w-10442", IdentitySource: "qr",
		Faces: 1, AgeMS: 602, LatencyMS: record.Latency{Capture: 401, API: 198, Total: 602}, Relay: record.RelayPending,
		ZoneFrom: "site", ZoneTo: "zone-b", Direction: record.DirectionEntry, SiteView: record.SiteViewSite,
		Passback: "passback_same_zone",
	}
	out := map[string][]byte{}
	for i, ev := range []record.Event{granted, denied, apiErr, zoned} {
		must(t, c.PublishEvent(ev))
		if i == 0 {
			// The kiosk's order: the event (before the relay moves), the
			// result state (once the line is energised), the relay result.
			must(t, c.PublishState("granted"))
			must(t, c.PublishPulse(record.PulseResult{EventID: granted.EventID, TS: "2026-11-22T07:31:09.418Z",
				Relay: record.RelayPulsed, EnergisedAt: "2026-11-22T07:31:05.418Z", DurationMS: 4000}))
		}
	}
	recs, err := c.box.Next(0, 10)
	if err != nil || len(recs) != 5 {
		t.Fatalf("outbox: %d records, %v", len(recs), err)
	}
	out["event-granted"], out["event-relay"], out["event-denied"], out["event-error"] = recs[0].Payload, recs[1].Payload, recs[2].Payload, recs[3].Payload
	out["event-site"] = recs[4].Payload

	// The state after the granted decision, before the next session.
	o2 := o
	o2.OutboxPath = filepath.Join(t.TempDir(), "outbox.log")
	c2 := newClient(t, o2)
	clk.Set(time.Date(2026, 11, 22, 7, 31, 5, 420_000_000, time.UTC))
	must(t, c2.PublishState("granted"))
	must(t, c2.PublishEvent(granted))
	out["state"] = c2.retained.get(c2.topics.State)

	clk.Set(time.Date(2026, 11, 22, 7, 40, 0, 0, time.UTC))
	must(t, c.PublishCameraHealth(CameraHealth{Status: CameraDegraded, FPS: 4.5, LastFrameAgeMS: 800, Message: "frames unchanged for 12s"}))
	out["camera"] = c.retained.get(c.topics.Camera)

	clk.Set(time.Date(2026, 11, 22, 7, 41, 0, 0, time.UTC))
	must(t, c.PublishSelfTest(SelfTest{Status: "down", Checks: map[string]CheckInfo{
		"api":      {Status: "down", Detail: "configuration: Invalid_projectId"},
		"broker":   {Status: "degraded", Detail: "disconnected, outbox 4", Value: f(4), Unit: "events"},
		"camera":   {Status: "ok", Detail: "14.5 fps", Value: f(14.5), Unit: "fps"},
		"detector": {Status: "degraded", Detail: "497ms per frame (limit 250ms)", Value: f(497), Unit: "ms"},
		"relay":    {Status: "ok"},
	}}))
	out["health"] = c.healthPayload() // as published: over a live connection

	must(t, c.PublishAlert(Alert{Code: "api_config", Message: "FaceAuth rejected the API key (Invalid_projectId): check api.key", EventID: apiErr.EventID}))
	out["alert"] = c.retained.get(c.topics.Alert)

	// The site views and the evacuation state of a gate with zones on.
	o3 := o
	o3.OutboxPath = filepath.Join(t.TempDir(), "outbox.log")
	o3.Zones = SiteOptions{Enabled: true, Topic: "facegate/plant-a", Handler: &siteRecorder{}, Source: documentedSite()}
	// The clock is set first: the client's own site loop publishes the
	// same views when it starts, and may do so after the call below.
	clk.Set(time.Date(2026, 11, 22, 7, 52, 0, 0, time.UTC))
	c3 := newClient(t, o3)
	c3.publishSiteState()
	out["site-occupancy"] = c3.retained.get(c3.site.topics.Occupancy)
	out["site-presence"] = c3.retained.get(c3.site.topics.Presence)
	out["site-muster"] = c3.retained.get(c3.site.topics.Muster)
	must(t, c3.PublishEvacuation(Evacuation{Active: true, ID: "evac-20261122T074512Z-6f1d3c0e", Since: "2026-11-22T07:45:12.000Z",
		By: "fire-alarm", Reason: "fire alarm input", TS: "2026-11-22T07:45:12.000Z"}))
	out["evacuation"] = c3.site.evacuationPayload()
	return out
}

// documentedSite is the site shown in docs/mqtt.md.
func documentedSite() *fakeSource {
	return &fakeSource{snapshot: []byte(`{"v":1}`), views: SiteViews{
		Occupancy: OccupancyView{Zones: map[string]ZoneCount{"site": {Count: 3}, "zone-b": {Count: 1, Max: 4}}},
		Presence: PresenceView{Zones: map[string][]PersonView{
			"site":   {{UserID: "w-20931", Name: "Ana Pereira", Since: "2026-11-22T06:58:40.512Z"}, {UserID: "w-31877", Name: "Jonas Berg", Since: "2026-11-22T07:02:11.090Z"}},
			"zone-b": {{UserID: "w-10442", Name: "Mei Tanaka", Since: "2026-11-22T07:38:20.114Z"}},
		}},
		Muster: &MusterView{Active: true, ID: "evac-20261122T074512Z-6f1d3c0e", Since: "2026-11-22T07:45:12.000Z", Present: 3,
			Mustered: []PersonView{{UserID: "w-20931", Name: "Ana Pereira", Since: "2026-11-22T07:49:03.377Z"}},
			Missing: []PersonView{{UserID: "w-10442", Name: "Mei Tanaka", Zone: "zone-b", Since: "2026-11-22T07:38:20.114Z"},
				{UserID: "w-31877", Name: "Jonas Berg", Zone: "site", Since: "2026-11-22T07:02:11.090Z"}}},
	}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestGoldenPayloads: what the code emits equals testdata/payloads, and
// the examples in docs/mqtt.md equal them too, so neither can drift.
func TestGoldenPayloads(t *testing.T) {
	got := documentedPayloads(t)
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(got[name]) == 0 {
			t.Fatalf("%s: the code emitted no payload", name)
		}
		pretty := indentJSON(t, got[name])
		golden := filepath.Join("testdata", "payloads", name+".json")
		if *update {
			must(t, os.MkdirAll(filepath.Dir(golden), 0o755))
			must(t, os.WriteFile(golden, pretty, 0o644))
			docs = replaceDocBlock(t, docs, "payload:"+name, "json", pretty)
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./mqtt -run Golden -update)", err)
		}
		if !sameJSON(t, got[name], want) {
			t.Errorf("%s: the code emits\n%s\nbut %s holds\n%s\n(an intended change: go test ./mqtt -run Golden -update, then review the diff)", name, pretty, golden, want)
		}
		doc := docBlockIn(t, docs, "payload:"+name)
		if !sameJSON(t, []byte(doc), want) {
			t.Errorf("%s: docs/mqtt.md shows\n%s\nbut the code emits\n%s\n(go test ./mqtt -run Golden -update)", name, doc, want)
		}
	}
	if *update {
		must(t, os.WriteFile(docsPath, docs, 0o644))
	}
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// sameJSON compares two JSON texts by value (white space and key order
// aside).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("not JSON: %v\n%s", err, a)
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Errorf("not JSON: %v\n%s", err, b)
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// docBlockIn is the code of the fenced block between <!-- name --> and
// <!-- /name --> in docs.
func docBlockIn(t *testing.T, docs []byte, name string) string {
	t.Helper()
	s := string(docs)
	i, j := strings.Index(s, "<!-- "+name+" -->"), strings.Index(s, "<!-- /"+name+" -->")
	if i < 0 || j < i {
		t.Fatalf("docs/mqtt.md has no block %s", name)
	}
	block := s[i:j]
	start := strings.Index(block, "\n```")
	if start < 0 {
		t.Fatalf("docs/mqtt.md block %s has no code fence", name)
	}
	block = block[start+4:]
	block = block[strings.Index(block, "\n")+1:]
	return block[:strings.LastIndex(block, "```")]
}

// replaceDocBlock puts code into the block name (made after the last
// payload block's heading when missing: add the markers by hand instead).
func replaceDocBlock(t *testing.T, docs []byte, name, lang string, code []byte) []byte {
	t.Helper()
	s := string(docs)
	open, end := "<!-- "+name+" -->", "<!-- /"+name+" -->"
	i, j := strings.Index(s, open), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("docs/mqtt.md has no block %s: add %s … %s where the example belongs", name, open, end)
	}
	return []byte(s[:i] + open + "\n```" + lang + "\n" + string(code) + "```\n" + s[j:])
}
