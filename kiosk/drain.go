package kiosk

import "net/http"

// refuseWhileDraining answers the requests that start a session (POST
// /api/identify, /api/open) with 503 "shutting down" once Drain was
// called, before the token is checked; the rest of the page keeps working
// while the session in flight finishes.
func (k *Kiosk) refuseWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == "/api/identify" || r.URL.Path == "/api/open") && k.isDraining() {
			writeJSON(w, http.StatusServiceUnavailable, apiAnswer{Error: "shutting down"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (k *Kiosk) isDraining() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.draining
}
