package kiosk

import (
	"maps"
	"slices"
	"strings"

	"github.com/facegate/facegate/faceauth"
)

// Reason codes the kiosk itself puts in record.Event.Reason (the API's fail
// codes appear lower-cased beside them).
const (
	ReasonApproved         = "approved"
	ReasonRemoteOpen       = "remote_open"
	ReasonAntiPassbackSoft = "anti_passback_soft" // granted, flagged
	ReasonAntiPassback     = "anti_passback"
	ReasonStaleApproval    = "stale_approval"
	// ReasonIdentityRevoked: a reload took the session's identity away
	// while it ran (its badge out of the roster or given to someone else,
	// the fixed identity changed, its source turned off).
	ReasonIdentityRevoked = "identity_revoked"
	ReasonTailgating      = "tailgating"
	ReasonRateLimited     = "rate_limited"
	ReasonTimeout         = "timeout"
	ReasonCaptureTimeout  = "capture_timeout"
	ReasonNoFace          = "no_usable_face"
	ReasonCameraError     = "camera_error"
	ReasonShutdown        = "shutdown"
	ReasonRelayFailed     = "relay_failed"
	ReasonRecordFailed    = "record_failed" // the grant could not be recorded, so the gate did not open
	ReasonBrokerDown      = "broker_down"
	ReasonRejected        = "rejected"       // rejected without a fail code
	ReasonInvalidResult   = "invalid_result" // a 200 that is neither approved nor rejected
	// Liveness (kiosk/liveness.go): every one is a hard failure.
	ReasonLivenessFailed      = "liveness_failed"      // a photo or a screen: the face moved as a flat or bent sheet, or not at all
	ReasonLivenessNoTurn      = "liveness_no_turn"     // the head did not turn the asked way in time
	ReasonLivenessUnavailable = "liveness_unavailable" // the check could not run (face lost, too few frames, error)
	ReasonLivenessLocked      = "liveness_locked"      // too many liveness failures for this identity
	// ReasonAPIPrefix + error class: "api_identity", "api_config", "api_recapture",
	// "api_transient", "api_client".
	ReasonAPIPrefix = "api_"
	// Score minimums: "<score>_below_minimum" and "<score>_missing", score one
	// of face_similarity, occluded, face_cover, head_cover.
	suffixBelowMinimum = "_below_minimum"
	suffixMissing      = "_missing"
)

// Instructions shown while there is no result.
const (
	msgIdle       = "Scan your badge"
	msgIdleFixed  = "Look at the camera"
	msgIdentified = "Look at the camera"
	msgCapturing  = "Hold still"
	msgChecking   = "Checking…"
	// msgHoldStill: the challenge began on a face much blurrier than the
	// one chosen (liveness reason blurred_start): the worker moved early.
	msgHoldStill = "Hold still, then turn your head as shown"
	// msgStayInView: the chosen face was not where the challenge began
	// (liveness reason no_face): the worker stepped aside early.
	msgStayInView = "Stay in front of the camera, then turn your head as shown"
	msgCooldown   = "Please wait"
	msgStopped    = "Gate closed — out of service"
)

// captureCoaching is the capture section of coaching: one message for each
// code capture emits (capture.Reasons); cmd/facegate's
// TestCaptureReasonsCoached fails when the codes disagree, and `facegate
// crop` explains a reason with these same words (kiosk.Coach).
var captureCoaching = map[string]string{
	"no_face":        "Look at the camera",
	"too_small":      "Come closer",
	"multiple_faces": "One person at a time",
	"not_frontal":    "Look straight at the camera",
	"too_dark":       "Step into the light",
	"too_bright":     "Too bright — step out of the glare",
	"cut_by_edge":    "Move to the middle of the picture",
	"too_blurry":     "Hold still",
	"head_tilted":    "Keep your head straight",
}

// CaptureCoaching lists the capture reason codes the screen has a message
// for, sorted.
func CaptureCoaching() []string { return slices.Sorted(maps.Keys(captureCoaching)) }

// coaching is every code the screen may have to explain, lower-cased:
// capture reasons (captureCoaching), the site's codes (siteCoaching), the API's fail codes and error codes,
// error classes and the kiosk's own reasons. Order of preference for several
// codes is in coachOrder.
var coaching = withSite(withCapture(map[string]string{
	// API fail codes (200, rejected)
	"face_compare_underscore": "Not recognised",
	"face_occluded_fail":      "Uncover your face",
	"face_cover_fail":         "Put on your face cover",
	"head_cover_fail":         "Put on your hard hat",

	// API error codes (4xx)
	"invalid_submissionid":      "Your badge is not registered — see the site office",
	"invalid_submission_status": "Your registration is not approved — see the site office",
	"invalid_projectid":         "Gate not set up — see the site office",
	"not_found":                 "Gate not set up — see the site office",
	"invalid_data_format":       "Gate error — see the site office",
	"required_field_missing":    "Gate error — see the site office",
	"image_converting_error":    "Try again — look at the camera",
	"image_processing_error":    "Try again — look at the camera",
	"detection_server_error":    "Service unavailable — try again",
	"data_processing_error":     "Service unavailable — try again",

	// error classes
	"api_identity":  "Your registration is not approved — see the site office",
	"api_config":    "Gate not set up — see the site office",
	"api_recapture": "Try again — look at the camera",
	"api_transient": "Service unavailable — try again",
	"api_client":    "Gate error — see the site office",

	// kiosk reasons
	ReasonApproved:                         "Welcome",
	ReasonRemoteOpen:                       "Opened remotely",
	ReasonAntiPassbackSoft:                 "Welcome",
	ReasonAntiPassback:                     "Already entered — see the site office",
	ReasonStaleApproval:                    "Too slow — try again",
	ReasonIdentityRevoked:                  "Badge no longer valid — see the site office",
	ReasonTailgating:                       "One person at a time",
	ReasonRateLimited:                      "Too many attempts — wait a few minutes",
	ReasonTimeout:                          "No face seen — scan your badge again",
	ReasonCaptureTimeout:                   "Try again — look at the camera",
	ReasonNoFace:                           "Try again — look at the camera",
	ReasonCameraError:                      "Camera unavailable — see the site office",
	ReasonShutdown:                         "Gate closing — try again shortly",
	ReasonRelayFailed:                      "Gate did not open — see the site office",
	ReasonRecordFailed:                     "Gate did not open — see the site office",
	ReasonBrokerDown:                       "Gate offline — try again shortly",
	ReasonRejected:                         "Not recognised",
	ReasonInvalidResult:                    "Service unavailable — try again",
	ReasonLivenessFailed:                   "Photo or screen detected",
	ReasonLivenessNoTurn:                   "Please turn your head as shown",
	ReasonLivenessUnavailable:              "Please turn your head as shown",
	ReasonLivenessLocked:                   "Too many attempts — see the site office",
	"face_similarity" + suffixBelowMinimum: "Not recognised",
	"occluded" + suffixBelowMinimum:        "Uncover your face",
	"face_cover" + suffixBelowMinimum:      "Put on your face cover",
	"head_cover" + suffixBelowMinimum:      "Put on your hard hat",
	"face_similarity" + suffixMissing:      "Not recognised",
	"occluded" + suffixMissing:             "Try again — look at the camera",
	"face_cover" + suffixMissing:           "Put on your face cover",
	"head_cover" + suffixMissing:           "Put on your hard hat",
}))

// withCapture adds captureCoaching to m.
func withCapture(m map[string]string) map[string]string {
	maps.Copy(m, captureCoaching)
	return m
}

// coachOrder ranks codes when a decision has several: what the worker can
// fix at once first (PPE, uncover), then identity problems.
var coachOrder = []string{
	"head_cover_fail", "head_cover" + suffixBelowMinimum, "head_cover" + suffixMissing,
	"face_cover_fail", "face_cover" + suffixBelowMinimum, "face_cover" + suffixMissing,
	"face_occluded_fail", "occluded" + suffixBelowMinimum,
	ReasonTailgating,
	"face_compare_underscore", "face_similarity" + suffixBelowMinimum,
}

// fallback texts when a code is unknown (a new API fail code, a new
// capture reason): still a clear, safe instruction.
const (
	fallbackDenied  = "Not recognised"
	fallbackError   = "Service unavailable — try again"
	fallbackCapture = "Look at the camera"
)

// Coach returns the screen message for one code (capture reason, fail
// code, API error code, "api_<class>" or kiosk reason), case-insensitive;
// ok is false when the code is unknown.
func Coach(code string) (msg string, ok bool) {
	msg, ok = coaching[strings.ToLower(strings.TrimSpace(code))]
	return msg, ok
}

// coachCapture is the instruction for a capture reason.
func coachCapture(reason string) string {
	if reason == "" {
		return msgCapturing
	}
	if m, ok := Coach(reason); ok {
		return m
	}
	return fallbackCapture
}

// coachReasons picks the message for a decision's reasons.
func coachReasons(reasons []string, fallback string) string {
	lower := make(map[string]bool, len(reasons))
	for _, r := range reasons {
		lower[strings.ToLower(r)] = true
	}
	for _, c := range coachOrder {
		if lower[c] {
			return coaching[c]
		}
	}
	for _, r := range reasons {
		if m, ok := Coach(r); ok {
			return m
		}
	}
	return fallback
}

// failReason is the reason code of an API fail code (lower-cased, so that
// metrics and events do not split one code by spelling).
func failReason(fc faceauth.FailCode) string {
	s := strings.ToLower(strings.TrimSpace(string(fc)))
	if s == "" {
		return ReasonRejected
	}
	return s
}
