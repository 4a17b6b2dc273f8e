package capture

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		in     string
		kind   SourceKind
		index  int
		target string
		bad    string // substring of the error, "" when valid
	}{
		{in: "0", kind: SourceDevice, index: 0, target: "/dev/video0"},
		{in: "12", kind: SourceDevice, index: 12, target: "/dev/video12"},
		{in: "/dev/video10", kind: SourceDevice, index: -1, target: "/dev/video10"},
		{in: "/dev/v4l/by-id/usb-Logitech_C920-video-index0", kind: SourceDevice, index: -1, target: "/dev/v4l/by-id/usb-Logitech_C920-video-index0"},
		{in: "rtsp://user:pw@10.0.0.5:554/stream1", kind: SourceStream, index: -1, target: "rtsp://user:pw@10.0.0.5:554/stream1"},
		{in: "https://cam.local/video.mjpg", kind: SourceStream, index: -1, target: "https://cam.local/video.mjpg"},
		{in: "libcamerasrc ! video/x-raw,width=1280,height=720 ! videoconvert ! appsink", kind: SourcePipeline, index: -1,
			target: "libcamerasrc ! video/x-raw,width=1280,height=720 ! videoconvert ! appsink"},
		{in: "videotestsrc ! videoconvert", kind: SourcePipeline, index: -1,
			target: "videotestsrc ! videoconvert ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"},
		{in: "/srv/clips/door.mp4", kind: SourceVideo, index: -1, target: "/srv/clips/door.mp4"},
		{in: "face.JPG", kind: SourceImage, index: -1, target: "face.JPG"},
		{in: "frames/", kind: SourceFolder, index: -1, target: "frames"},
		{in: "", bad: "empty"},
		{in: "   ", bad: "empty"},
		{in: " 0", bad: "spaces"},
		{in: "256", bad: "out of range"},
		{in: "99999999999999999999", bad: "out of range"},
		{in: "/dev/", bad: "folder"},
		{in: "ftp://host/x", bad: "unsupported URL scheme"},
		{in: "rtsp://", bad: "no host"},
		{in: "rtsp://cam/a b", bad: "spaces"},
		{in: "a\x00b", bad: "control character"},
		{in: "! appsink", bad: "starts or ends"},
		{in: "\xff\xfe", bad: "UTF-8"},
		{in: strings.Repeat("a", 5000), bad: "4096"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := ParseSource(tt.in)
			if tt.bad != "" {
				if err == nil || !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("ParseSource(%q) = %+v, %v; want an ErrBadSource mentioning %q", tt.in, s, err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind != tt.kind || s.Index != tt.index || s.Target != tt.target {
				t.Fatalf("got %+v, want kind %v index %d target %q", s, tt.kind, tt.index, tt.target)
			}
		})
	}
}

func TestSourceStringHidesPassword(t *testing.T) {
	s, err := ParseSource("rtsp://admin:secret@10.0.0.5/stream")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), "secret") || strings.Contains(s.String(), "admin") {
		t.Fatalf("String() leaks credentials: %s", s)
	}
}

// FuzzParseSource: never panics; a valid result is consistent.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"0", "/dev/video0", "/dev/v4l/by-id/x", "rtsp://a:b@h/s", "x.mp4", "x.png", "d/",
		"a ! b", "!", "rtsp://", "http://h", "9999", "\x00", "/dev/../etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSource(in)
		if err != nil {
			if !errors.Is(err, ErrBadSource) {
				t.Fatalf("error %v does not wrap ErrBadSource", err)
			}
			return
		}
		if s.Kind < SourceDevice || s.Kind > SourcePipeline || s.Target == "" {
			t.Fatalf("inconsistent source %+v from %q", s, in)
		}
		if s.Kind == SourceDevice && s.Index > maxV4L2Index {
			t.Fatalf("index %d out of range", s.Index)
		}
		_ = s.String()
	})
}
