package mqtt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/facegate/facegate/internal/jsonobj"
)

// Command is a validated command from the broker: Identify or Open.
type Command interface{ isCommand() }

// Identify is <prefix>/cmd/identify: a badge reader hands over a worker's
// identity. The kiosk starts a session with it.
type Identify struct {
	SubmissionID string
	UserID       string
	// Issued is the reader's optional timestamp ("ts", Unix seconds); zero
	// when absent. With it, an identify queued by the broker while the gate
	// was away is refused as stale instead of starting a session late.
	Issued time.Time
	// Received is when the gate got it (the kiosk may ignore old ones).
	Received time.Time
}

// Open is a verified <prefix>/cmd/open: signature, fields, topic, time
// window and nonce were all checked, and the command is recorded on disk as
// used. The kiosk pulses the relay once.
type Open struct {
	Nonce string
	// Issued is the signed timestamp.
	Issued time.Time
	// By and Reason are the signed, optional audit fields.
	By       string
	Reason   string
	Received time.Time
}

func (Identify) isCommand() {}
func (Open) isCommand()     {}

// Limits on command payloads.
const (
	MaxIdentifyPayload = 1024
	MaxOpenPayload     = 2048
	// MaxOpenByChars bounds cmd/open's "by" in characters (code points):
	// the kiosk's limit for the name it shows and records as user_id.
	MaxOpenByChars = 64
	// MaxOpenReasonBytes bounds cmd/open's "reason".
	MaxOpenReasonBytes = 128
	maxIDLen           = 128
	minNonceLen        = 16
	maxNonceLen        = 64
	// maxNonces bounds the nonce memory; it only holds nonces of correctly
	// signed commands, within max_skew of the newest one.
	maxNonces = 4096
)

// ParseIdentify validates a cmd/identify payload:
// {"submission_id": "…", "user_id": "…", "ts": 1763776800}, user_id and ts
// optional, nothing else.
func ParseIdentify(payload []byte) (Identify, error) {
	if len(payload) > MaxIdentifyPayload {
		return Identify{}, fmt.Errorf("%w: identify payload is %d bytes (max %d)", ErrMalformed, len(payload), MaxIdentifyPayload)
	}
	var in struct {
		SubmissionID *string `json:"submission_id"`
		UserID       *string `json:"user_id"`
		TS           *int64  `json:"ts"`
	}
	if err := decodeStrict(payload, &in); err != nil {
		return Identify{}, fmt.Errorf("%w: identify: %v", ErrMalformed, err)
	}
	if in.TS != nil && (*in.TS <= 0 || *in.TS > 1<<40) {
		return Identify{}, fmt.Errorf("%w: identify: ts %d is not a Unix time in seconds", ErrMalformed, *in.TS)
	}
	if in.SubmissionID == nil {
		return Identify{}, fmt.Errorf("%w: identify: submission_id is missing", ErrMalformed)
	}
	if err := checkText("submission_id", *in.SubmissionID, 1, maxIDLen); err != nil {
		return Identify{}, err
	}
	id := Identify{SubmissionID: *in.SubmissionID}
	if in.UserID != nil {
		if err := checkText("user_id", *in.UserID, 0, maxIDLen); err != nil {
			return Identify{}, err
		}
		id.UserID = *in.UserID
	}
	if in.TS != nil {
		id.Issued = time.Unix(*in.TS, 0)
	}
	return id, nil
}

// decodeStrict decodes exactly one JSON object with only known fields
// (jsonobj.Decode: nothing after it, no key given twice).
func decodeStrict(payload []byte, v any) error {
	return jsonobj.Decode(payload, v, jsonobj.DisallowUnknownFields())
}

// checkText refuses control characters, invalid UTF-8, surrounding spaces
// and lengths outside [min, max] bytes.
func checkText(field, s string, min, max int) error {
	if len(s) < min || len(s) > max {
		return fmt.Errorf("%w: %s must be %d to %d bytes, got %d", ErrMalformed, field, min, max, len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, field)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%w: %s has surrounding spaces", ErrMalformed, field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains a control character", ErrMalformed, field)
		}
	}
	return nil
}

// OpenBody is the signed part of a cmd/open payload. On the wire:
//
//	{"body": {"ts": 1763776800, "nonce": "…", "topic": "facegate/site/gate/cmd/open", "by": "…", "reason": "…"},
//	 "sig": "<hex HMAC-SHA256 of the exact bytes of the body value>"}
//
// Topic binds the command to one gate (nonces are remembered per gate).
type OpenBody struct {
	TS     int64  `json:"ts"` // Unix seconds
	Nonce  string `json:"nonce"`
	Topic  string `json:"topic"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SignOpen builds a signed cmd/open payload: the reference implementation
// of the recipe in docs/mqtt.md.
func SignOpen(secret []byte, body OpenBody) ([]byte, error) {
	p, err := sign(secret, body)
	if err != nil {
		return nil, fmt.Errorf("sign open: %w", err)
	}
	return p, nil
}

// sign wraps body in the signed envelope every command shares:
// {"body": <body>, "sig": <hex HMAC-SHA256 of the body's exact bytes>}.
func sign(secret []byte, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write(b)
	return json.Marshal(struct {
		Body json.RawMessage `json:"body"`
		Sig  string          `json:"sig"`
	}{b, hex.EncodeToString(m.Sum(nil))})
}

// OpenVerifier checks cmd/open payloads. It is safe for concurrent use.
type OpenVerifier struct {
	secret []byte
	topic  string
	// siteKeys are the secrets of the signed site commands by their topic
	// (AddSiteTopic): the same envelope, window and replay memory.
	siteKeys map[string][]byte
	skew     time.Duration
	clock    Clock

	mu  sync.Mutex
	mem *replayMemory
}

// NewOpenVerifier accepts commands signed with secret for topic, with a
// timestamp within ±skew of the gate's clock, each at most once: the
// accepted commands are remembered in the file statePath (in the state
// directory), written and fsynced before Verify accepts one. A missing
// file is created (nothing issued before this first start is accepted).
// An unreadable or corrupt file does not stop the verifier: it refuses
// every open with ErrReplayMemory until the file is repaired, and Problem
// says why.
func NewOpenVerifier(secret []byte, topic string, skew time.Duration, clock Clock, statePath string) *OpenVerifier {
	return newOpenVerifier(secret, topic, skew, clock, statePath, writeFileDurably)
}

func newOpenVerifier(secret []byte, topic string, skew time.Duration, clock Clock, statePath string, write func(string, []byte) error) *OpenVerifier {
	if clock == nil {
		clock = SystemClock{}
	}
	v := &OpenVerifier{secret: append([]byte(nil), secret...), topic: topic, skew: skew, clock: clock}
	if statePath == "" {
		v.mem = &replayMemory{broken: errors.New("no replay memory file configured")}
	} else {
		v.mem = openReplayMemory(statePath, clock.Now(), write)
	}
	return v
}

// Problem is why opens are refused: the replay memory could not be read
// at start, or its last write failed (cleared by the next good write). Nil
// when sound.
func (v *OpenVerifier) Problem() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mem.problem()
}

// Verify checks, in order: size and shape, signature (constant time),
// every field (ts, nonce, by, reason, topic), time window, replay memory.
// Nothing is remembered before the signature and fields pass, so unsigned
// traffic cannot fill the memory; a signed command outside the time
// window is remembered as refused, so that it is never accepted later.
// An accepted command is on disk (fsynced) when Verify returns it; if it
// cannot be written, the command is refused with ErrReplayMemory.
func (v *OpenVerifier) Verify(payload []byte) (Open, error) {
	raw, err := openEnvelope("open", payload, v.secret)
	if err != nil {
		return Open{}, err
	}
	body, err := parseOpenBody(raw)
	if err != nil {
		return Open{}, err
	}
	if body.Topic != v.topic {
		return Open{}, fmt.Errorf("%w: signed for %q", ErrWrongTopic, body.Topic)
	}
	now, issued, err := v.admit(body.TS, body.Nonce)
	if err != nil {
		return Open{}, err
	}
	return Open{Nonce: body.Nonce, Issued: issued, By: body.By, Reason: body.Reason, Received: now}, nil
}

// openEnvelope checks the size and shape of a signed command
// {"body": {…}, "sig": "<hex>"} and its HMAC with secret, and returns the
// exact bytes of the body.
func openEnvelope(what string, payload, secret []byte) ([]byte, error) {
	if len(payload) > MaxOpenPayload {
		return nil, fmt.Errorf("%w: %s payload is %d bytes (max %d)", ErrMalformed, what, len(payload), MaxOpenPayload)
	}
	var env struct {
		Body json.RawMessage `json:"body"`
		Sig  *string         `json:"sig"`
	}
	if err := decodeStrict(payload, &env); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	if len(env.Body) == 0 || env.Sig == nil || *env.Sig == "" {
		return nil, fmt.Errorf("%w: %s needs body and sig", ErrUnsigned, what)
	}
	got, err := hex.DecodeString(*env.Sig)
	if err != nil || len(got) != sha256.Size {
		return nil, fmt.Errorf("%w: sig must be 64 hex digits", ErrBadSignature)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(env.Body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return nil, ErrBadSignature
	}
	if !utf8.Valid(env.Body) {
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		return nil, fmt.Errorf("%w: %s body is not valid UTF-8", ErrMalformed, what)
	}
	return env.Body, nil
}

// admit checks a signed, well-formed command's time window and nonce and
// records it in the replay memory (fsynced) before returning. It returns
// the gate's time and the command's.
func (v *OpenVerifier) admit(ts int64, nonce string) (now, issued time.Time, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now = v.clock.Now()
	// The reference is the later of the clock and the newest accepted
	// command: a clock behind it (a Pi booting on its last saved time)
	// does not widen what is accepted.
	ref := now
	if last := v.mem.last(); last.After(ref) {
		ref = last
	}
	issued = time.Unix(ts, 0)
	if d := ref.Sub(issued); d > v.skew || d < -v.skew {
		// Remembered, so that it is not accepted later either: when a
		// clock that was behind reaches its ts, or a clock set back on a
		// reboot comes near it again, anyone who saw it could replay it.
		// A write error shows in Problem, as an accepted command's does.
		_ = v.mem.refuse(ts, nonce, ref)
		return now, issued, fmt.Errorf("%w: issued %s, %s from the gate's clock or its newest accepted command (max ±%s); a command refused so is never accepted later: send a new one", ErrStale, issued.UTC().Format(time.RFC3339), d.Round(time.Second), v.skew)
	}
	if err := v.mem.check(ts, nonce); err != nil {
		return now, issued, err
	}
	if err := v.mem.accept(ts, nonce, v.skew); err != nil {
		return now, issued, err
	}
	return now, issued, nil
}

// parseOpenBody decodes the signed body and checks every field against
// the documented limits (which are those of the kiosk, so that a command
// accepted here is not refused after its nonce is used).
func parseOpenBody(raw []byte) (OpenBody, error) {
	var body struct {
		TS     *int64 `json:"ts"`
		Nonce  string `json:"nonce"`
		Topic  string `json:"topic"`
		By     string `json:"by"`
		Reason string `json:"reason"`
	}
	if err := decodeStrict(raw, &body); err != nil {
		return OpenBody{}, fmt.Errorf("%w: open body: %v", ErrMalformed, err)
	}
	if body.TS == nil {
		return OpenBody{}, fmt.Errorf("%w: open body: ts is missing", ErrMalformed)
	}
	if *body.TS <= 0 || *body.TS > maxTS {
		return OpenBody{}, fmt.Errorf("%w: open body: ts %d is not a Unix time in seconds", ErrMalformed, *body.TS)
	}
	if !validNonce(body.Nonce) {
		return OpenBody{}, fmt.Errorf("%w: open body: nonce must be %d to %d characters of A-Z a-z 0-9 - _, got %d bytes", ErrMalformed, minNonceLen, maxNonceLen, len(body.Nonce))
	}
	if err := checkPrintable("by", body.By, MaxOpenByChars, 4*MaxOpenByChars); err != nil {
		return OpenBody{}, err
	}
	if err := checkPrintable("reason", body.Reason, MaxOpenReasonBytes, MaxOpenReasonBytes); err != nil {
		return OpenBody{}, err
	}
	return OpenBody{TS: *body.TS, Nonce: body.Nonce, Topic: body.Topic, By: body.By, Reason: body.Reason}, nil
}

// checkPrintable refuses invalid UTF-8, more than maxChars characters or
// maxBytes bytes, surrounding spaces, and characters that are not
// printable (unicode.IsPrint: controls, format characters such as U+200B,
// and spaces other than U+0020).
func checkPrintable(field, s string, maxChars, maxBytes int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: open body: %s is not valid UTF-8", ErrMalformed, field)
	}
	if len(s) > maxBytes {
		return fmt.Errorf("%w: open body: %s is %d bytes, at most %d allowed", ErrMalformed, field, len(s), maxBytes)
	}
	if n := utf8.RuneCountInString(s); n > maxChars {
		return fmt.Errorf("%w: open body: %s is %d characters, at most %d allowed", ErrMalformed, field, n, maxChars)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%w: open body: %s has surrounding spaces", ErrMalformed, field)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: open body: %s has the unprintable character %U at byte %d", ErrMalformed, field, r, i)
		}
	}
	return nil
}

// Remembered is the number of nonces held (bounded by the window).
func (v *OpenVerifier) Remembered() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.mem.st.Nonces)
}

func validNonce(s string) bool {
	if len(s) < minNonceLen || len(s) > maxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// clipUTF8 returns at most n bytes of s without splitting a character.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
