package mqtt

import "errors"

// Errors of this package. Callers use errors.Is; messages add what failed.
var (
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("mqtt: client closed")
	// ErrAlreadyRunning: Run was called twice.
	ErrAlreadyRunning = errors.New("mqtt: Run already called")
	// ErrInvalidOptions: New was given options it cannot work with.
	ErrInvalidOptions = errors.New("mqtt: invalid options")
	// ErrInvalidEvent: PublishEvent was given an event without event_id,
	// with an unknown decision, or too large.
	ErrInvalidEvent = errors.New("mqtt: invalid event")
	// ErrOutboxFull: the on-disk outbox is at its bound; the event was not
	// queued (the caller still has it in its audit log).
	ErrOutboxFull = errors.New("mqtt: outbox full")
	// ErrNotAuthorized: the broker refused the username/password or the
	// client certificate (CONNACK 4 or 5).
	ErrNotAuthorized = errors.New("mqtt: broker refused the credentials")
)

// Reasons a command is refused; each refusal is logged with its reason.
var (
	// ErrMalformed: not the documented JSON, too large, or a field out of range.
	ErrMalformed = errors.New("malformed command")
	// ErrUnsigned: an open command without a body or a signature.
	ErrUnsigned = errors.New("unsigned command")
	// ErrBadSignature: the HMAC does not match.
	ErrBadSignature = errors.New("bad signature")
	// ErrWrongTopic: signed for another gate's topic.
	ErrWrongTopic = errors.New("command signed for another topic")
	// ErrStale: the timestamp is outside the allowed skew, or older than
	// this process (a nonce from before a restart cannot be checked).
	ErrStale = errors.New("stale command")
	// ErrReplayed: the nonce was already used within the window.
	ErrReplayed = errors.New("replayed command")
	// ErrTooMany: more signed commands in one window than the nonce
	// memory holds; refused rather than forgetting nonces.
	ErrTooMany = errors.New("too many commands in the window")
	// ErrRetained: a retained command would run again on every reconnect.
	ErrRetained = errors.New("retained command")
)

// refusalReason is the log code for a command refusal.
func refusalReason(err error) string {
	for _, r := range []struct {
		err  error
		code string
	}{
		{ErrUnsigned, "unsigned"}, {ErrBadSignature, "bad_signature"}, {ErrWrongTopic, "wrong_topic"},
		{ErrStale, "stale"}, {ErrReplayed, "replayed"}, {ErrTooMany, "too_many"},
		{ErrRetained, "retained"}, {ErrMalformed, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "error"
}
