package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/kiosk"
)

// The capture reason codes (what the selector reports while no face is
// acceptable) and the kiosk's capture coaching are one vocabulary in two
// packages: a code capture emits without a message falls back to "Look at
// the camera", and a message for a code capture never emits is dead.
func TestCaptureReasonsCoached(t *testing.T) {
	coached := kiosk.CaptureCoaching()
	for _, r := range capture.Reasons {
		if !slices.Contains(coached, string(r)) {
			t.Errorf("capture reason %q has no entry in the kiosk's capture coaching", r)
		}
		if m, ok := kiosk.Coach(string(r)); !ok || m == "" {
			t.Errorf("kiosk.Coach(%q) = %q, %v: capture emits it, the screen must explain it", r, m, ok)
		}
	}
	for _, code := range coached {
		if !slices.Contains(capture.Reasons, capture.Reason(code)) {
			t.Errorf("kiosk capture coaching has %q, which capture never emits (not in capture.Reasons)", code)
		}
	}
}

// What `facegate crop` says for a reason is what the kiosk's screen says
// for it (kiosk.Coach): one instruction per code, worded in one place.
func TestCropReasonText(t *testing.T) {
	tests := []struct {
		rs   []capture.Reason
		want string
	}{
		{nil, "no frames"},
		{[]capture.Reason{capture.ReasonTooDark}, "too_dark (Step into the light)"},
		{[]capture.Reason{capture.ReasonNoFace, capture.ReasonHeadTilted}, "no_face (Look at the camera), head_tilted (Keep your head straight)"},
		{[]capture.Reason{capture.ReasonTooBright}, "too_bright (Too bright — step out of the glare)"},
		{[]capture.Reason{"not_a_code"}, "not_a_code (Look at the camera)"},
	}
	for _, tt := range tests {
		if got := reasonText(tt.rs); got != tt.want {
			t.Errorf("reasonText(%v) = %q, want %q", tt.rs, got, tt.want)
		}
	}
	for _, r := range capture.Reasons {
		m, _ := kiosk.Coach(string(r))
		if got, want := reasonText([]capture.Reason{r}), fmt.Sprintf("%s (%s)", r, m); got != want {
			t.Errorf("reasonText(%s) = %q, the kiosk shows %q", r, got, want)
		}
	}
}
