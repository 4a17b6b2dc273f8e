package mqtt

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// renderScript renders Jinja templates as Home Assistant does for MQTT
// (value_json is the parsed payload, value the raw text).
const renderScript = `
import json, sys
import jinja2
env = jinja2.Environment()
out = []
for job in json.load(sys.stdin):
    try:
        out.append({"out": env.from_string(job["template"]).render(value_json=job["value_json"], value=job["value"])})
    except Exception as e:
        out.append({"err": repr(e)})
json.dump(out, sys.stdout)
`

// TestDiscoveryTemplatesRender renders every template of the discovery
// configs with Jinja on the documented payloads of its topic: an event
// entity's output is JSON with a known event_type, a binary sensor's is
// its payload_on or payload_off, a sensor's is not empty. Skipped without
// python3 and jinja2 (python3-jinja2).
func TestDiscoveryTemplatesRender(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: skipping the Jinja rendering of the discovery templates")
	}
	if err := exec.Command("python3", "-c", "import jinja2").Run(); err != nil {
		t.Skip("python3 jinja2 is not installed (apt-get install python3-jinja2): skipping the Jinja rendering of the discovery templates")
	}
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "payloads", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const p = "facegate/plant-a/north-turnstile/"
	samples := map[string][]string{
		p + "event": {golden("event-granted"), golden("event-denied"), golden("event-error")},
		p + "event/relay": {golden("event-relay"),
			`{"kind":"relay","event_id":"e-2","ts":"2026-11-22T07:00:00.000Z","site":"plant-a","gate":"north-turnstile","relay":"not_energised","reason":"relay_failed","duration_ms":0}`,
			`{"kind":"relay","event_id":"e-3","ts":"2026-11-22T07:00:00.000Z","site":"plant-a","gate":"north-turnstile","relay":"something_new","duration_ms":0}`},
		p + "state":          {golden("state"), `{"state":"idle","ts":"2026-11-22T07:00:00.000Z","since":"2026-11-22T07:00:00.000Z"}`},
		p + "camera":         {golden("camera"), `{"status":"ok","fps":15,"last_frame_age_ms":40,"ts":"2026-11-22T07:00:00.000Z"}`},
		p + "health":         {golden("health")},
		p + "alert":          {golden("alert"), `{"code":"something_new","message":"x","ts":"2026-11-22T07:00:00.000Z"}`},
		p + "site/occupancy": {golden("site-occupancy"), `{"zones":{},"ts":"2026-11-22T07:00:00.000Z"}`},
	}
	type job struct {
		Template  string `json:"template"`
		ValueJSON any    `json:"value_json"`
		Value     string `json:"value"`
	}
	type check struct {
		topic, what string
		e           haEntity
		component   string
	}
	var jobs []job
	var checks []check
	for _, m := range testDiscovery(true) {
		var e haEntity
		must(t, json.Unmarshal(m.Payload, &e))
		component := strings.Split(m.Topic, "/")[1]
		for _, tpl := range []struct{ what, text, topic string }{
			{"value_template", e.ValueTemplate, e.StateTopic},
			{"json_attributes_template", e.JSONAttributesTemplate, e.JSONAttributesTopic},
		} {
			if tpl.text == "" {
				continue
			}
			if len(samples[tpl.topic]) == 0 {
				t.Fatalf("%s: no sample payload for %s", m.Topic, tpl.topic)
			}
			for _, raw := range samples[tpl.topic] {
				var v any
				must(t, json.Unmarshal([]byte(raw), &v))
				jobs = append(jobs, job{tpl.text, v, raw})
				checks = append(checks, check{m.Topic, tpl.what, e, component})
			}
		}
	}
	in, err := json.Marshal(jobs)
	must(t, err)
	cmd := exec.Command("python3", "-c", renderScript)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	var res []struct{ Out, Err string }
	must(t, json.Unmarshal(out, &res))
	for i, r := range res {
		c := checks[i]
		if r.Err != "" {
			t.Errorf("%s %s: %s", c.topic, c.what, r.Err)
			continue
		}
		switch {
		case c.what == "json_attributes_template":
			var m map[string]any
			if err := json.Unmarshal([]byte(r.Out), &m); err != nil {
				t.Errorf("%s attributes %q: not a JSON object", c.topic, r.Out)
			}
		case c.component == "event":
			var m map[string]any
			if err := json.Unmarshal([]byte(r.Out), &m); err != nil {
				t.Errorf("%s: event %q is not JSON: %v", c.topic, r.Out, err)
				continue
			}
			et, _ := m["event_type"].(string)
			if !slices.Contains(c.e.EventTypes, et) {
				t.Errorf("%s: event_type %q is not one of %v", c.topic, et, c.e.EventTypes)
			}
		case c.component == "binary_sensor":
			if r.Out != c.e.PayloadOn && r.Out != c.e.PayloadOff {
				t.Errorf("%s: renders %q, neither %q nor %q", c.topic, r.Out, c.e.PayloadOn, c.e.PayloadOff)
			}
		default:
			if strings.TrimSpace(r.Out) == "" {
				t.Errorf("%s: renders nothing", c.topic)
			}
		}
	}
	t.Logf("%d templates rendered", len(res))
}
