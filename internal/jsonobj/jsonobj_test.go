package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Zone string `json:"zone"`
}

type embedded struct {
	Promoted *inner `json:"promoted"`
}

type target struct {
	embedded
	Gate   string            `json:"gate"`
	Nested inner             `json:"nested"`
	List   []inner           `json:"list"`
	Byname map[string]inner  `json:"byname"`
	Raw    json.RawMessage   `json:"raw"`
	Any    any               `json:"any"`
	When   time.Time         `json:"when"`
	Counts map[string]int    `json:"counts"`
	Ptr    *map[string]inner `json:"ptr"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		strict   bool
		foldAll  bool
		err      error  // errors.Is
		text     string // the error's text contains
	}{
		{name: "object", in: `{"gate":"a","nested":{"zone":"z"}}`},
		{name: "surrounding JSON space", in: " \t\r\n{\"gate\":\"a\"}\n\r\t "},
		{name: "empty object", in: `{}`},
		{name: "empty", in: ``, err: ErrNotObject, text: "not a JSON object"},
		{name: "only space", in: " \n", err: ErrNotObject},
		{name: "null", in: `null`, err: ErrNotObject},
		{name: "array", in: `[{"gate":"a"}]`, err: ErrNotObject},
		{name: "string", in: `"{}"`, err: ErrNotObject},
		{name: "non-JSON space before", in: "\u00a0{}", err: ErrNotObject},
		{name: "trailing ]", in: `{"gate":"a"}]`, err: ErrTrailingData, text: "data after the JSON object"},
		{name: "trailing }", in: `{"gate":"a"}}`, err: ErrTrailingData},
		{name: "second object", in: `{"gate":"a"} {"gate":"b"}`, err: ErrTrailingData},
		{name: "trailing garbage after ]", in: `{"gate":"a"}],{"gate":"b"}`, err: ErrTrailingData},
		{name: "trailing NBSP", in: "{}\u00a0", err: ErrTrailingData},
		{name: "trailing NUL", in: "{}\x00", err: ErrTrailingData},
		{name: "cut short", in: `{"gate":"a"`, text: "cut short"},
		{name: "syntax", in: `{"gate":}`, text: "invalid character"},
		{name: "wrong type", in: `{"gate":1}`, text: "cannot unmarshal number"},
		{name: "unknown field allowed", in: `{"gate":"a","newer":{"x":1}}`},
		{name: "unknown field refused", in: `{"gate":"a","newer":1}`, strict: true, text: `unknown field "newer"`},
		{name: "key twice", in: `{"gate":"a","gate":"b"}`, err: ErrRepeatedKey, text: `key "gate" given twice`},
		{name: "key in another case", in: `{"gate":"a","GATE":"b"}`, err: ErrRepeatedKey, text: `key "GATE" given twice`},
		{name: "error names the key", in: `{"a":1,"A":2}`, text: `key "A" given twice`},
		{name: "key escaped", in: `{"gate":"a","\u0067ate":"b"}`, err: ErrRepeatedKey, text: `key "gate" given twice`},
		{name: "long s folds to s as encoding/json does", in: `{"nested":{"zone":"a","zoneſ":"b","ZONE":"c"}}`, err: ErrRepeatedKey, text: `key "ZONE"`},
		{name: "kelvin sign is k", in: `{"gate":"a","\u212aey":1,"key":2}`, err: ErrRepeatedKey, text: `key "key"`},
		{name: "nested struct", in: `{"nested":{"zone":"a","Zone":"b"}}`, err: ErrRepeatedKey, text: `key "Zone"`},
		{name: "promoted field's struct", in: `{"promoted":{"zone":"a","ZONE":"b"}}`, err: ErrRepeatedKey},
		{name: "in an array of structs", in: `{"list":[{"zone":"a"},{"zone":"b","zone":"c"}]}`, err: ErrRepeatedKey},
		{name: "same key in sibling objects", in: `{"list":[{"zone":"a"},{"zone":"b"}],"nested":{"zone":"c"}}`},
		{name: "same key at two depths", in: `{"gate":"a","nested":{"gate":"b"},"any":{"gate":{"gate":1}}}`, strict: false},
		{name: "key after a nested object", in: `{"nested":{"zone":"a"},"NESTED":{}}`, err: ErrRepeatedKey},
		{name: "key after an array", in: `{"list":[],"gate":"a","List":[]}`, err: ErrRepeatedKey},
		{name: "string value equal to a key", in: `{"gate":"gate","nested":{"zone":"gate"}}`},
		{name: "map keys differing in case are distinct", in: `{"byname":{"alice":{},"Alice":{}},"counts":{"a":1,"A":2},"ptr":{"x":{},"X":{}}}`},
		{name: "map key twice", in: `{"counts":{"a":1,"a":2}}`, err: ErrRepeatedKey, text: `key "a"`},
		{name: "struct under a map", in: `{"byname":{"alice":{"zone":"a","Zone":"b"}}}`, err: ErrRepeatedKey},
		{name: "interface keeps case", in: `{"any":{"a":1,"A":2,"l":[{"b":1,"B":2}]}}`},
		{name: "interface key twice", in: `{"any":{"l":[{"b":1,"b":2}]}}`, err: ErrRepeatedKey},
		{name: "raw message keeps case", in: `{"raw":{"a":1,"A":2}}`},
		{name: "raw message key twice", in: `{"raw":{"a":1,"a":2}}`, err: ErrRepeatedKey},
		{name: "FoldAllKeys: map", in: `{"counts":{"a":1,"A":2}}`, foldAll: true, err: ErrRepeatedKey, text: `key "A"`},
		{name: "FoldAllKeys: raw message", in: `{"raw":{"x":{"a":1,"A":2}}}`, foldAll: true, err: ErrRepeatedKey},
		{name: "FoldAllKeys: distinct keys", in: `{"counts":{"a":1,"b":2},"raw":{"a":{"a":1}}}`, foldAll: true},
		{name: "unknown field folds below", in: `{"newer":{"a":1,"A":2}}`, err: ErrRepeatedKey},
		{name: "invalid UTF-8 keys that json merges", in: "{\"counts\":{\"a\xff\":1,\"a\xfe\":2}}", err: ErrRepeatedKey},
		{name: "long key clipped", in: `{"` + strings.Repeat("k", 300) + `":1,"` + strings.Repeat("k", 300) + `":2}`, err: ErrRepeatedKey, text: strings.Repeat("k", 64) + `…"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v target
			var opts []Option
			if tc.strict {
				opts = append(opts, DisallowUnknownFields())
			}
			if tc.foldAll {
				opts = append(opts, FoldAllKeys())
			}
			err := Decode([]byte(tc.in), &v, opts...)
			if tc.err == nil && tc.text == "" {
				if err != nil {
					t.Fatalf("Decode(%q): %v", tc.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%q) accepted it", tc.in)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("Decode(%q) = %v, want %v", tc.in, err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Decode(%q) = %q, want it to say %q", tc.in, err, tc.text)
			}
			var rk *RepeatedKeyError
			if errors.Is(err, ErrRepeatedKey) != errors.As(err, &rk) {
				t.Errorf("Decode(%q) = %v: ErrRepeatedKey but not a *RepeatedKeyError, or the reverse", tc.in, err)
			}
		})
	}
}

// TestFoldingIsEncodingJSONs: the keys Decode calls the same are those
// encoding/json puts in the same struct field.
func TestFoldingIsEncodingJSONs(t *testing.T) {
	for _, pair := range [][2]string{{"s", "ſ"}, {"k", "\u212a"}, {"i", "İ"}, {"σ", "ς"}, {"Σ", "ς"}, {"ß", "ẞ"}, {"Straße", "STRASSE"}} {
		field := reflect.StructOf([]reflect.StructField{{Name: "F", Type: reflect.TypeFor[int](), Tag: reflect.StructTag(`json:"` + pair[0] + `"`)}})
		v := reflect.New(field)
		in, _ := json.Marshal(map[string]int{pair[1]: 1})
		if err := json.Unmarshal(in, v.Interface()); err != nil {
			t.Fatal(err)
		}
		merged := v.Elem().Field(0).Int() == 1
		two := []byte(`{"` + pair[0] + `":1,"` + pair[1] + `":2}`)
		err := Decode(two, v.Interface())
		if merged != errors.Is(err, ErrRepeatedKey) {
			t.Errorf("%q and %q: encoding/json merges them: %v; Decode: %v", pair[0], pair[1], merged, err)
		}
	}
}

// FuzzDecode: Decode never panics; what it accepts is one object with only
// JSON space after it and no key repeated (per a walk with dec.Token:
// exactly, into a map; folded, into a struct with no fields), which
// re-marshals and decodes again to the same; and it accepts every such
// object. FoldAllKeys into a map folds as the struct does.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":1}]`, `{"a":1}}`, `{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"a":{"b":[{"c":1,"C":2}]}}`,
		`{"a":"\u0061","\u0061":1}`, `{"ſ":1,"s":2}`, `{"a":[1,"x",{"b":null}],"c":true}`, `[{}]`, `null`, "{\"a\xff\":1,\"a\xfe\":2}",
		`{"a":1}` + "\u00a0", `{"a":{"b":{"c":{}}},"b":{"c":{"c":1}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m map[string]any
		errMap := Decode(b, &m)
		var none struct{}
		errFold := Decode(b, &none)
		var folded map[string]any
		errFoldAll := Decode(b, &folded, FoldAllKeys())

		trimmed := bytes.Trim(b, " \t\r\n")
		object := len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed)
		for _, c := range []struct {
			err  error
			fold bool
		}{{errMap, false}, {errFold, true}, {errFoldAll, true}} {
			if c.err == nil && !object {
				t.Fatalf("accepted %q: not one object with only space around it", b)
			}
			if !object {
				continue
			}
			dup, ok := oracleRepeated(trimmed, c.fold)
			if !ok {
				t.Fatalf("walk of valid %q failed", trimmed)
			}
			if c.err == nil && dup {
				t.Fatalf("accepted %q (fold %v): it repeats a key", b, c.fold)
			}
			if c.err != nil && !dup && !errors.Is(c.err, ErrRepeatedKey) {
				t.Fatalf("refused valid %q (fold %v): %v", b, c.fold, c.err)
			}
			if c.err != nil && !dup {
				t.Fatalf("refused %q (fold %v) for a repeated key the walk does not see: %v", b, c.fold, c.err)
			}
		}
		if errMap != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("re-marshal of %q: %v", b, err)
		}
		var m2 map[string]any
		if err := Decode(again, &m2); err != nil {
			t.Fatalf("%q re-marshalled as %q: %v", b, again, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%q: decoded %v, after a re-marshal %v", b, m, m2)
		}
	})
}

// oracleRepeated walks b, one valid JSON value, with dec.Token and reports
// a key repeated in one object, compared exactly or with strings.EqualFold.
func oracleRepeated(b []byte, fold bool) (dup, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var value func() bool // reads one value; false on a repeated key
	value = func() bool {
		tok, err := dec.Token()
		if err != nil {
			ok = false
			return false
		}
		switch tok {
		case json.Delim('{'):
			var seen []string
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					ok = false
					return false
				}
				k := tok.(string)
				for _, s := range seen {
					if k == s || fold && strings.EqualFold(k, s) {
						return false
					}
				}
				seen = append(seen, k)
				if !value() {
					return false
				}
			}
			_, err = dec.Token()
			ok = ok && err == nil
		case json.Delim('['):
			for dec.More() {
				if !value() {
					return false
				}
			}
			_, err = dec.Token()
			ok = ok && err == nil
		}
		return true
	}
	ok = true
	dup = !value()
	return dup, ok
}

// event is about what a gate publishes: 1 KB of JSON.
type event struct {
	EventID        string   `json:"event_id"`
	Seq            uint64   `json:"seq"`
	TS             string   `json:"ts"`
	Site           string   `json:"site"`
	Gate           string   `json:"gate"`
	Decision       string   `json:"decision"`
	Reason         []string `json:"reason"`
	Message        string   `json:"message,omitempty"`
	SubmissionID   string   `json:"submission_id,omitempty"`
	UserID         string   `json:"user_id,omitempty"`
	IdentitySource string   `json:"identity_source,omitempty"`
	Auth           *struct {
		AuthenticationID string             `json:"authentication_id"`
		Status           string             `json:"status"`
		FailCodes        []string           `json:"fail_codes"`
		Scores           map[string]float64 `json:"scores"`
	} `json:"auth,omitempty"`
	AgeMS     int64            `json:"age_ms"`
	LatencyMS map[string]int64 `json:"latency_ms"`
	Relay     string           `json:"relay,omitempty"`
	ZoneFrom  string           `json:"zone_from,omitempty"`
	ZoneTo    string           `json:"zone_to,omitempty"`
	Direction string           `json:"direction,omitempty"`
	SiteView  string           `json:"site_view,omitempty"`
	Mode      string           `json:"mode,omitempty"`
}

var event1K = []byte(`{"event_id":"01JD8Z6Q4W7M3K2N9P5R8T1V6X","seq":184467,"ts":"2026-12-07T08:15:42.123Z",` +
	`"site":"plant-north","gate":"turnstile-east-2","decision":"granted","reason":["auth_approved","liveness_passed","zone_ok"],` +
	`"message":"Face matched; liveness challenge passed; entering production hall B through the east turnstile after the morning shift change, escorted by the visitor host","submission_id":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",` +
	`"user_id":"employee-004711","identity_source":"qr","auth":{"authentication_id":"auth-7c1e9a4b-2f63-4d8e-b5a1-0e9d3c7f6b21",` +
	`"status":"approved","fail_codes":[],"scores":{"face_similarity_score":97.25,"occluded_score":1.5,"face_cover_score":0.75,"head_cover_score":2.25}},` +
	`"age_ms":412,"latency_ms":{"capture":38,"encode":12,"api":287,"liveness":910,"relay":4,"total":1251},"relay":"pulsed",` +
	`"zone_from":"outside","zone_to":"production-hall-b","direction":"in","site_view":"consistent","mode":"normal"}`)

// BenchmarkDecode compares Decode with what the callers did before
// (json.Decoder with DisallowUnknownFields and More) on a 1 KB event.
func BenchmarkDecode(b *testing.B) {
	if len(event1K) < 900 || len(event1K) > 1100 {
		b.Fatalf("event is %d bytes", len(event1K))
	}
	b.Run("decoder-more", func(b *testing.B) {
		b.SetBytes(int64(len(event1K)))
		b.ReportAllocs()
		for b.Loop() {
			var e event
			dec := json.NewDecoder(bytes.NewReader(event1K))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || dec.More() {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonobj", func(b *testing.B) {
		b.SetBytes(int64(len(event1K)))
		b.ReportAllocs()
		for b.Loop() {
			var e event
			if err := Decode(event1K, &e, DisallowUnknownFields()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
