package liveness

import (
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/facegate/facegate/capture"
)

// Errors. Callers use errors.Is.
var (
	// ErrBadChallenge: the direction is not "left" or "right".
	ErrBadChallenge = errors.New("liveness: challenge must be left or right")
	// ErrBadFrame: an empty frame, or a face box outside the frame.
	ErrBadFrame = errors.New("liveness: bad frame or face box")
	// ErrNotStarted: Add or Result before Start.
	ErrNotStarted = errors.New("liveness: checker not started")
)

// Direction is the challenge, in the person's own terms.
type Direction string

// The two challenges. Left is the person's own left: in an unmirrored
// camera image the nose moves towards the image's right.
const (
	Left  Direction = "left"
	Right Direction = "right"
)

// ParseDirection accepts "left" and "right".
func ParseDirection(s string) (Direction, error) {
	switch Direction(s) {
	case Left, Right:
		return Direction(s), nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadChallenge, s)
}

// sign is +1 when the nose should move towards the image's right.
func (d Direction) sign() float64 {
	if d == Left {
		return 1
	}
	return -1
}

// Reason is why a check was not passed (a stable code: JSON, events, logs).
type Reason string

// Reason codes.
const (
	ReasonPlanar         Reason = "planar_motion"      // one homography explains the face: print or screen
	ReasonDevelopable    Reason = "developable_motion" // parallax of a bent sheet, not of a head
	ReasonWrongDirection Reason = "wrong_direction"    // turned the other way first
	ReasonLate           Reason = "late_response"      // started after the deadline
	ReasonNoResponse     Reason = "no_response"        // never turned far enough
	ReasonNoMotion       Reason = "no_motion"          // not even hand shake: a still picture
	ReasonBlur           Reason = "unmatched_blur"     // blurred as the face's motion does not explain: a picture shaken or twisted
	ReasonTooFewFrames   Reason = "too_few_frames"     // cannot run: not enough frames
	ReasonTooFewPoints   Reason = "too_few_points"     // cannot run: nothing to track on the face
	ReasonFaceLost       Reason = "face_lost"          // cannot run: the tracked points were lost
	ReasonNoFace         Reason = "no_face"            // cannot run: no face where the challenge began
	ReasonBlurredStart   Reason = "blurred_start"      // cannot run: the face was much blurrier when the challenge began than when it was chosen
	ReasonFaceChanged    Reason = "face_changed"       // the challenge began on another face than the capture chose: a picture held up for the capture
)

// Unavailable reports whether the reason means the check could not run
// (as opposed to having run and seen an attack). Both deny.
func (r Reason) Unavailable() bool {
	return r == ReasonTooFewFrames || r == ReasonTooFewPoints || r == ReasonFaceLost || r == ReasonNoFace || r == ReasonBlurredStart
}

// Mode is what a check looks at.
type Mode string

// Modes (config key liveness: off | passive | challenge).
const (
	ModeOff       Mode = "off"
	ModePassive   Mode = "passive"   // the selection window only: a still picture fails
	ModeChallenge Mode = "challenge" // a head turn on request, checked for 3-D structure
)

// Config tunes a Checker; zero fields take DefaultConfig's values.
type Config struct {
	// Deadline: the turn must start (reach a third of MinAmplitude in the
	// right direction) within this time of the challenge.
	Deadline time.Duration
	// Window: frames later than this after the challenge are ignored.
	Window time.Duration
	// MinAmplitude is the yaw proxy the turn must reach: the nose's shift
	// relative to the face outline, in face widths.
	MinAmplitude float64
	// MinAmplitudeTracked replaces MinAmplitude when the turn is measured
	// on tracked points (no landmarks): nostrils and eye corners shift less
	// against each other than YuNet's nose tip against eyes and mouth.
	MinAmplitudeTracked float64
	// MinParallax: the 90th percentile of the residuals of the best
	// homography, in face widths, that a live head exceeds at its turn.
	MinParallax float64
	// MinNonDevelopable: the parallax left over after the best
	// one-coordinate (bent sheet) model, in face widths.
	MinNonDevelopable float64
	// MinMotion: the largest median point displacement over the window, in
	// face widths, below which the picture is still (passive cue).
	MinMotion float64
	// MinFrames is the fewest analysed frames (including the first).
	MinFrames int
	// MinPoints is the fewest tracked points on the face.
	MinPoints int
	// StartDetail is the fine detail of the face the capture chose just
	// before the challenge (capture.Selection.Detail, capture.FaceDetail),
	// 0 when unknown (a clip without it): a challenge whose first frame
	// keeps less than minStartSharpness of it cannot run (blurred_start).
	// Not a default: each check's own.
	StartDetail float64
	// StartFace is the texture of the face the capture chose
	// (capture.Selection.Signature), nil when unknown: a challenge whose
	// first face reads more than maxStartFaceDistance from it did not
	// start on the face FaceAuth is asked about (face_changed). Not a
	// default: each check's own.
	StartFace capture.Signature
}

// DefaultConfig was set on synthetic renders (liveness/synth) and physics
// (a nose stands ~0.2 face widths in front of the eyes); MinAmplitudeTracked
// and MinNonDevelopable were then lowered on the first half (0-100 s) of
// the one real recording, the second half being held out. docs/liveness.md
// has the measured rates.
var DefaultConfig = Config{
	Deadline:            1200 * time.Millisecond,
	Window:              2500 * time.Millisecond,
	MinAmplitude:        0.035,
	MinAmplitudeTracked: 0.02,
	MinParallax:         0.012,
	MinNonDevelopable:   0.004,
	MinMotion:           0.004,
	MinFrames:           6,
	MinPoints:           12,
}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Deadline > 0 {
		d.Deadline = c.Deadline
	}
	if c.Window > 0 {
		d.Window = c.Window
	}
	if c.MinAmplitude > 0 {
		d.MinAmplitude = c.MinAmplitude
	}
	if c.MinAmplitudeTracked > 0 {
		d.MinAmplitudeTracked = c.MinAmplitudeTracked
	}
	if c.MinParallax > 0 {
		d.MinParallax = c.MinParallax
	}
	if c.MinNonDevelopable > 0 {
		d.MinNonDevelopable = c.MinNonDevelopable
	}
	if c.MinMotion > 0 {
		d.MinMotion = c.MinMotion
	}
	if c.MinFrames > 0 {
		d.MinFrames = c.MinFrames
	}
	if c.MinPoints > 0 {
		d.MinPoints = c.MinPoints
	}
	d.StartDetail = c.StartDetail
	d.StartFace = c.StartFace
	return d
}

// Landmarks are YuNet's five points as seen in the image: right eye, left
// eye, nose tip, right and left mouth corner (capture.Face order).
type Landmarks [5]image.Point

// Cues are the measured values behind a Result (JSON in `facegate liveness`).
type Cues struct {
	Frames int `json:"frames"` // analysed frames, including the first
	// DurationMS is from the challenge to the last analysed frame: what
	// the check adds to a session where nothing runs beside it.
	DurationMS int64 `json:"duration_ms"`
	Points     int   `json:"points"` // points tracked to the end
	// KeptShare is Points over the points seeded on the face in the first
	// frame: how many of its tracks the response kept.
	KeptShare float64 `json:"kept_share"`
	// Motion is the largest median point displacement, in face widths.
	Motion float64 `json:"motion"`
	// Yaw is the signed yaw proxy at its peak in the asked direction (face
	// widths, positive = the asked way); YawAgainst the peak the other way.
	Yaw        float64 `json:"yaw"`
	YawAgainst float64 `json:"yaw_against"`
	// YawFrames is how many frames after the first had a measurable yaw
	// (0: Yaw is no measurement, the points or landmarks it needs were
	// missing).
	YawFrames int `json:"yaw_frames"`
	// OnsetMS is when the turn started (ms after the challenge), -1 never.
	OnsetMS int64 `json:"onset_ms"`
	// Parallax is the 90th percentile residual of one homography (RANSAC)
	// at the turn, in face widths; InlierRatio the share of points within
	// the RANSAC threshold.
	Parallax    float64 `json:"parallax"`
	InlierRatio float64 `json:"inlier_ratio"`
	// NonDevelopable is the RMS parallax left by the best bent-sheet model.
	NonDevelopable float64 `json:"non_developable"`
	// NoseLead is how far the nose column moved beyond the homography in
	// the asked direction (face widths): the parallax of a turning head.
	NoseLead float64 `json:"nose_lead"`
	// DirectParallax is Parallax measured again on the points found in
	// one step from the reference frame (ReferenceMS; the first, unless a
	// frame before the turn was much sharper) warped by that homography
	// (a point not found counts as a face width), free of the drift of
	// chained tracks.
	DirectParallax float64 `json:"direct_parallax"`
	// DirectNonDevelopable is NonDevelopable on those points (a face width
	// when more than 5 % were not found).
	DirectNonDevelopable float64 `json:"direct_non_developable"`
	// FoundParallax is the 90th percentile residual of one homography
	// fitted to the points found again in one step on locally normalised
	// images (a glare or a shadow does not move them), the points not found
	// left out (a face width when too few were found); FoundShare is the
	// share found.
	FoundParallax float64 `json:"found_parallax"`
	// FoundNonDevelopable is NonDevelopable on those points.
	FoundNonDevelopable float64 `json:"found_non_developable"`
	FoundShare          float64 `json:"found_share"`
	// WashedShare is the share of points whose patch a glare clipped or
	// washed out; above half the check cannot run (face_lost).
	WashedShare float64 `json:"washed_share"`
	// BlurMismatch is how much blurrier the frames at the turn are than
	// the reference frame once the smears their tracked motion explains
	// are matched: the ln of the ratio of their sharpness along the
	// direction where they differ most (0 or less: no blurrier; median of
	// the frames).
	BlurMismatch float64 `json:"blur_mismatch"`
	// ReferenceMS is the time of the frame the measures at the turn
	// compare with (ms after the challenge): 0, the first frame, unless a
	// frame before the turn was much sharper than it.
	ReferenceMS int64 `json:"reference_ms"`
	// Landmarks: YuNet landmarks drove the yaw proxy.
	Landmarks bool `json:"landmarks"`
	// StartSharpness is the fine detail of the face in the first frame
	// over that of the face the capture chose (capture.FaceDetail,
	// Config.StartDetail): how much of its sharpness the start kept; 0
	// when that is unknown.
	StartSharpness float64 `json:"start_sharpness"`
	// ChosenDetail is the fine detail of the face the capture chose
	// (capture.FaceDetail, Config.StartDetail) that StartSharpness is a
	// share of; 0 when unknown.
	ChosenDetail float64 `json:"chosen_detail"`
	// StartFaceDistance is how far the texture of the face in the first
	// frame reads from that of the face the capture chose
	// (capture.Signature.Distance, Config.StartFace); 0 when unknown.
	StartFaceDistance float64 `json:"start_face_distance"`
}

// Result is the verdict of one check.
type Result struct {
	Live bool `json:"live"`
	// Score is 0..1, higher = more likely live; Live means Score >= 0.5
	// and no reason.
	Score   float64  `json:"score"`
	Reasons []Reason `json:"reasons"`
	Method  Mode     `json:"method"`
	Cues    Cues     `json:"cues"`
}

// Unavailable reports whether the check could not run at all.
func (r Result) Unavailable() bool {
	for _, x := range r.Reasons {
		if x.Unavailable() {
			return true
		}
	}
	return false
}
