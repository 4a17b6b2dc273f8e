package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fakeClock is a settable Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Set(t time.Time) { f.mu.Lock(); defer f.mu.Unlock(); f.t = t }
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

// testStart is when the test verifiers' clock starts; their replay
// memory was created a minute before.
var testStart = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

// newTestVerifier returns a verifier whose replay memory (a new file in a
// temporary directory, returned too) was created a minute before its clock.
func newTestVerifier(t testing.TB) (*OpenVerifier, *fakeClock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replay.json")
	clk := &fakeClock{t: testStart.Add(-time.Minute)}
	v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, path)
	if err := v.Problem(); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	return v, clk, path
}

// writeNoSync is for fuzz tests: fsync is not what they test, and would
// make them a few runs a second on a busy disk.
func writeNoSync(path string, b []byte) error { return os.WriteFile(path, b, 0o640) }

// newFuzzVerifier is newTestVerifier without fsync.
func newFuzzVerifier(t testing.TB) (*OpenVerifier, *fakeClock, string) {
	path := filepath.Join(t.TempDir(), "replay.json")
	clk := &fakeClock{t: testStart.Add(-time.Minute)}
	v := newOpenVerifier(testSecret, testTopic, 30*time.Second, clk, path, writeNoSync)
	clk.Add(time.Minute)
	return v, clk, path
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
	v, clk, _ := newTestVerifier(t)
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
		{"before the first start", func() []byte {
			v2 := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, filepath.Join(t.TempDir(), "replay.json"))
			p := signed(t, testSecret, OpenBody{TS: now - 5, Nonce: "nonce-0000000008", Topic: testTopic})
			_, err := v2.Verify(p)
			if !errors.Is(err, ErrStale) {
				t.Errorf("command from before the replay memory existed: %v, want ErrStale", err)
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
	v, clk, _ := newTestVerifier(t)
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

// A full nonce memory refuses a command it cannot make room for, and makes
// room by refusing the oldest timestamp from then on: it never gets stuck,
// and never forgets a command that could still be accepted.
func TestOpenFullNonceMemory(t *testing.T) {
	v, clk, path := newTestVerifier(t)
	now := clk.Now().Unix()
	// Filled directly up to one short of its bound (thousands of fsynced
	// rewrites would take a minute); the last ones go through Verify.
	for i := 0; i < maxNonces-1; i++ {
		v.mem.st.Nonces[nonceN(i)] = now
	}
	if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: now, Nonce: nonceN(maxNonces - 1), Topic: testTopic})); err != nil {
		t.Fatalf("command %d: %v", maxNonces-1, err)
	}
	_, err := v.Verify(signed(t, testSecret, OpenBody{TS: now, Nonce: nonceN(maxNonces), Topic: testTopic}))
	if !errors.Is(err, ErrTooMany) {
		t.Fatalf("over the nonce memory: %v, want ErrTooMany", err)
	}
	clk.Add(time.Second)
	if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: now + 1, Nonce: nonceN(maxNonces + 1), Topic: testTopic})); err != nil {
		t.Fatalf("a newer command with the memory full: %v", err)
	}
	if n := v.Remembered(); n != 1 {
		t.Fatalf("%d nonces remembered, want only the newest", n)
	}
	for _, ver := range []*OpenVerifier{v, restart(t, clk, path)} {
		if _, err := ver.Verify(signed(t, testSecret, OpenBody{TS: now, Nonce: nonceN(5), Topic: testTopic})); !errors.Is(err, ErrStale) {
			t.Fatalf("a forgotten command: %v, want ErrStale", err)
		}
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
		v, _, _ := newFuzzVerifier(t)
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
			opts:       Options{Identify: true, Open: OpenOptions{Enabled: true}, HomeAssistant: HomeAssistantOptions{Enabled: true}},
			log:        quietLogger(),
			clock:      SystemClock{},
			topics:     newTopics("facegate/site/gate", "homeassistant"),
			commands:   make(chan Command, 1),
			haAnnounce: make(chan struct{}, 1),
			done:       make(chan struct{}),
		}
		c.verifier, _, _ = newFuzzVerifier(t)
		close(c.done) // never block on delivery
		c.handle(inbound{topic: topic, payload: p, retained: retained})
	})
}

// Every field is checked before the nonce is used: a command refused for
// a field can be sent again, corrected, with the same nonce. The limits are
// the kiosk's (kiosk.RemoteOpen), so an accepted command is not refused
// there after its nonce is spent.
func TestOpenFieldsAreCheckedBeforeTheNonceIsUsed(t *testing.T) {
	splitAt40 := strings.Repeat("a", 39) + "é delivery" // the 40th byte is inside "é"
	for _, tc := range []struct {
		name, by, reason string
		err              string // "" for accepted
	}{
		{"by of 64 characters", strings.Repeat("b", 64), "", ""},
		{"by of 65 characters", strings.Repeat("b", 65), "", "by is 65 characters, at most 64 allowed"},
		{"by of 128 bytes", strings.Repeat("b", 128), "", "by is 128 characters, at most 64 allowed"},
		{"by of 64 two-byte characters", strings.Repeat("é", 64), "", ""},
		{"by of 64 four-byte characters", strings.Repeat("👷", 64), "", ""},
		{"by of 65 four-byte characters", strings.Repeat("👷", 65), "", "by is 260 bytes, at most 256 allowed"},
		{"by with a zero-width space", "ops\u200b", "", "by has the unprintable character U+200B at byte 3"},
		{"by with a no-break space", "a\u00a0b", "", "by has the unprintable character U+00A0 at byte 1"},
		{"by with surrounding spaces", " ops", "", "by has surrounding spaces"},
		{"reason split at its 40th byte", "ops", splitAt40, ""},
		{"reason of 128 bytes", "ops", strings.Repeat("r", 128), ""},
		{"reason of 129 bytes", "ops", strings.Repeat("r", 129), "reason is 129 bytes, at most 128 allowed"},
		{"reason of 65 two-byte characters", "ops", strings.Repeat("é", 65), "reason is 130 bytes, at most 128 allowed"},
		{"reason with a tab", "ops", "a\tb", "reason has the unprintable character U+0009 at byte 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, clk, _ := newTestVerifier(t)
			body := OpenBody{TS: clk.Now().Unix(), Nonce: "nonce-fields-0001", Topic: testTopic, By: tc.by, Reason: tc.reason}
			got, err := v.Verify(signed(t, testSecret, body))
			if tc.err == "" {
				if err != nil || got.By != tc.by || got.Reason != tc.reason {
					t.Fatalf("got %+v, %v; want accepted", got, err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrMalformed with %q", err, tc.err)
			}
			if n := v.Remembered(); n != 0 {
				t.Fatalf("a refused command used its nonce (%d remembered)", n)
			}
			body.By, body.Reason = "ops", "fixed"
			if _, err := v.Verify(signed(t, testSecret, body)); err != nil {
				t.Fatalf("the corrected command with the same nonce: %v", err)
			}
		})
	}
	t.Run("invalid UTF-8 in the signed body", func(t *testing.T) {
		v, clk, _ := newTestVerifier(t)
		p := signedRaw(testSecret, `{"ts":`+itoa(int(clk.Now().Unix()))+`,"nonce":"nonce-fields-0002","topic":"`+testTopic+`","by":"a`+"\xff"+`"}`)
		if _, err := v.Verify(p); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Fatalf("err = %v, want ErrMalformed: not valid UTF-8", err)
		}
	})
}

func TestClipUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},
		{"a👷b", 4, "a"},
		{"a👷b", 5, "a👷"},
		{"éé", 0, ""},
	} {
		if got := clipUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("clipUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// FuzzVerifyOpenBody signs whatever body the fuzzer makes, so that every
// check after the signature is reached. An accepted command has fields
// within the documented limits and is refused when sent again, also after
// a restart; a refused one leaves the replay memory as it was.
func FuzzVerifyOpenBody(f *testing.F) {
	ts := itoa(int(testStart.Unix()))
	for _, s := range []string{
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","by":"ops","reason":"delivery"}`,
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","by":"` + strings.Repeat("b", 65) + `"}`,
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","reason":"` + strings.Repeat("a", 39) + `é"}`,
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","by":"\u200b"}`,
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","by":"\ud800"}`,
		`{"ts":` + ts + `,"nonce":"nonce-0000000001","topic":"` + testTopic + `","by":"a","by":"` + strings.Repeat("x", 100) + `"}`,
		`{"ts":-1,"nonce":"nonce-0000000001","topic":"` + testTopic + `"}`,
		`{"ts":1e3,"nonce":"x"}`,
		"{\"ts\":" + ts + ",\"nonce\":\"nonce-0000000001\",\"topic\":\"" + testTopic + "\",\"by\":\"\xc3\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, clk, path := newFuzzVerifier(t)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := signedRaw(testSecret, string(body))
		got, err := v.Verify(p)
		if err != nil {
			if refusalReason(err) == "error" {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			after, _ := os.ReadFile(path)
			if errors.Is(err, ErrStale) {
				// Remembered on purpose (the replay memory keeps stale
				// refusals): never accepted later, not even by a gate
				// restarted once its clock reaches the command's time.
				var b struct {
					TS int64 `json:"ts"`
				}
				if json.Unmarshal(body, &b) == nil {
					later := &fakeClock{t: time.Unix(b.TS, 0)}
					if _, err := newOpenVerifier(testSecret, testTopic, 30*time.Second, later, path, writeNoSync).Verify(p); err == nil {
						t.Fatalf("refused as stale, then accepted after a restart at its time: %q", body)
					}
				}
				return
			}
			if v.Remembered() != 0 || !bytes.Equal(before, after) {
				t.Fatalf("refused (%v) but the replay memory changed", err)
			}
			return
		}
		if !validNonce(got.Nonce) || !utf8.ValidString(got.By) || !utf8.ValidString(got.Reason) ||
			utf8.RuneCountInString(got.By) > MaxOpenByChars || len(got.Reason) > MaxOpenReasonBytes {
			t.Fatalf("accepted out-of-limit fields: %+v", got)
		}
		for _, s := range []string{got.By, got.Reason} {
			for _, r := range s {
				if !unicode.IsPrint(r) {
					t.Fatalf("accepted unprintable %U in %q", r, s)
				}
			}
			for n := 0; n <= len(s); n++ {
				if !utf8.ValidString(clipUTF8(s, n)) {
					t.Fatalf("clipUTF8(%q, %d) split a character", s, n)
				}
			}
		}
		if _, err := v.Verify(p); !errors.Is(err, ErrReplayed) {
			t.Fatalf("sent again: %v, want ErrReplayed", err)
		}
		if _, err := newOpenVerifier(testSecret, testTopic, 30*time.Second, clk, path, writeNoSync).Verify(p); !errors.Is(err, ErrReplayed) {
			t.Fatalf("sent again after a restart: %v, want ErrReplayed", err)
		}
	})
}
