package mqtt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/facegate/facegate/record"
)

// discoveryMessage is one retained Home Assistant discovery config.
type discoveryMessage struct {
	Topic   string
	Payload []byte
}

type haDevice struct {
	Identifiers      []string `json:"identifiers"`
	Name             string   `json:"name"`
	Manufacturer     string   `json:"manufacturer"`
	Model            string   `json:"model"`
	SWVersion        string   `json:"sw_version,omitempty"`
	ConfigurationURL string   `json:"configuration_url,omitempty"`
}

// haOrigin names the software that sent the config (Home Assistant logs it).
type haOrigin struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

type haEntity struct {
	Name                   string   `json:"name"`
	UniqueID               string   `json:"unique_id"`
	StateTopic             string   `json:"state_topic"`
	ValueTemplate          string   `json:"value_template,omitempty"`
	JSONAttributesTopic    string   `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate string   `json:"json_attributes_template,omitempty"`
	PayloadOn              string   `json:"payload_on,omitempty"`
	PayloadOff             string   `json:"payload_off,omitempty"`
	EventTypes             []string `json:"event_types,omitempty"`
	DeviceClass            string   `json:"device_class,omitempty"`
	StateClass             string   `json:"state_class,omitempty"`
	Unit                   string   `json:"unit_of_measurement,omitempty"`
	EntityCategory         string   `json:"entity_category,omitempty"`
	Icon                   string   `json:"icon,omitempty"`
	AvailabilityTopic      string   `json:"availability_topic"`
	PayloadAvailable       string   `json:"payload_available"`
	PayloadNotAvailable    string   `json:"payload_not_available"`
	Device                 haDevice `json:"device"`
	Origin                 haOrigin `json:"origin"`
}

// discoveryConfig is what the discovery configs are made of.
type discoveryConfig struct {
	prefix           string // Home Assistant's discovery prefix
	topics           topics
	nodeID           string // the client id
	name             string // the device name
	version          string
	door             bool // a door input is wired
	configurationURL string
	// zones are announced as occupancy sensors of occupancyTopic.
	zones          []string
	occupancyTopic string
}

// AlertCodes are the operator alert codes the Home Assistant alert event
// entity knows; any other code arrives there as "other" (its code is an
// attribute).
var AlertCodes = []string{"api_config", "api_client", "api_invalid_response", "relay_failed", "relay_fault",
	"relay_interrupted", "record_failed", "state_dir", "config_reload", "disk_low", "audit_log", "outbox_corrupt", "outbox_filling", "open_replay_memory",
	"door_forced", "door_held_open", "tamper_alarm", "input_fault", "liveness_lockout",
	"passback_soft", "occupancy_reached", "occupancy_below", "evacuation", "site_state", "site_unreachable",
	"camera_down", "api_down", "clock_skew", "reset_mismatch", AlertSubscriptionRefused, "broker_dropped", "mqtt_stopped"}

// pulseOutcomes are the relay results the Gate opening event entity knows.
var pulseOutcomes = []string{record.RelayPulsed, record.RelayCut, record.RelayFault, record.RelayNotEnergised, record.RelayInterrupted}

// discoveryMessages builds the configs for the gate's entities: last
// decision, similarity score, session state, relay, door (when wired),
// camera status and problem, health problem, and three event entities
// (each decision, each granted decision's opening, each operator alert);
// all unavailable when <prefix>/status is offline.
func discoveryMessages(dc discoveryConfig) []discoveryMessage {
	t := dc.topics
	node := haNodeID(dc.nodeID)
	dev := haDevice{
		Identifiers:      []string{node},
		Name:             dc.name,
		Manufacturer:     "facegate",
		Model:            "face-authenticated gate",
		SWVersion:        dc.version,
		ConfigurationURL: dc.configurationURL,
	}
	origin := haOrigin{Name: "facegate", SWVersion: dc.version, SupportURL: "https://github.com/facegate/facegate"}
	const hasLast = "value_json.last_decision is defined"
	type entity struct {
		component, object string
		e                 haEntity
	}
	entities := []entity{
		{"sensor", "last_decision", haEntity{
			Name: "Last decision", StateTopic: t.State, Icon: "mdi:account-check",
			ValueTemplate:          "{{ value_json.last_decision.decision if " + hasLast + " else 'none' }}",
			JSONAttributesTopic:    t.State,
			JSONAttributesTemplate: "{{ (value_json.last_decision if " + hasLast + " else {}) | tojson }}",
		}},
		{"sensor", "face_similarity", haEntity{
			Name: "Face similarity", StateTopic: t.State, StateClass: "measurement", Unit: "%", Icon: "mdi:face-recognition",
			ValueTemplate: "{{ value_json.last_decision.face_similarity_score if " + hasLast +
				" and value_json.last_decision.face_similarity_score is defined else none }}",
		}},
		{"sensor", "session_state", haEntity{
			Name: "Session state", StateTopic: t.State, ValueTemplate: "{{ value_json.state }}", Icon: "mdi:state-machine",
		}},
		{"event", "decision", haEntity{
			// One HA event per decision (the event topic is never
			// retained, so a restart replays nothing).
			Name: "Decision", StateTopic: t.Event, Icon: "mdi:gate",
			EventTypes: []string{string(record.DecisionGranted), string(record.DecisionDenied), string(record.DecisionError)},
			ValueTemplate: "{{ {'event_type': value_json.decision, 'reason': value_json.reason, " +
				"'event_id': value_json.event_id, 'seq': value_json.seq, 'ts': value_json.ts, " +
				"'user_id': value_json.user_id | default(none), 'message': value_json.message | default(none), " +
				"'identity_source': value_json.identity_source | default(none), " +
				"'face_similarity_score': (value_json.auth.score.face_similarity_score | default(none)) if value_json.auth is defined else none} | tojson }}",
		}},
		{"event", "opening", haEntity{
			// How each granted decision's pulse went (<prefix>/event/relay):
			// a grant whose relay never energised is "granted" on Decision
			// and not_energised here.
			Name: "Gate opening", StateTopic: t.Event + "/relay", Icon: "mdi:door-open",
			EventTypes: append(append([]string(nil), pulseOutcomes...), "other"),
			ValueTemplate: "{{ {'event_type': value_json.relay if value_json.relay in " + pyList(pulseOutcomes) + " else 'other', " +
				"'relay': value_json.relay, 'reason': value_json.reason | default(none), 'event_id': value_json.event_id, " +
				"'ts': value_json.ts, 'duration_ms': value_json.duration_ms} | tojson }}",
		}},
		{"binary_sensor", "relay", haEntity{
			Name: "Relay", StateTopic: t.Relay, PayloadOn: "open", PayloadOff: "closed", DeviceClass: "lock",
		}},
	}
	if dc.door {
		entities = append(entities, entity{"binary_sensor", "door", haEntity{
			Name: "Door", StateTopic: t.Door, PayloadOn: "open", PayloadOff: "closed", DeviceClass: "door",
		}})
	}
	entities = append(entities,
		entity{"sensor", "camera", haEntity{
			Name: "Camera", StateTopic: t.Camera, ValueTemplate: "{{ value_json.status }}",
			JSONAttributesTopic: t.Camera, EntityCategory: "diagnostic", Icon: "mdi:cctv",
		}},
		entity{"binary_sensor", "camera_problem", haEntity{
			Name: "Camera problem", StateTopic: t.Camera, DeviceClass: "problem", EntityCategory: "diagnostic",
			ValueTemplate: "{{ 'OFF' if value_json.status == 'ok' else 'ON' }}", PayloadOn: "ON", PayloadOff: "OFF",
		}},
		entity{"binary_sensor", "health_problem", haEntity{
			// On unless the self-test is ok; the checks are its attributes.
			Name: "Health problem", StateTopic: t.Health, DeviceClass: "problem", EntityCategory: "diagnostic",
			ValueTemplate: "{{ 'OFF' if value_json.status == 'ok' else 'ON' }}", PayloadOn: "ON", PayloadOff: "OFF",
			JSONAttributesTopic: t.Health,
		}},
		entity{"event", "alert", haEntity{
			// Home Assistant ignores the retained copy a (re)subscription
			// brings: only alerts raised while it listens fire.
			Name: "Operator alert", StateTopic: t.Alert, Icon: "mdi:alert", EntityCategory: "diagnostic",
			EventTypes: append(append([]string(nil), AlertCodes...), "other"),
			ValueTemplate: "{{ {'event_type': value_json.code if value_json.code in " + pyList(AlertCodes) + " else 'other', " +
				"'code': value_json.code, 'message': value_json.message, 'event_id': value_json.event_id | default(none), " +
				"'ts': value_json.ts} | tojson }}",
		}},
	)
	for _, z := range dc.zones {
		q := jinjaString(z)
		entities = append(entities, entity{"sensor", zoneObjectID(z), haEntity{
			Name: "Occupancy " + z, StateTopic: dc.occupancyTopic, StateClass: "measurement", Unit: "persons",
			Icon:          "mdi:account-group",
			ValueTemplate: "{{ value_json.zones[" + q + "].count if " + q + " in value_json.zones else 0 }}",
		}})
	}
	out := make([]discoveryMessage, 0, len(entities)+1)
	if !dc.door {
		// An empty retained config removes a door entity announced by an
		// older version or configuration.
		out = append(out, discoveryMessage{Topic: dc.prefix + "/binary_sensor/" + node + "/door/config", Payload: []byte{}})
	}
	for _, x := range entities {
		e := x.e
		e.UniqueID = node + "_" + x.object
		e.AvailabilityTopic = t.Status
		e.PayloadAvailable = "online"
		e.PayloadNotAvailable = "offline"
		e.Device = dev
		e.Origin = origin
		out = append(out, discoveryMessage{
			Topic:   dc.prefix + "/" + x.component + "/" + node + "/" + x.object + "/config",
			Payload: mustJSON(e),
		})
	}
	return out
}

// pyList writes codes as a Jinja list literal: ['a', 'b'].
func pyList(codes []string) string {
	return "['" + strings.Join(codes, "', '") + "']"
}

// haNodeID keeps what Home Assistant accepts in a node id: [a-zA-Z0-9_-].
func haNodeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// jinjaString quotes s as a Jinja string literal (JSON's escapes are
// Python's).
func jinjaString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// zoneObjectID is the object id of a zone's occupancy sensor: the name as
// Home Assistant accepts it, with a short hash when that changed it (so
// "zone b" and "zone_b" stay two sensors).
func zoneObjectID(zone string) string {
	id := haNodeID(zone)
	if id != zone {
		sum := sha256.Sum256([]byte(zone))
		id += "_" + hex.EncodeToString(sum[:3])
	}
	return "occupancy_" + id
}
