package mqtt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
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

// Open is a verified <prefix>/cmd/open: signature, topic, time window and
// nonce were all checked. The kiosk pulses the relay once.
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
	maxIDLen           = 128
	minNonceLen        = 16
	maxNonceLen        = 64
	maxAuditLen        = 128
	// maxNonces bounds the nonce memory; it only holds nonces of correctly
	// signed commands, for at most twice the skew.
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

// decodeStrict decodes exactly one JSON object with only known fields.
func decodeStrict(payload []byte, v any) error {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || p[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
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
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("sign open: %w", err)
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
	secret    []byte
	topic     string
	skew      time.Duration
	clock     Clock
	notBefore time.Time

	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it can be forgotten
}

// NewOpenVerifier accepts commands signed with secret for topic, with a
// timestamp within ±skew of clock.Now() and not before notBefore (the
// process start: nonces seen by a previous process are not known).
func NewOpenVerifier(secret []byte, topic string, skew time.Duration, clock Clock, notBefore time.Time) *OpenVerifier {
	if clock == nil {
		clock = SystemClock{}
	}
	return &OpenVerifier{
		secret: append([]byte(nil), secret...), topic: topic, skew: skew, clock: clock,
		notBefore: notBefore.Truncate(time.Second), seen: map[string]time.Time{},
	}
}

// Verify checks, in order: size and shape, signature (constant time),
// topic, time window, nonce. Only a fully valid command's nonce is
// remembered, so unsigned traffic cannot fill the memory.
func (v *OpenVerifier) Verify(payload []byte) (Open, error) {
	if len(payload) > MaxOpenPayload {
		return Open{}, fmt.Errorf("%w: open payload is %d bytes (max %d)", ErrMalformed, len(payload), MaxOpenPayload)
	}
	var env struct {
		Body json.RawMessage `json:"body"`
		Sig  *string         `json:"sig"`
	}
	if err := decodeStrict(payload, &env); err != nil {
		return Open{}, fmt.Errorf("%w: open: %v", ErrMalformed, err)
	}
	if len(env.Body) == 0 || env.Sig == nil || *env.Sig == "" {
		return Open{}, fmt.Errorf("%w: open needs body and sig", ErrUnsigned)
	}
	got, err := hex.DecodeString(*env.Sig)
	if err != nil || len(got) != sha256.Size {
		return Open{}, fmt.Errorf("%w: sig must be 64 hex digits", ErrBadSignature)
	}
	m := hmac.New(sha256.New, v.secret)
	m.Write(env.Body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return Open{}, ErrBadSignature
	}
	var body struct {
		TS     *int64 `json:"ts"`
		Nonce  string `json:"nonce"`
		Topic  string `json:"topic"`
		By     string `json:"by"`
		Reason string `json:"reason"`
	}
	if err := decodeStrict(env.Body, &body); err != nil {
		return Open{}, fmt.Errorf("%w: open body: %v", ErrMalformed, err)
	}
	if body.TS == nil {
		return Open{}, fmt.Errorf("%w: open body: ts is missing", ErrMalformed)
	}
	if !validNonce(body.Nonce) {
		return Open{}, fmt.Errorf("%w: nonce must be %d to %d characters of A-Z a-z 0-9 - _", ErrMalformed, minNonceLen, maxNonceLen)
	}
	if err := checkText("by", body.By, 0, maxAuditLen); err != nil {
		return Open{}, err
	}
	if err := checkText("reason", body.Reason, 0, maxAuditLen); err != nil {
		return Open{}, err
	}
	if body.Topic != v.topic {
		return Open{}, fmt.Errorf("%w: signed for %q", ErrWrongTopic, body.Topic)
	}
	now := v.clock.Now()
	if *body.TS < -1<<40 || *body.TS > 1<<40 {
		return Open{}, fmt.Errorf("%w: ts %d is out of range", ErrStale, *body.TS)
	}
	issued := time.Unix(*body.TS, 0)
	if d := now.Sub(issued); d > v.skew || d < -v.skew {
		return Open{}, fmt.Errorf("%w: issued %s, %s from the gate's clock (max ±%s)", ErrStale, issued.UTC().Format(time.RFC3339), d.Round(time.Second), v.skew)
	}
	if issued.Before(v.notBefore) {
		return Open{}, fmt.Errorf("%w: issued before this process started", ErrStale)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, until := range v.seen {
		if now.After(until) {
			delete(v.seen, n)
		}
	}
	if _, ok := v.seen[body.Nonce]; ok {
		return Open{}, fmt.Errorf("%w: nonce %s", ErrReplayed, body.Nonce)
	}
	if len(v.seen) >= maxNonces {
		return Open{}, ErrTooMany
	}
	// After issued+skew the timestamp check refuses it anyway.
	v.seen[body.Nonce] = issued.Add(v.skew)
	return Open{Nonce: body.Nonce, Issued: issued, By: body.By, Reason: body.Reason, Received: now}, nil
}

// Remembered is the number of nonces held (bounded by the window).
func (v *OpenVerifier) Remembered() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
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
