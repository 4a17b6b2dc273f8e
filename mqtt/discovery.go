package mqtt

import (
	"encoding/json"
	"strings"
)

// discoveryMessage is one retained Home Assistant discovery config.
type discoveryMessage struct {
	Topic   string
	Payload []byte
}

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
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
	DeviceClass            string   `json:"device_class,omitempty"`
	StateClass             string   `json:"state_class,omitempty"`
	Unit                   string   `json:"unit_of_measurement,omitempty"`
	EntityCategory         string   `json:"entity_category,omitempty"`
	Icon                   string   `json:"icon,omitempty"`
	AvailabilityTopic      string   `json:"availability_topic"`
	PayloadAvailable       string   `json:"payload_available"`
	PayloadNotAvailable    string   `json:"payload_not_available"`
	Device                 haDevice `json:"device"`
}

// discoveryMessages builds the configs for the gate's entities: last
// decision, similarity score, session state, relay, door, camera status
// and camera problem; all unavailable when <prefix>/status is offline.
func discoveryMessages(discoveryPrefix string, t topics, nodeID, name, version string) []discoveryMessage {
	node := haNodeID(nodeID)
	dev := haDevice{
		Identifiers:  []string{node},
		Name:         name,
		Manufacturer: "facegate",
		Model:        "face-authenticated gate",
		SWVersion:    version,
	}
	const hasLast = "value_json.last_decision is defined"
	entities := []struct {
		component, object string
		e                 haEntity
	}{
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
		{"binary_sensor", "relay", haEntity{
			Name: "Relay", StateTopic: t.Relay, PayloadOn: "open", PayloadOff: "closed", DeviceClass: "lock",
		}},
		{"binary_sensor", "door", haEntity{
			Name: "Door", StateTopic: t.Door, PayloadOn: "open", PayloadOff: "closed", DeviceClass: "door",
		}},
		{"sensor", "camera", haEntity{
			Name: "Camera", StateTopic: t.Camera, ValueTemplate: "{{ value_json.status }}",
			JSONAttributesTopic: t.Camera, EntityCategory: "diagnostic", Icon: "mdi:cctv",
		}},
		{"binary_sensor", "camera_problem", haEntity{
			Name: "Camera problem", StateTopic: t.Camera, DeviceClass: "problem", EntityCategory: "diagnostic",
			ValueTemplate: "{{ 'OFF' if value_json.status == 'ok' else 'ON' }}", PayloadOn: "ON", PayloadOff: "OFF",
		}},
	}
	out := make([]discoveryMessage, 0, len(entities))
	for _, x := range entities {
		e := x.e
		e.UniqueID = node + "_" + x.object
		e.AvailabilityTopic = t.Status
		e.PayloadAvailable = "online"
		e.PayloadNotAvailable = "offline"
		e.Device = dev
		b, err := json.Marshal(e)
		if err != nil { // cannot happen: only strings
			panic(err)
		}
		out = append(out, discoveryMessage{
			Topic:   discoveryPrefix + "/" + x.component + "/" + node + "/" + x.object + "/config",
			Payload: b,
		})
	}
	return out
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
