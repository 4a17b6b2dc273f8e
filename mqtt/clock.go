package mqtt

import "time"

// Clock tells the time; tests inject a fake to check the HMAC window
// without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }
