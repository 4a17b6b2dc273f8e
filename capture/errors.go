package capture

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Callers match them with errors.Is.
var (
	// ErrBadSource: the camera source string cannot be understood.
	ErrBadSource = errors.New("capture: bad camera source")
	// ErrOpen: a frame source could not be opened (missing file, no device).
	ErrOpen = errors.New("capture: cannot open frame source")
	// ErrEndOfStream: a finite source (file, folder) has no more frames.
	ErrEndOfStream = errors.New("capture: end of stream")
	// ErrCameraDown: no fresh frame arrived in time (camera gone or frozen).
	ErrCameraDown = errors.New("capture: camera down")
	// ErrClosed: the camera or selector was closed.
	ErrClosed = errors.New("capture: closed")
	// ErrBusy: SelectFace is already running on this Selector.
	ErrBusy = errors.New("capture: selection already running")
	// ErrDetector: the face detector (cascade or model) cannot be used.
	ErrDetector = errors.New("capture: face detector unusable")
	// ErrNoFace: no face passed the quality thresholds; see *NoFaceError for why.
	ErrNoFace = errors.New("capture: no acceptable face")
	// ErrBadImage: an image could not be decoded or is empty.
	ErrBadImage = errors.New("capture: unreadable image")
	// ErrTooLarge: an image file or a video file's frames would decode to
	// more than the pixel limit (Source.MaxPixels, DefaultMaxPixels), or
	// the image file is too large to read.
	ErrTooLarge = errors.New("capture: image too large")
)

// NoFaceError reports why no face was selected: the last reason seen and how
// often each reason occurred. It matches ErrNoFace and, when the search ended
// because the context did, the context's error too.
type NoFaceError struct {
	Last   Reason         // the reason of the last analysed frame
	Counts map[Reason]int // frames per reason
	Frames int            // frames analysed
	Cause  error          // context error that ended the search, or nil
}

func (e *NoFaceError) Error() string {
	msg := fmt.Sprintf("capture: no acceptable face in %d frames (last reason %s)", e.Frames, e.Last)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is reports ErrNoFace.
func (e *NoFaceError) Is(target error) bool { return target == ErrNoFace }

// Unwrap returns the context error, if any.
func (e *NoFaceError) Unwrap() error { return e.Cause }
