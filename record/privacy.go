package record

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Privacy says how an event carries the worker's KYC submission id.
type Privacy string

// The privacy settings (config mqtt.submission_id).
const (
	PrivacyPlain Privacy = "plain"
	// PrivacyHash replaces the id by "sha256:<hex>": consumers can match it
	// against ids they already know, nobody else can read it.
	PrivacyHash Privacy = "hash"
	PrivacyOmit Privacy = "omit"
)

// Apply returns id as this setting publishes it. A value already hashed
// ("sha256:…") is kept as is.
func (p Privacy) Apply(id string) string {
	switch p {
	case PrivacyPlain:
		return id
	case PrivacyOmit:
		return ""
	}
	if id == "" || strings.HasPrefix(id, "sha256:") {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Valid reports whether p is one of the three settings.
func (p Privacy) Valid() bool {
	return p == PrivacyPlain || p == PrivacyHash || p == PrivacyOmit
}
