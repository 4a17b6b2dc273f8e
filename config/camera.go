package config

import (
	"path/filepath"
	"time"
)

// Camera is the frame source.
type Camera struct {
	// Source is a V4L2 index ("0"), a device (/dev/video0, /dev/v4l/by-id/…),
	// a video file, an image or a folder of images, an rtsp:// URL, or a
	// GStreamer pipeline (anything containing "!").
	Source string `yaml:"source"`
	Width  int    `yaml:"width"`
	Height int    `yaml:"height"`
	FPS    int    `yaml:"fps"`
	// FourCC is the pixel format asked of a V4L2 camera (MJPG by default:
	// YUYV gives a few frames a second at 1280x720).
	FourCC string `yaml:"fourcc"`
	// FrozenAfter: identical frames for this long count as camera down.
	FrozenAfter time.Duration `yaml:"frozen_after"`
}

func (c *Camera) setDefaults() {
	c.Source = "0"
	c.Width, c.Height, c.FPS = 1280, 720, 15
	c.FourCC = "MJPG"
	c.FrozenAfter = 10 * time.Second
}

func (c *Camera) validate() error {
	if c.Source == "" {
		return fieldError("camera.source", "must not be empty")
	}
	if c.Width < 0 || c.Height < 0 || c.FPS < 0 {
		return fieldError("camera", "width, height and fps must not be negative")
	}
	if c.FourCC != "" && len(c.FourCC) != 4 {
		return fieldError("camera.fourcc", "%q must be four characters, e.g. MJPG", c.FourCC)
	}
	if c.Width > 7680 || c.Height > 4320 || c.FPS > 240 {
		return fieldError("camera", "%dx%d at %d fps is beyond 7680x4320 at 240 fps", c.Width, c.Height, c.FPS)
	}
	if c.FrozenAfter < 0 || (c.FrozenAfter > 0 && c.FrozenAfter < time.Second) {
		return fieldError("camera.frozen_after", "%s must be at least 1s (0: default 10s)", c.FrozenAfter)
	}
	if c.FrozenAfter == 0 {
		// Normalised here so that every consumer (capture, self-test) agrees.
		c.FrozenAfter = 10 * time.Second
	}
	return nil
}

// Capture is face detection, scoring, selection and the crop.
type Capture struct {
	// Detector is "auto" (default: YuNet when the installed model is there
	// and verified, Haar otherwise), "haar" or "yunet".
	Detector string `yaml:"detector"`
	// Cascade overrides the Haar cascade path (found under /usr/share/opencv4 otherwise).
	Cascade string `yaml:"cascade"`
	// Model is the YuNet ONNX file (required with detector: yunet; with
	// auto "" means InstalledModelPath(state_dir), see Config.CaptureModel).
	Model string `yaml:"model"`
	// Window is how long to keep looking for a better face after the first acceptable one.
	Window time.Duration `yaml:"window"`
	// JPEGQuality of the 960x720 crop sent to the API.
	JPEGQuality int `yaml:"jpeg_quality"`
	// EyeCascade overrides the eye cascade that confirms Haar faces
	// (haarcascade_eye_tree_eyeglasses.xml, found under /usr/share/opencv4).
	EyeCascade string `yaml:"eye_cascade"`
	// Quality gates (0 keeps the built-in default, see docs/capture.md).
	MinFaceWidth  int     `yaml:"min_face_width"` // source pixels (too_small)
	MinSharpness  float64 `yaml:"min_sharpness"`  // variance of the Laplacian (too_blurry)
	MinBrightness float64 `yaml:"min_brightness"` // mean face grey 0-255 (too_dark)
	MaxBrightness float64 `yaml:"max_brightness"` // (too_bright)
	MaxRoll       float64 `yaml:"max_roll"`       // degrees (head_tilted)
	// OnePerson refuses a frame with two faces of similar size
	// (multiple_faces). On by default.
	OnePerson bool `yaml:"one_person"`
	// OpenCVThreads is how many threads OpenCV may use; 0 is every core.
	OpenCVThreads int `yaml:"opencv_threads"`
}

func (c *Capture) setDefaults() {
	c.Detector = "auto"
	c.Window = 600 * time.Millisecond
	c.JPEGQuality = 85
	c.OnePerson = true
	c.OpenCVThreads = 1
}

func (c *Capture) validate() error {
	switch c.Detector {
	case "auto", "haar":
	case "yunet":
		if c.Model == "" {
			return fieldError("capture.model", "detector yunet needs the path of the ONNX model")
		}
	default:
		return fieldError("capture.detector", "%q is not auto, haar or yunet", c.Detector)
	}
	if err := between("capture.window", c.Window, 0, 10*time.Second); err != nil {
		return err
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		return fieldError("capture.jpeg_quality", "%d must be 1..100", c.JPEGQuality)
	}
	if c.MinFaceWidth < 0 || c.MinFaceWidth > 2000 {
		return fieldError("capture.min_face_width", "%d must be 0..2000 pixels", c.MinFaceWidth)
	}
	// Written as !(in range) so that NaN (".nan" in YAML) is refused too.
	if !(c.MinSharpness >= 0 && c.MinSharpness <= 1e6) {
		return fieldError("capture.min_sharpness", "%g must be 0..1000000", c.MinSharpness)
	}
	if !(c.MinBrightness >= 0 && c.MinBrightness <= 255) {
		return fieldError("capture.min_brightness", "%g must be 0..255", c.MinBrightness)
	}
	if !(c.MaxBrightness >= 0 && c.MaxBrightness <= 255) {
		return fieldError("capture.max_brightness", "%g must be 0..255", c.MaxBrightness)
	}
	// Against the limit in force: 0 stands for the built-in one, and a
	// minimum above the built-in maximum (or the reverse) refuses every face.
	minB, maxB := c.MinBrightness, c.MaxBrightness
	if minB == 0 {
		minB = DefaultMinBrightness
	}
	if maxB == 0 {
		maxB = DefaultMaxBrightness
	}
	switch {
	case minB < maxB:
	case c.MinBrightness == 0:
		return fieldError("capture.max_brightness", "%g must be above min_brightness, the built-in %g (0): every face would be refused", c.MaxBrightness, minB)
	case c.MaxBrightness == 0:
		return fieldError("capture.min_brightness", "%g must be below max_brightness, the built-in %g (0): every face would be refused", c.MinBrightness, maxB)
	default:
		return fieldError("capture.min_brightness", "%g must be below max_brightness %g", c.MinBrightness, c.MaxBrightness)
	}
	if !(c.MaxRoll >= 0 && c.MaxRoll <= 90) {
		return fieldError("capture.max_roll", "%g must be 0..90 degrees", c.MaxRoll)
	}
	if c.OpenCVThreads < 0 || c.OpenCVThreads > 64 {
		return fieldError("capture.opencv_threads", "%d must be 0..64 (0: every core)", c.OpenCVThreads)
	}
	return nil
}

// The built-in face brightness limits that 0 stands for
// (capture.DefaultThresholds; a test in cmd/facegate keeps them equal).
const (
	DefaultMinBrightness = 55
	DefaultMaxBrightness = 215
)

// YuNetModelFile is the file `facegate model install yunet` writes in
// <state_dir>/models (capture.YuNetModelFile, without importing gocv here).
const YuNetModelFile = "face_detection_yunet_2023mar.onnx"

// InstalledModelPath is where `facegate model install yunet` puts the model
// and where detector auto looks for it.
func InstalledModelPath(stateDir string) string {
	return filepath.Join(stateDir, "models", YuNetModelFile)
}

// CaptureModel is the YuNet model the analyzer is given: capture.model, or
// with detector auto and no model the installed one (which may be absent).
func (c *Config) CaptureModel() string {
	if c.Capture.Model == "" && c.Capture.Detector == "auto" {
		return InstalledModelPath(c.StateDir)
	}
	return c.Capture.Model
}
