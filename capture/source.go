package capture

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/facegate/facegate/internal/redact"
)

// SourceKind says how a frame source is opened.
type SourceKind int

// The kinds of frame source.
const (
	// SourceDevice is a V4L2 camera: an index or a /dev path (also /dev/v4l/by-id/…).
	SourceDevice SourceKind = iota + 1
	// SourceVideo is a video file (FFmpeg backend).
	SourceVideo
	// SourceImage is one still image, repeated as a camera, one frame offline.
	SourceImage
	// SourceFolder is a folder of images read in name order.
	SourceFolder
	// SourceStream is a network stream URL (rtsp://, rtsps://, http(s)://).
	SourceStream
	// SourcePipeline is a GStreamer pipeline (for example libcamerasrc on a Pi).
	SourcePipeline
)

func (k SourceKind) String() string {
	switch k {
	case SourceDevice:
		return "device"
	case SourceVideo:
		return "video"
	case SourceImage:
		return "image"
	case SourceFolder:
		return "folder"
	case SourceStream:
		return "stream"
	case SourcePipeline:
		return "pipeline"
	}
	return "unknown"
}

// Source is a parsed camera source string.
type Source struct {
	Kind SourceKind
	// Index is the V4L2 index for SourceDevice given as a number, else -1.
	Index int
	// Target is the device path, file, folder, URL or pipeline.
	Target string
	// MaxPixels bounds the decoded size of an image file, of each image of
	// a folder and of a video file's frames, checked before decoding
	// (0: DefaultMaxPixels). A larger one is an error wrapping ErrTooLarge.
	MaxPixels int
}

// String returns a form safe to log: stream URLs, and URLs inside a
// pipeline, lose their user info and secret query values (redact.URL).
func (s Source) String() string {
	if s.Kind == SourceDevice && s.Index >= 0 {
		return "device " + strconv.Itoa(s.Index)
	}
	t := s.Target
	switch s.Kind {
	case SourceStream:
		t = redact.URL(t)
	case SourcePipeline:
		t = redact.Text(t)
	}
	return s.Kind.String() + " " + t
}

// Finite reports whether the source ends (files and folders): a Camera loops
// them; the offline pipeline stops at the end.
func (s Source) Finite() bool {
	return s.Kind == SourceVideo || s.Kind == SourceImage || s.Kind == SourceFolder
}

var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true,
	".tif": true, ".tiff": true, ".pgm": true, ".ppm": true, ".pnm": true,
}

// isImageFile reports whether name has an image extension OpenCV decodes.
func isImageFile(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// maxV4L2Index bounds device indexes; larger numbers are mistakes.
const maxV4L2Index = 255

// ParseSource understands a camera source string (camera.source in the
// config). It only looks at the text: whether a path is a folder is decided
// when the source is opened. The rules, in order:
//   - a number is a V4L2 index ("0");
//   - /dev/… is a V4L2 device path (/dev/video0, /dev/v4l/by-id/…);
//   - rtsp://, rtsps://, http://, https:// is a network stream;
//   - anything containing " ! " or "!" between elements is a GStreamer pipeline
//     (an appsink is added when it has none);
//   - a path ending in "/" is a folder of images; a path with an image
//     extension is a still image; any other path is a video file (or a folder,
//     if it turns out to be one).
func ParseSource(s string) (Source, error) {
	bad := func(format string, args ...any) (Source, error) {
		return Source{}, fmt.Errorf("%w: %s", ErrBadSource, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(s) == "" {
		return bad("empty")
	}
	if len(s) > 4096 {
		return bad("longer than 4096 bytes")
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return bad("contains a control character (%U)", r)
		}
	}
	if s != strings.TrimSpace(s) {
		return bad("%q has leading or trailing spaces", redact.URL(s))
	}
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n > maxV4L2Index {
			return bad("device index %q out of range 0..%d", s, maxV4L2Index)
		}
		return Source{Kind: SourceDevice, Index: n, Target: "/dev/video" + strconv.Itoa(n)}, nil
	}
	lower := strings.ToLower(s)
	switch {
	case strings.Contains(s, "!"):
		if strings.HasPrefix(strings.TrimSpace(s), "!") || strings.HasSuffix(s, "!") {
			return bad("GStreamer pipeline %q starts or ends with '!'", redact.URL(s))
		}
		p := s
		if !strings.Contains(p, "appsink") {
			// drop=true max-buffers=1: the sink keeps only the newest frame.
			p += " ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"
		}
		return Source{Kind: SourcePipeline, Index: -1, Target: p}, nil
	case strings.HasPrefix(lower, "rtsp://"), strings.HasPrefix(lower, "rtsps://"),
		strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		rest := s[strings.Index(s, "://")+3:]
		if rest == "" || strings.HasPrefix(rest, "/") {
			return bad("stream URL %q has no host", redact.URL(s))
		}
		if strings.ContainsAny(s, " \t") {
			return bad("stream URL %q contains spaces", redact.URL(s))
		}
		return Source{Kind: SourceStream, Index: -1, Target: s}, nil
	case strings.Contains(s, "://"):
		return bad("unsupported URL scheme in %q (use rtsp://, rtsps://, http:// or https://)", redact.URL(s))
	case strings.HasPrefix(s, "/dev/"):
		if s == "/dev/" || strings.HasSuffix(s, "/") {
			return bad("device path %q names a folder", s)
		}
		return Source{Kind: SourceDevice, Index: -1, Target: filepath.Clean(s)}, nil
	case strings.HasSuffix(s, "/"):
		return Source{Kind: SourceFolder, Index: -1, Target: filepath.Clean(s)}, nil
	case isImageFile(s):
		return Source{Kind: SourceImage, Index: -1, Target: s}, nil
	default:
		return Source{Kind: SourceVideo, Index: -1, Target: s}, nil
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
