package config

import (
	"testing"
	"time"
)

func TestCameraCaptureValid(t *testing.T) {
	yml := `
camera:
  source: /dev/v4l/by-id/usb-046d_C920-video-index0
  width: 1920
  height: 1080
  fps: 30
  fourcc: YUYV
  frozen_after: 5s
capture:
  detector: yunet
  model: /var/lib/facegate/face_detection_yunet_2023mar.onnx
  window: 800ms
  jpeg_quality: 85
  min_face_width: 120
  min_sharpness: 90
  min_brightness: 40
  max_brightness: 230
  max_roll: 25
  one_person: false
`
	c, err := Parse("f.yaml", []byte(yml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Camera.Width != 1920 || c.Camera.FrozenAfter != 5*time.Second || c.Capture.Detector != "yunet" ||
		c.Capture.Window != 800*time.Millisecond || c.Capture.MinFaceWidth != 120 || c.Capture.MaxRoll != 25 ||
		c.Capture.OnePerson {
		t.Fatalf("%+v %+v", c.Camera, c.Capture)
	}
	d := Default()
	if !d.Capture.OnePerson || d.Capture.JPEGQuality != 85 || d.Capture.Window != 600*time.Millisecond ||
		d.Camera.FourCC != "MJPG" || d.Camera.Width != 1280 || d.Camera.FPS != 15 {
		t.Fatalf("defaults %+v %+v", d.Camera, d.Capture)
	}
}

func TestCameraCaptureErrors(t *testing.T) {
	tests := []struct {
		yml, want string
	}{
		{"camera:\n  source: \"\"\n", `f.yaml:2: camera.source: must not be empty`},
		{"camera:\n  fourcc: MJPEG\n", `f.yaml:2: camera.fourcc: "MJPEG" must be four characters, e.g. MJPG`},
		{"camera:\n  fps: 500\n", `f.yaml:1: camera: 1280x720 at 500 fps is beyond 7680x4320 at 240 fps`},
		{"camera:\n  frozen_after: 500ms\n", `f.yaml:2: camera.frozen_after: 500ms must be at least 1s (0: default 10s)`},
		{"capture:\n  detector: hog\n", `f.yaml:2: capture.detector: "hog" is not auto, haar or yunet`},
		{"capture:\n  detector: yunet\n", `f.yaml:1: capture.model: detector yunet needs the path of the ONNX model`},
		{"capture:\n  jpeg_quality: 0\n", `f.yaml:2: capture.jpeg_quality: 0 must be 1..100`},
		{"capture:\n  min_face_width: -1\n", `f.yaml:2: capture.min_face_width: -1 must be 0..2000 pixels`},
		{"capture:\n  min_brightness: 200\n  max_brightness: 100\n", `f.yaml:2: capture.min_brightness: 200 must be below max_brightness 100`},
		// Against the built-in limit that 0 stands for: every face refused.
		{"capture:\n  min_brightness: 220\n", `f.yaml:2: capture.min_brightness: 220 must be below max_brightness, the built-in 215 (0): every face would be refused`},
		{"capture:\n  max_brightness: 50\n", `f.yaml:2: capture.max_brightness: 50 must be above min_brightness, the built-in 55 (0): every face would be refused`},
		{"capture:\n  max_roll: 120\n", `f.yaml:2: capture.max_roll: 120 must be 0..90 degrees`},
		{"capture:\n  opencv_threads: -1\n", `f.yaml:2: capture.opencv_threads: -1 must be 0..64 (0: every core)`},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.yml), nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.yml, err, tt.want)
		}
	}
}

// TestCaptureModelAuto: detector auto without a model looks where `facegate
// model install yunet` writes; an explicit model or detector is kept.
func TestCaptureModelAuto(t *testing.T) {
	tests := []struct {
		yml, detector, model string
	}{
		{"state_dir: /srv/fg\n", "auto", "/srv/fg/models/face_detection_yunet_2023mar.onnx"},
		{"capture:\n  detector: auto\n  model: /m.onnx\n", "auto", "/m.onnx"},
		{"capture:\n  detector: haar\n", "haar", ""},
		{"capture:\n  detector: yunet\n  model: /y.onnx\n", "yunet", "/y.onnx"},
	}
	for _, tt := range tests {
		c, err := Parse("f.yaml", []byte(tt.yml), nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.yml, err)
		}
		if c.Capture.Detector != tt.detector || c.CaptureModel() != tt.model {
			t.Errorf("%q: detector %q model %q, want %q %q", tt.yml, c.Capture.Detector, c.CaptureModel(), tt.detector, tt.model)
		}
	}
}
