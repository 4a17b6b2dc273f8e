package capture

import (
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"
)

// Face is one detected face in source pixels.
type Face struct {
	Box image.Rectangle
	// Confidence is the detector's score: YuNet's 0..1, 1 for Haar.
	Confidence float64
	// Landmarks (YuNet only): right eye, left eye, nose tip, right and left
	// mouth corner, as seen in the image (0 is on the image's left).
	Landmarks    [5]image.Point
	HasLandmarks bool
}

// cascadeDirs are searched for Haar cascades when no path is configured.
var cascadeDirs = []string{
	"/usr/share/opencv4/haarcascades",
	"/usr/share/opencv/haarcascades",
	"/usr/local/share/opencv4/haarcascades",
	"/usr/share/opencv4",
}

// Cascade file names.
const (
	FaceCascadeName = "haarcascade_frontalface_default.xml"
	EyeCascadeName  = "haarcascade_eye_tree_eyeglasses.xml"
	// PlainEyeCascadeName is tried where the eyeglasses cascade finds no eye.
	PlainEyeCascadeName = "haarcascade_eye.xml"
)

// FindCascade returns the path of the named Haar cascade, searching the
// folders Debian's opencv-data and source builds install to.
func FindCascade(name string) (string, error) {
	for _, dir := range cascadeDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found in %s (install opencv-data or set capture.cascade)",
		ErrDetector, name, strings.Join(cascadeDirs, ", "))
}

// loadCascade checks that path looks like an OpenCV cascade before loading:
// OpenCV aborts the process on XML it cannot parse.
func loadCascade(path string) (gocv.CascadeClassifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return gocv.CascadeClassifier{}, fmt.Errorf("%w: cascade: %w", ErrDetector, err)
	}
	head := make([]byte, 8192)
	n, _ := io.ReadFull(f, head)
	f.Close()
	if !strings.Contains(string(head[:n]), "<opencv_storage>") {
		return gocv.CascadeClassifier{}, fmt.Errorf("%w: %s is not an OpenCV cascade XML file", ErrDetector, path)
	}
	c := gocv.NewCascadeClassifier()
	if !c.Load(path) {
		c.Close()
		return gocv.CascadeClassifier{}, fmt.Errorf("%w: OpenCV could not load cascade %s", ErrDetector, path)
	}
	return c, nil
}
