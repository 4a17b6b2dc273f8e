package kiosk

import (
	"context"
)

// Warmer is an optional interface of Deps.Authenticator (*faceauth.Client
// has it): Warm opens, or keeps, a connection to the API with a cheap
// request, so that the TLS handshake is done before the face is chosen.
// It must return when ctx ends.
type Warmer interface {
	Warm(ctx context.Context) error
}

// warmAPI starts Warm when the authenticator has it and returns at once:
// the handshake runs while the worker is being framed. The goroutine ends
// with ctx (the session's) or after the API timeout; a failure only costs
// the handshake at decision time, so it is logged at debug level.
func (k *Kiosk) warmAPI(ctx context.Context) {
	w, ok := k.deps.Authenticator.(Warmer)
	if !ok {
		return
	}
	go func() {
		wctx, cancel := context.WithTimeout(ctx, k.apiTimeout)
		defer cancel()
		if err := w.Warm(wctx); err != nil {
			k.log.Debug("API warm-up failed", "err", err)
		}
	}()
}
