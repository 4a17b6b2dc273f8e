package mqtt

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestParseIdentify(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		want          Identify
		err           string
	}{
		{"both", `{"submission_id":"sub-1","user_id":"u-7"}`, Identify{SubmissionID: "sub-1", UserID: "u-7"}, ""},
		{"no user", ` {"submission_id":"sub-1"} `, Identify{SubmissionID: "sub-1"}, ""},
		{"with ts", `{"submission_id":"sub-1","ts":1763776800}`, Identify{SubmissionID: "sub-1", Issued: time.Unix(1763776800, 0)}, ""},
		{"ts in ms", `{"submission_id":"sub-1","ts":1763776800000000}`, Identify{}, "not a Unix time in seconds"},
		{"missing submission", `{"user_id":"u"}`, Identify{}, "submission_id is missing"},
		{"empty submission", `{"submission_id":""}`, Identify{}, "submission_id must be 1 to 128 bytes"},
		{"too long", `{"submission_id":"` + strings.Repeat("a", 129) + `"}`, Identify{}, "must be 1 to 128 bytes, got 129"},
		{"unknown field", `{"submission_id":"s","door":"open"}`, Identify{}, `unknown field "door"`},
		{"not an object", `"sub-1"`, Identify{}, "not a JSON object"},
		{"trailing data", `{"submission_id":"s"} {}`, Identify{}, "data after the JSON object"},
		{"wrong type", `{"submission_id":42}`, Identify{}, "cannot unmarshal number"},
		{"control char", `{"submission_id":"a\u0007b"}`, Identify{}, "control character"},
		{"spaces", `{"submission_id":" s"}`, Identify{}, "surrounding spaces"},
		{"huge", `{"submission_id":"s","user_id":"` + strings.Repeat("u", 2000) + `"}`, Identify{}, "identify payload is"},
		{"empty", ``, Identify{}, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIdentify([]byte(tc.payload))
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

const testTopic = "facegate/site/gate/cmd/open"

var testSecret = []byte("0123456789abcdef-test-secret")

func newTestVerifier() (*OpenVerifier, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)}
	return NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, clk.Now().Add(-time.Minute)), clk
}

func signed(t testing.TB, secret []byte, b OpenBody) []byte {
	t.Helper()
	p, err := SignOpen(secret, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenVerifier(t *testing.T) {
	v, clk := newTestVerifier()
	now := clk.Now().Unix()
	body := OpenBody{TS: now, Nonce: "nonce-0000000001", Topic: testTopic, By: "ops", Reason: "delivery"}

	got, err := v.Verify(signed(t, testSecret, body))
	if err != nil {
		t.Fatalf("valid command refused: %v", err)
	}
	if got.Nonce != body.Nonce || got.By != "ops" || got.Reason != "delivery" || got.Issued.Unix() != now {
		t.Fatalf("got %+v", got)
	}

	for _, tc := range []struct {
		name    string
		payload func() []byte
		want    error
	}{
		{"replayed", func() []byte { return signed(t, testSecret, body) }, ErrReplayed},
		{"unsigned", func() []byte { return []byte(`{"body":{"ts":1,"nonce":"nonce-0000000002","topic":"x"}}`) }, ErrUnsigned},
		{"empty sig", func() []byte { return []byte(`{"body":{"ts":1},"sig":""}`) }, ErrUnsigned},
		{"wrong secret", func() []byte {
			b := body
			b.Nonce = "nonce-0000000003"
			return signed(t, []byte("another-secret-of-16+"), b)
		}, ErrBadSignature},
		{"body altered after signing", func() []byte {
			p := string(signed(t, testSecret, OpenBody{TS: now, Nonce: "nonce-0000000004", Topic: testTopic, By: "ops"}))
			return []byte(strings.Replace(p, `"by":"ops"`, `"by":"boss"`, 1))
		}, ErrBadSignature},
		{"sig not hex", func() []byte { return []byte(`{"body":{"ts":1},"sig":"zz"}`) }, ErrBadSignature},
		{"other gate", func() []byte {
			return signed(t, testSecret, OpenBody{TS: now, Nonce: "nonce-0000000005", Topic: "facegate/site/other/cmd/open"})
		}, ErrWrongTopic},
		{"31s old", func() []byte {
			return signed(t, testSecret, OpenBody{TS: now - 31, Nonce: "nonce-0000000006", Topic: testTopic})
		}, ErrStale},
		{"31s ahead", func() []byte {
			return signed(t, testSecret, OpenBody{TS: now + 31, Nonce: "nonce-0000000007", Topic: testTopic})
		}, ErrStale},
		{"before process start", func() []byte {
			v2 := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, clk.Now())
			p := signed(t, testSecret, OpenBody{TS: now - 5, Nonce: "nonce-0000000008", Topic: testTopic})
			_, err := v2.Verify(p)
			if !errors.Is(err, ErrStale) {
				t.Errorf("command from before the process started: %v, want ErrStale", err)
			}
			return p // and the main verifier (started earlier) accepts it: checked below
		}, nil},
		{"short nonce", func() []byte {
			return signed(t, testSecret, OpenBody{TS: now, Nonce: "abc", Topic: testTopic})
		}, ErrMalformed},
		{"missing ts", func() []byte {
			return signedRaw(testSecret, `{"nonce":"nonce-0000000009","topic":"`+testTopic+`"}`)
		}, ErrMalformed},
		{"unknown body field", func() []byte {
			return signedRaw(testSecret, `{"ts":1,"nonce":"nonce-0000000010","topic":"`+testTopic+`","duration":60}`)
		}, ErrMalformed},
		{"unknown envelope field", func() []byte { return []byte(`{"body":{},"sig":"00","x":1}`) }, ErrMalformed},
		{"huge", func() []byte { return []byte(`{"body":"` + strings.Repeat("a", MaxOpenPayload) + `"}`) }, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.payload())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func signedRaw(secret []byte, body string) []byte {
	return []byte(`{"body":` + body + `,"sig":"` + hmacHex(secret, body) + `"}`)
}

func TestOpenNonceMemoryIsBoundedByTheWindow(t *testing.T) {
	v, clk := newTestVerifier()
	for i := 0; i < 100; i++ {
		b := OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(i), Topic: testTopic}
		if _, err := v.Verify(signed(t, testSecret, b)); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		clk.Add(time.Second)
	}
	// Nonces of commands issued more than 30s ago are forgotten: those
	// commands are refused as stale by their timestamp instead.
	if n := v.Remembered(); n > 32 {
		t.Fatalf("remembers %d nonces after 100 commands 1s apart, want at most the 30s window", n)
	}
	old := OpenBody{TS: clk.Now().Unix() - 90, Nonce: nonceN(10), Topic: testTopic}
	if _, err := v.Verify(signed(t, testSecret, old)); !errors.Is(err, ErrStale) {
		t.Fatalf("replay of a forgotten nonce: %v, want ErrStale", err)
	}
	recent := OpenBody{TS: clk.Now().Unix() - 1, Nonce: nonceN(99), Topic: testTopic}
	if _, err := v.Verify(signed(t, testSecret, recent)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay within the window: %v, want ErrReplayed", err)
	}
}

func TestOpenTooManyInOneWindowFailsClosed(t *testing.T) {
	v, clk := newTestVerifier()
	for i := 0; i < maxNonces; i++ {
		if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(i), Topic: testTopic})); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	_, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(maxNonces), Topic: testTopic}))
	if !errors.Is(err, ErrTooMany) {
		t.Fatalf("over the nonce memory: %v, want ErrTooMany", err)
	}
}

func nonceN(i int) string { return "nonce-" + strings.Repeat("0", 6) + itoa(i) + "-padpad" }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func FuzzParseIdentify(f *testing.F) {
	for _, s := range []string{
		`{"submission_id":"sub-1","user_id":"u-7"}`, `{"submission_id":""}`, `{}`, `[]`, `null`,
		`{"submission_id":"\ud800"}`, `{"submission_id":"a","submission_id":"b"}`, "{\"submission_id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		id, err := ParseIdentify(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		if id.SubmissionID == "" || len(id.SubmissionID) > maxIDLen || len(id.UserID) > maxIDLen {
			t.Fatalf("accepted an invalid identity %+v", id)
		}
	})
}

func FuzzVerifyOpen(f *testing.F) {
	f.Add(signed(f, testSecret, OpenBody{TS: 1795395600, Nonce: "nonce-0000000001", Topic: testTopic}))
	f.Add([]byte(`{"body":{"ts":1},"sig":"00"}`))
	f.Add([]byte(`{"body":null,"sig":null}`))
	f.Add([]byte(`{"body":[],"sig":"` + strings.Repeat("0", 64) + `"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		v, _ := newTestVerifier()
		_, err := v.Verify(p)
		if err == nil {
			// Only a correctly signed payload may pass.
			t.Fatalf("accepted a payload the fuzzer made without the secret: %q", p)
		}
	})
}

func FuzzHandleInbound(f *testing.F) {
	f.Add("facegate/site/gate/cmd/identify", []byte(`{"submission_id":"s"}`), false)
	f.Add("facegate/site/gate/cmd/open", []byte(`{"body":{},"sig":"00"}`), false)
	f.Add("homeassistant/status", []byte("online"), false)
	f.Fuzz(func(t *testing.T, topic string, p []byte, retained bool) {
		c := &Client{
			opts:       Options{Identify: true, HomeAssistant: HomeAssistantOptions{Enabled: true}},
			log:        quietLogger(),
			clock:      SystemClock{},
			topics:     newTopics("facegate/site/gate", "homeassistant"),
			commands:   make(chan Command, 1),
			haAnnounce: make(chan struct{}, 1),
			done:       make(chan struct{}),
		}
		c.verifier, _ = newTestVerifier()
		close(c.done) // never block on delivery
		c.handle(inbound{topic: topic, payload: p, retained: retained})
	})
}
