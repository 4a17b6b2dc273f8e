package mqtt

import (
	"fmt"
	"strings"
	"time"
)

// The site command topics under <site_topic> (docs/mqtt.md "Site").
const (
	siteCmdEvacuate = "cmd/evacuate"
	siteCmdCorrect  = "cmd/correct"
	siteCmdUnlock   = "cmd/unlock"
)

// Actions of <site_topic>/cmd/evacuate.
const (
	EvacuateStart = "start"
	EvacuateEnd   = "end"
)

// Evacuate is a verified <site_topic>/cmd/evacuate: start or end the
// site's evacuation. Every gate of the site receives and verifies it on
// its own (its own replay memory); the retained <site_topic>/evacuation
// carries the resulting state to gates that were away.
type Evacuate struct {
	// Action is EvacuateStart or EvacuateEnd.
	Action string
	// ID names the evacuation: the signed "id", or on a start without one
	// "evac-<issued, UTC>-<first 8 characters of the nonce>", the same on
	// every gate.
	ID     string
	By     string
	Reason string
	Nonce  string
	// Issued is the signed timestamp; Received is when this gate got it.
	Issued   time.Time
	Received time.Time
}

// Correct is a verified <site_topic>/cmd/correct: the person's presence
// record is set to Zone ("left through the fire exit": zone "outside").
type Correct struct {
	UserID string
	Zone   string
	By     string
	Reason string
	Nonce  string
	// Issued is the signed timestamp (the correction's time on every
	// gate); Received is when this gate got it.
	Issued   time.Time
	Received time.Time
}

// Unlock is a verified <site_topic>/cmd/unlock: an operator checked the
// person and clears the identity's liveness failures at every gate, up to
// the end of the second Issued, or of Received when that is earlier (a
// sender with a fast clock; kiosk.SiteUnlock).
type Unlock struct {
	// Key is the lockout key: the SHA-256 hex of the submission id (the
	// signed "submission_id" is "sha256:<Key>"; the raw id never crosses
	// the broker).
	Key    string
	By     string
	Reason string
	Nonce  string
	// Issued is the signed timestamp; Received is when this gate got it.
	Issued   time.Time
	Received time.Time
	// Listed: it came in another gate's retained unlock list
	// (<site_topic>/<gate>/site/unlocks), verified without the time window
	// and the replay memory, to a gate that missed the command. It may be
	// old and may come again: the kiosk clears only up to its own second,
	// once per nonce.
	Listed bool
	// Signed is the exact payload of an unlock this gate signed
	// (PublishUnlock), for its unlock list.
	Signed []byte
}

func (Evacuate) isCommand() {}
func (Correct) isCommand()  {}
func (Unlock) isCommand()   {}

// SiteCommandBody is the signed body of a site command. On the wire, as
// for cmd/open:
//
//	{"body": {"ts": 1763796665, "nonce": "…", "topic": "facegate/plant-a/cmd/evacuate", "action": "start", "by": "…"},
//	 "sig": "<hex HMAC-SHA256 of the exact bytes of the body value>"}
//
// cmd/evacuate takes action (start|end), id, by and reason; cmd/correct
// takes user_id, zone, by and reason; cmd/unlock takes submission_id
// ("sha256:<64 lower-case hex digits>"), by and reason. Topic binds the
// command to the topic it is published on.
type SiteCommandBody struct {
	TS           int64  `json:"ts"` // Unix seconds
	Nonce        string `json:"nonce"`
	Topic        string `json:"topic"`
	Action       string `json:"action,omitempty"`
	ID           string `json:"id,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	Zone         string `json:"zone,omitempty"`
	SubmissionID string `json:"submission_id,omitempty"`
	By           string `json:"by,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// SignSiteCommand builds a signed site command payload (the reference
// implementation of the recipe in docs/mqtt.md).
func SignSiteCommand(secret []byte, body SiteCommandBody) ([]byte, error) {
	p, err := sign(secret, body)
	if err != nil {
		return nil, fmt.Errorf("sign site command: %w", err)
	}
	return p, nil
}

// AddSiteTopic makes v accept the signed site command published on topic
// (<site_topic>/cmd/evacuate, cmd/correct or cmd/unlock) with secret. Call
// it before the verifier is used.
func (v *OpenVerifier) AddSiteTopic(topic string, secret []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.siteKeys == nil {
		v.siteKeys = map[string][]byte{}
	}
	v.siteKeys[topic] = append([]byte(nil), secret...)
}

// VerifySite checks a site command that arrived on topic, in the order of
// Verify: size and shape, signature, every field, topic, time window,
// replay memory (shared with cmd/open: a nonce is used once across all
// signed commands). It returns an Evacuate, a Correct or an Unlock.
func (v *OpenVerifier) VerifySite(topic string, payload []byte) (Command, error) {
	v.mu.Lock()
	secret, ok := v.siteKeys[topic]
	v.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no site command is accepted on %q", ErrWrongTopic, topic)
	}
	kind := siteCmdEvacuate
	switch {
	case strings.HasSuffix(topic, "/"+siteCmdCorrect):
		kind = siteCmdCorrect
	case strings.HasSuffix(topic, "/"+siteCmdUnlock):
		kind = siteCmdUnlock
	}
	raw, err := openEnvelope(kind, payload, secret)
	if err != nil {
		return nil, err
	}
	body, err := parseSiteBody(kind, raw)
	if err != nil {
		return nil, err
	}
	if body.Topic != topic {
		return nil, fmt.Errorf("%w: signed for %q", ErrWrongTopic, body.Topic)
	}
	now, issued, err := v.admit(body.TS, body.Nonce)
	if err != nil {
		return nil, err
	}
	if kind == siteCmdUnlock {
		return Unlock{Key: strings.TrimPrefix(body.SubmissionID, "sha256:"), By: body.By, Reason: body.Reason, Nonce: body.Nonce, Issued: issued, Received: now}, nil
	}
	if kind == siteCmdCorrect {
		return Correct{UserID: body.UserID, Zone: body.Zone, By: body.By, Reason: body.Reason, Nonce: body.Nonce, Issued: issued, Received: now}, nil
	}
	id := body.ID
	if id == "" && body.Action == EvacuateStart {
		id = "evac-" + issued.UTC().Format("20060102T150405Z") + "-" + body.Nonce[:8]
	}
	return Evacuate{Action: body.Action, ID: id, By: body.By, Reason: body.Reason, Nonce: body.Nonce, Issued: issued, Received: now}, nil
}

// VerifyListedUnlock checks a cmd/unlock that came in another gate's
// retained unlock list: size and shape, signature, every field and the
// topic, as VerifySite, but not the time window nor the replay memory (a
// gate that was away reads it minutes later, and at every resync). It is
// safe to accept again: an unlock clears only the failures up to its own
// signed second, which its sender meant every gate to clear. topic is the
// site's cmd/unlock topic the command was signed for.
func (v *OpenVerifier) VerifyListedUnlock(topic string, payload []byte) (Unlock, error) {
	v.mu.Lock()
	secret, ok := v.siteKeys[topic]
	v.mu.Unlock()
	if !ok || !strings.HasSuffix(topic, "/"+siteCmdUnlock) {
		return Unlock{}, fmt.Errorf("%w: no unlock is accepted on %q", ErrWrongTopic, topic)
	}
	raw, err := openEnvelope(siteCmdUnlock, payload, secret)
	if err != nil {
		return Unlock{}, err
	}
	body, err := parseSiteBody(siteCmdUnlock, raw)
	if err != nil {
		return Unlock{}, err
	}
	if body.Topic != topic {
		return Unlock{}, fmt.Errorf("%w: signed for %q", ErrWrongTopic, body.Topic)
	}
	return Unlock{Key: strings.TrimPrefix(body.SubmissionID, "sha256:"), By: body.By, Reason: body.Reason, Nonce: body.Nonce,
		Issued: time.Unix(body.TS, 0), Received: v.clock.Now(), Listed: true}, nil
}

// parseSiteBody decodes a site command body strictly and checks every
// field against the documented limits.
func parseSiteBody(kind string, raw []byte) (SiteCommandBody, error) {
	var b struct {
		TS     *int64  `json:"ts"`
		Nonce  string  `json:"nonce"`
		Topic  string  `json:"topic"`
		Action *string `json:"action"`
		ID     *string `json:"id"`
		UserID *string `json:"user_id"`
		Zone   *string `json:"zone"`
		Sub    *string `json:"submission_id"`
		By     string  `json:"by"`
		Reason string  `json:"reason"`
	}
	bad := func(format string, a ...any) (SiteCommandBody, error) {
		return SiteCommandBody{}, fmt.Errorf("%w: %s body: %s", ErrMalformed, kind, fmt.Sprintf(format, a...))
	}
	if err := decodeStrict(raw, &b); err != nil {
		return bad("%v", err)
	}
	if b.TS == nil {
		return bad("ts is missing")
	}
	if *b.TS <= 0 || *b.TS > maxTS {
		return bad("ts %d is not a Unix time in seconds", *b.TS)
	}
	if !validNonce(b.Nonce) {
		return bad("nonce must be %d to %d characters of A-Z a-z 0-9 - _, got %d bytes", minNonceLen, maxNonceLen, len(b.Nonce))
	}
	if err := checkPrintable("by", b.By, MaxOpenByChars, 4*MaxOpenByChars); err != nil {
		return SiteCommandBody{}, err
	}
	if err := checkPrintable("reason", b.Reason, MaxOpenReasonBytes, MaxOpenReasonBytes); err != nil {
		return SiteCommandBody{}, err
	}
	out := SiteCommandBody{TS: *b.TS, Nonce: b.Nonce, Topic: b.Topic, By: b.By, Reason: b.Reason}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if kind != siteCmdUnlock && b.Sub != nil {
		return bad("submission_id belongs to cmd/unlock")
	}
	switch kind {
	case siteCmdUnlock:
		if b.Action != nil || b.ID != nil || b.UserID != nil || b.Zone != nil {
			return bad("action, id, user_id and zone do not belong to cmd/unlock")
		}
		out.SubmissionID = str(b.Sub)
		if !validSubmissionHash(out.SubmissionID) {
			return bad("submission_id must be sha256:<64 lower-case hex digits>")
		}
	case siteCmdEvacuate:
		if b.UserID != nil || b.Zone != nil {
			return bad("user_id and zone belong to cmd/correct")
		}
		out.Action, out.ID = str(b.Action), str(b.ID)
		if out.Action != EvacuateStart && out.Action != EvacuateEnd {
			return bad("action %q is not start or end", out.Action)
		}
		if b.ID != nil {
			if err := validName(out.ID, maxEvacuationID); err != nil || out.ID == "" {
				return bad("id: must be 1 to %d bytes of printable text", maxEvacuationID)
			}
		}
	default:
		if b.Action != nil || b.ID != nil {
			return bad("action and id belong to cmd/evacuate")
		}
		out.UserID, out.Zone = str(b.UserID), str(b.Zone)
		if err := checkText("user_id", out.UserID, 1, maxIDLen); err != nil {
			return SiteCommandBody{}, err
		}
		if err := validName(out.Zone, maxZoneName); err != nil || out.Zone == "" {
			return bad("zone: must be 1 to %d bytes of printable text", maxZoneName)
		}
	}
	return out, nil
}

// validSubmissionHash: "sha256:" and 64 lower-case hex digits, the form
// events carry with mqtt.submission_id: hash.
func validSubmissionHash(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
