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
	// ErrStale: the timestamp is more than the allowed skew from the
	// gate's clock (or ahead of the newest accepted command), or older
	// than the replay memory's floor (its nonce may be forgotten).
	ErrStale = errors.New("stale command")
	// ErrReplayed: the nonce was already accepted (also before a restart).
	ErrReplayed = errors.New("replayed command")
	// ErrReplayMemory: the file that remembers accepted open commands
	// could not be read or written; opens are refused (fail closed).
	ErrReplayMemory = errors.New("open replay memory unusable")
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
		{ErrStale, "stale"}, {ErrReplayed, "replayed"}, {ErrTooMany, "too_many"}, {ErrReplayMemory, "replay_memory"},
		{ErrRetained, "retained"}, {ErrMalformed, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return "error"
}

// ErrSiteCommandsOff: the site's signed commands are off (zones off, or no
// command secret), so this gate cannot send one.
var ErrSiteCommandsOff = errors.New("mqtt: site commands are off")

// ErrNotConnected: the command needs a live broker connection and there is
// none right now.
var ErrNotConnected = errors.New("mqtt: not connected")
