package mqtt

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facegate/facegate/record"
)

// haSchema is testdata/ha/schema.json: the keys and value types Home
// Assistant's MQTT discovery accepts per platform (see its "describes").
type haSchema struct {
	Describes      string                      `json:"describes"`
	Common         map[string]json.RawMessage  `json:"common"`
	Device         map[string]json.RawMessage  `json:"device"`
	DeviceRequired []string                    `json:"device_required"`
	Origin         map[string]json.RawMessage  `json:"origin"`
	OriginRequired []string                    `json:"origin_required"`
	Platforms      map[string]haPlatformSchema `json:"platforms"`
}

type haPlatformSchema struct {
	Required []string                   `json:"required"`
	Keys     map[string]json.RawMessage `json:"keys"`
}

func loadHASchema(t *testing.T) haSchema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ha", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s haSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("testdata/ha/schema.json: %v", err)
	}
	return s
}

// checkValue checks v against a type name of the schema or a list of the
// allowed strings.
func checkValue(spec json.RawMessage, v any) error {
	var allowed []string
	if json.Unmarshal(spec, &allowed) == nil {
		s, ok := v.(string)
		if !ok || !slices.Contains(allowed, s) {
			return fmt.Errorf("%v is not one of %v", v, allowed)
		}
		return nil
	}
	var typ string
	if err := json.Unmarshal(spec, &typ); err != nil {
		return fmt.Errorf("bad schema entry %s", spec)
	}
	switch typ {
	case "string", "template":
		if s, ok := v.(string); !ok || s == "" {
			return fmt.Errorf("%#v is not a non-empty string", v)
		}
	case "topic":
		if s, ok := v.(string); !ok || s == "" || strings.ContainsAny(s, "+#\x00") {
			return fmt.Errorf("%#v is not a topic", v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%#v is not a bool", v)
		}
	case "positive_int":
		if f, ok := v.(float64); !ok || f < 0 || f != float64(int64(f)) {
			return fmt.Errorf("%#v is not an integer >= 0", v)
		}
	case "qos":
		if f, ok := v.(float64); !ok || (f != 0 && f != 1 && f != 2) {
			return fmt.Errorf("%#v is not a QoS", v)
		}
	case "string_list":
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return fmt.Errorf("%#v is not a non-empty list", v)
		}
		for _, x := range l {
			if s, ok := x.(string); !ok || s == "" {
				return fmt.Errorf("list item %#v is not a string", x)
			}
		}
	case "url":
		s, _ := v.(string)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%#v is not an http(s) URL", v)
		}
	default:
		return fmt.Errorf("schema type %q is checked by the caller", typ)
	}
	return nil
}

// checkObject checks every key of obj against keys (and required).
func checkObject(what string, obj map[string]any, keys map[string]json.RawMessage, required []string) []error {
	var errs []error
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			errs = append(errs, fmt.Errorf("%s: required key %s missing", what, k))
		}
	}
	for k, v := range obj {
		spec, ok := keys[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: key %q is not one Home Assistant accepts (it would be dropped)", what, k))
			continue
		}
		if string(spec) == `"device"` || string(spec) == `"origin"` {
			continue
		}
		if err := checkValue(spec, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", what, k, err))
		}
	}
	return errs
}

// validateDiscovery checks one config payload for component against the
// schema, the device and origin objects included.
func validateDiscovery(s haSchema, component string, payload []byte) []error {
	p, ok := s.Platforms[component]
	if !ok {
		return []error{fmt.Errorf("platform %s is not in the schema", component)}
	}
	var obj map[string]any
	if err := json.Unmarshal(payload, &obj); err != nil {
		return []error{err}
	}
	keys := map[string]json.RawMessage{}
	for k, v := range s.Common {
		keys[k] = v
	}
	for k, v := range p.Keys {
		keys[k] = v
	}
	errs := checkObject(component, obj, keys, p.Required)
	for _, sub := range []struct {
		key      string
		keys     map[string]json.RawMessage
		required []string
	}{{"device", s.Device, s.DeviceRequired}, {"origin", s.Origin, s.OriginRequired}} {
		v, ok := obj[sub.key]
		if !ok {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s is not an object", component, sub.key))
			continue
		}
		errs = append(errs, checkObject(component+"."+sub.key, m, sub.keys, sub.required)...)
	}
	return errs
}

func testDiscovery(door bool) []discoveryMessage {
	return discoveryMessages(discoveryConfig{
		prefix: "homeassistant", topics: newTopics("facegate/plant-a/north-turnstile", "homeassistant"),
		nodeID: "facegate-plant-a-north-turnstile", name: "facegate plant-a/north-turnstile", version: "v1.4.0",
		door: door, configurationURL: "http://gate-north.lan:8080/",
		zones: []string{"site", "zone-b"}, occupancyTopic: "facegate/plant-a/north-turnstile/site/occupancy",
	})
}

// TestDiscoveryMatchesHomeAssistantSchema: every config facegate announces
// uses only keys and values Home Assistant's MQTT discovery accepts; the
// configs are kept as golden files (testdata/ha/*.json, -update).
func TestDiscoveryMatchesHomeAssistantSchema(t *testing.T) {
	s := loadHASchema(t)
	if !strings.Contains(s.Describes, "@") {
		t.Fatal("testdata/ha/schema.json does not say which Home Assistant source it describes")
	}
	for _, door := range []bool{true, false} {
		seen := map[string]bool{}
		for _, m := range testDiscovery(door) {
			parts := strings.Split(m.Topic, "/")
			if len(parts) != 5 || parts[0] != "homeassistant" || parts[4] != "config" {
				t.Fatalf("discovery topic %s", m.Topic)
			}
			component, object := parts[1], parts[3]
			if len(m.Payload) == 0 {
				if door || object != "door" {
					t.Errorf("empty config on %s", m.Topic)
				}
				continue
			}
			for _, err := range validateDiscovery(s, component, m.Payload) {
				t.Errorf("%s: %v", m.Topic, err)
			}
			var e haEntity
			if err := json.Unmarshal(m.Payload, &e); err != nil {
				t.Fatal(err)
			}
			if seen[e.UniqueID] {
				t.Errorf("unique_id %s twice", e.UniqueID)
			}
			seen[e.UniqueID] = true
			if component == "event" && !strings.Contains(e.ValueTemplate, "'event_type':") {
				t.Errorf("%s: the value template does not render an event_type", m.Topic)
			}
			if !door {
				continue
			}
			golden := filepath.Join("testdata", "ha", component+"."+object+".json")
			pretty := indentJSON(t, m.Payload)
			if *update {
				must(t, os.WriteFile(golden, pretty, 0o644))
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./mqtt -run Discovery -update)", err)
			}
			if !sameJSON(t, m.Payload, want) {
				t.Errorf("%s changed:\n%s\nwant (%s)\n%s\n(an intended change: -update, then review)", m.Topic, pretty, golden, want)
			}
		}
		if door != seen["facegate-plant-a-north-turnstile_door"] {
			t.Errorf("door=%v: door entity announced = %v", door, seen["facegate-plant-a-north-turnstile_door"])
		}
	}
}

// TestDecisionEventTypes: the decision event entity knows every decision,
// and the alert entity every alert code plus "other".
func TestDecisionEventTypes(t *testing.T) {
	for _, m := range testDiscovery(false) {
		var e haEntity
		if len(m.Payload) == 0 {
			continue
		}
		must(t, json.Unmarshal(m.Payload, &e))
		switch {
		case strings.HasSuffix(m.Topic, "/decision/config"):
			if !slices.Equal(e.EventTypes, []string{"granted", "denied", "error"}) || e.StateTopic != "facegate/plant-a/north-turnstile/event" {
				t.Errorf("decision event entity: %+v", e)
			}
		case strings.HasSuffix(m.Topic, "/alert/config"):
			if !slices.Equal(e.EventTypes, append(append([]string(nil), AlertCodes...), "other")) || e.StateTopic != "facegate/plant-a/north-turnstile/alert" {
				t.Errorf("alert event entity: %+v", e)
			}
		}
	}
}

// TestSchemaCatchesMistakes: the validator refuses what Home Assistant
// would drop or refuse, so the schema test can fail.
func TestSchemaCatchesMistakes(t *testing.T) {
	s := loadHASchema(t)
	for _, tc := range []struct{ component, payload string }{
		{"sensor", `{"name":"x","unique_id":"u"}`},
		{"sensor", `{"state_topic":"a/b","unit":"%"}`},
		{"binary_sensor", `{"state_topic":"a/b","device_class":"doorway"}`},
		{"event", `{"state_topic":"a/b"}`},
		{"event", `{"state_topic":"a/b","event_types":[]}`},
		{"sensor", `{"state_topic":"a/b","device":{"name":"x"}}`},
		{"sensor", `{"state_topic":"a/b","device":{"identifiers":["i"],"configuration_url":"gate:8080"}}`},
		{"sensor", `{"state_topic":"a/b","origin":{"sw":"1"}}`},
		{"sensor", `{"state_topic":"a/+"}`},
		{"light", `{"state_topic":"a/b"}`},
	} {
		if errs := validateDiscovery(s, tc.component, []byte(tc.payload)); len(errs) == 0 {
			t.Errorf("%s %s accepted", tc.component, tc.payload)
		}
	}
}

// TestHomeAssistantSeesAGrantThatNeverOpened: the Decision event entity
// reads "granted" for a grant whose relay never energised (the outcome
// comes after, on <prefix>/event/relay); the Gate opening event entity
// fires on that topic with the outcome as its event type.
func TestHomeAssistantSeesAGrantThatNeverOpened(t *testing.T) {
	const relayTopic = "facegate/plant-a/north-turnstile/event/relay"
	for _, m := range testDiscovery(true) {
		var e haEntity
		must(t, json.Unmarshal(m.Payload, &e))
		if strings.Split(m.Topic, "/")[1] == "event" && e.StateTopic == relayTopic {
			for _, want := range []string{record.RelayPulsed, record.RelayNotEnergised, record.RelayInterrupted, record.RelayFault} {
				if !slices.Contains(e.EventTypes, want) {
					t.Errorf("%s: event types %v lack %s", m.Topic, e.EventTypes, want)
				}
			}
			return
		}
	}
	t.Fatalf("no Home Assistant event entity on %s", relayTopic)
}
