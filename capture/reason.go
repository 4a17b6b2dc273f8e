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
