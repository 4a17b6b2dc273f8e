package kiosk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Moved from cmd/facegate (the daemon's guard): once draining, the
// requests that start a session are refused; the rest of the page is not.
func TestGuardRefusesIdentitiesWhileDraining(t *testing.T) {
	k := webRig(t, nil, nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := k.refuseWhileDraining(next)
	for _, tc := range []struct {
		draining bool
		path     string
		want     int
	}{
		{false, "/api/identify", http.StatusTeapot},
		{false, "/api/open", http.StatusTeapot},
		{true, "/api/identify", http.StatusServiceUnavailable},
		{true, "/api/open", http.StatusServiceUnavailable},
		{true, "/", http.StatusTeapot},
		{true, "/healthz", http.StatusTeapot},
	} {
		if tc.draining {
			if err := k.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("draining=%v %s: %d, want %d", tc.draining, tc.path, rec.Code, tc.want)
		}
	}
}

// The kiosk's own handler carries the guard: a draining kiosk answers
// "shutting down" even to a request with a valid token.
func TestHandlerRefusesIdentifyWhileDraining(t *testing.T) {
	k := webRig(t, nil, nil)
	accept(k)
	if err := k.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/identify", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	k.Handler().ServeHTTP(rec, req)
	var got apiAnswer
	if err := json.NewDecoder(rec.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || got.Error != "shutting down" {
		t.Fatalf("%d %+v, want 503 shutting down", rec.Code, got)
	}
}
