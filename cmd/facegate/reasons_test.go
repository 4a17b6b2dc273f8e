package main

import (
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

// What `facegate crop` says for a reason (capture.Reason.Message) is what
// the kiosk's screen says for it (kiosk.Coach): one instruction per code.
func TestCaptureReasonMessagesAgree(t *testing.T) {
	for _, r := range capture.Reasons {
		if m, _ := kiosk.Coach(string(r)); m != r.Message() {
			t.Errorf("%s: the kiosk shows %q, capture.Reason.Message says %q", r, m, r.Message())
		}
	}
}
