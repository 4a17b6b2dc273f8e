package capture

// Reason says why a face was not accepted. The codes are stable: they go into
// events, logs and `facegate crop --json`.
type Reason string

// Reason codes, from the most to the least basic.
const (
	ReasonNone          Reason = ""               // accepted
	ReasonNoFace        Reason = "no_face"        // nobody found
	ReasonMultipleFaces Reason = "multiple_faces" // two faces of similar size
	ReasonCutByEdge     Reason = "cut_by_edge"    // the face touches the frame border
	ReasonTooSmall      Reason = "too_small"      // too far from the camera
	ReasonTooDark       Reason = "too_dark"
	ReasonTooBright     Reason = "too_bright"
	ReasonTooBlurry     Reason = "too_blurry"  // moving, or out of focus
	ReasonNotFrontal    Reason = "not_frontal" // profile, or eyes not found where a frontal face has them
	ReasonHeadTilted    Reason = "head_tilted" // roll beyond the limit
)

// Reasons lists every code (for documentation, metrics labels and tests).
var Reasons = []Reason{
	ReasonNoFace, ReasonMultipleFaces, ReasonCutByEdge, ReasonTooSmall, ReasonTooDark,
	ReasonTooBright, ReasonTooBlurry, ReasonNotFrontal, ReasonHeadTilted,
}

// Message is the short instruction the kiosk shows the worker (the kiosk
// holds its own copy, kiosk.Coach: cmd/facegate's
// TestCaptureReasonMessagesAgree fails when the two differ).
func (r Reason) Message() string {
	switch r {
	case ReasonNone:
		return "Hold still"
	case ReasonNoFace:
		return "Look at the camera"
	case ReasonMultipleFaces:
		return "One person at a time"
	case ReasonCutByEdge:
		return "Move to the middle of the picture"
	case ReasonTooSmall:
		return "Come closer"
	case ReasonNotFrontal:
		return "Look straight at the camera"
	case ReasonHeadTilted:
		return "Keep your head straight"
	case ReasonTooDark:
		return "Step into the light"
	case ReasonTooBright:
		return "Too bright — step out of the glare"
	case ReasonTooBlurry:
		return "Hold still"
	}
	return "Look at the camera"
}
