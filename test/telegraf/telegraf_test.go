// Package telegraf tests the Telegraf configuration documented in
// docs/mqtt.md with Telegraf's own json_v2 parser, on the documented event
// payloads (which mqtt/golden_test.go keeps equal to what the code emits).
package telegraf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/json_v2"
	"github.com/influxdata/toml"
)

// docBlock is the code of the fenced block between <!-- name --> and
// <!-- /name --> in docs/mqtt.md.
func docBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "mqtt.md"))
	if err != nil {
		t.Fatalf("read docs/mqtt.md: %v", err)
	}
	s := string(b)
	i, j := strings.Index(s, "<!-- "+name+" -->"), strings.Index(s, "<!-- /"+name+" -->")
	if i < 0 || j < i {
		t.Fatalf("docs/mqtt.md has no block %s", name)
	}
	block := s[i:j]
	block = block[strings.Index(block, "\n```")+4:]
	block = block[strings.Index(block, "\n")+1:]
	return block[:strings.LastIndex(block, "```")]
}

// documentedParser builds the parser the documented mqtt_consumer section
// configures, through Telegraf's own TOML library and config structs.
func documentedParser(t *testing.T) *json_v2.Parser {
	t.Helper()
	var cfg struct {
		Inputs struct {
			MQTTConsumer []struct {
				Servers           []string         `toml:"servers"`
				Topics            []string         `toml:"topics"`
				QoS               int              `toml:"qos"`
				PersistentSession bool             `toml:"persistent_session"`
				ClientID          string           `toml:"client_id"`
				DataFormat        string           `toml:"data_format"`
				JSONV2            []json_v2.Config `toml:"json_v2"`
			} `toml:"mqtt_consumer"`
		} `toml:"inputs"`
	}
	if err := toml.Unmarshal([]byte(docBlock(t, "telegraf-config")), &cfg); err != nil {
		t.Fatalf("documented Telegraf config: %v", err)
	}
	if n := len(cfg.Inputs.MQTTConsumer); n != 1 {
		t.Fatalf("%d mqtt_consumer sections, want 1", n)
	}
	in := cfg.Inputs.MQTTConsumer[0]
	if in.DataFormat != "json_v2" || !slices.Equal(in.Topics, []string{"facegate/+/+/event"}) || in.QoS != 1 || !in.PersistentSession || in.ClientID == "" {
		t.Fatalf("mqtt_consumer: data_format %q, topics %q, qos %d, persistent session %v, client id %q: want json_v2, the event topics, QoS 1 on a persistent session",
			in.DataFormat, in.Topics, in.QoS, in.PersistentSession, in.ClientID)
	}
	p := &json_v2.Parser{Configs: in.JSONV2, DefaultMetricName: "mqtt_consumer", Log: testLogger{t}}
	if err := p.Init(); err != nil {
		t.Fatalf("json_v2 init: %v", err)
	}
	return p
}

func TestDocumentedTelegrafConfig(t *testing.T) {
	p := documentedParser(t)
	for _, tc := range []struct {
		block    string
		tags     map[string]string
		fields   map[string]any
		absent   []string
		wantTime string
	}{
		{"payload:event-granted",
			map[string]string{"site": "plant-a", "gate": "north-turnstile", "decision": "granted"},
			map[string]any{"event_id": "019a8b2e-6c1e-7b4a-9f3e-2d8c5a1b7e40", "seq": uint64(4182), "reason": `["approved"]`,
				"age_ms": int64(640), "latency_capture_ms": int64(420), "latency_api_ms": int64(215), "latency_total_ms": int64(655),
				"face_similarity_score": 99.5, "occluded_score": 99.9, "face_cover_score": 93.3, "head_cover_score": 87.0},
			[]string{"error_code"}, "2026-11-22T07:31:05.412Z"},
		{"payload:event-denied",
			map[string]string{"site": "plant-a", "gate": "north-turnstile", "decision": "denied"},
			map[string]any{"reason": `["face_compare_underscore","head_cover_below_minimum"]`, "face_similarity_score": 41.2, "latency_total_ms": int64(512)},
			nil, "2026-11-22T07:33:48.090Z"},
		{"payload:event-error",
			map[string]string{"site": "plant-a", "gate": "north-turnstile", "decision": "error"},
			map[string]any{"reason": `["api_identity"]`, "error_code": "invalid_submission_status", "seq": uint64(4184)},
			[]string{"face_similarity_score", "head_cover_score"}, "2026-11-22T07:36:12.301Z"},
	} {
		t.Run(tc.block, func(t *testing.T) {
			ms, err := p.Parse([]byte(docBlock(t, tc.block)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if len(ms) != 1 {
				for _, m := range ms {
					t.Logf("point: %s %v %v", m.Name(), m.Tags(), m.Fields())
				}
				t.Fatalf("%d points, want one per event", len(ms))
			}
			m := ms[0]
			if m.Name() != "facegate_decision" {
				t.Errorf("measurement %q", m.Name())
			}
			for k, v := range tc.tags {
				if got, _ := m.GetTag(k); got != v {
					t.Errorf("tag %s = %q, want %q", k, got, v)
				}
			}
			if len(m.Tags()) != len(tc.tags) {
				t.Errorf("tags %v, want only %v", m.Tags(), tc.tags)
			}
			for k, v := range tc.fields {
				got, ok := m.GetField(k)
				if !ok || got != v {
					t.Errorf("field %s = %#v (present %v), want %#v; all fields %v", k, got, ok, v, m.Fields())
				}
			}
			for _, k := range tc.absent {
				if v, ok := m.GetField(k); ok {
					t.Errorf("field %s = %v, want absent", k, v)
				}
			}
			for k := range m.Fields() {
				if slices.Contains([]string{"capture", "api", "total", "face_similarity_score_0"}, k) {
					t.Errorf("generic field name %q", k)
				}
			}
			want, _ := time.Parse(time.RFC3339Nano, tc.wantTime)
			if !m.Time().Equal(want) {
				t.Errorf("time %s, want the event's ts %s", m.Time(), want)
			}
		})
	}
}

// testLogger is Telegraf's Logger on t.Log.
type testLogger struct{ t *testing.T }

func (l testLogger) Level() telegraf.LogLevel          { return telegraf.Debug }
func (l testLogger) AddAttribute(string, interface{})  {}
func (l testLogger) Errorf(f string, a ...interface{}) { l.t.Logf("E! "+f, a...) }
func (l testLogger) Error(a ...interface{})            { l.t.Log(append([]any{"E!"}, a...)...) }
func (l testLogger) Warnf(f string, a ...interface{})  { l.t.Logf("W! "+f, a...) }
func (l testLogger) Warn(a ...interface{})             { l.t.Log(append([]any{"W!"}, a...)...) }
func (l testLogger) Infof(f string, a ...interface{})  { l.t.Logf("I! "+f, a...) }
func (l testLogger) Info(a ...interface{})             { l.t.Log(append([]any{"I!"}, a...)...) }
func (l testLogger) Debugf(f string, a ...interface{}) { l.t.Logf("D! "+f, a...) }
func (l testLogger) Debug(a ...interface{})            { l.t.Log(append([]any{"D!"}, a...)...) }
func (l testLogger) Tracef(f string, a ...interface{}) {}
func (l testLogger) Trace(a ...interface{})            {}
