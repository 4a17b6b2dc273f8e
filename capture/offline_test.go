package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// TestBestFaceInGeneratedVideo runs the offline pipeline on a clip written
// at run time: face.jpg sliding across a 640x360 frame.
func TestBestFaceInGeneratedVideo(t *testing.T) {
	path := writeTestVideo(t, 20, 640, 360, 15)
	a := newHaar(t, AnalyzerConfig{})
	res, err := BestFaceInFile(context.Background(), VideoFile(path), a, 85)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Frames != 20 {
		t.Fatalf("found %v in %d frames (reasons %v)", res.Found, res.Frames, res.Reasons)
	}
	want := faceIn(320, image.Pt(res.Frame*640/40, 360/8))
	if !matches(res.Selection.Face, want) {
		t.Fatalf("frame %d: face %v, want about %v", res.Frame, res.Selection.Face, want)
	}
	img, err := jpeg.Decode(bytes.NewReader(res.Selection.JPEG))
	if err != nil || img.Bounds().Dx() != 960 || img.Bounds().Dy() != 720 {
		t.Fatalf("crop: %v %v", err, img)
	}
}

func TestBestFaceInImage(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	res, err := BestFaceInFile(context.Background(), ImageFile(gocvImage(t, "face.jpg")), a, 90)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Frame != 0 || res.Frames != 1 {
		t.Fatalf("%+v", res)
	}
	// The 640x480 frame is smaller than 960x720: the whole frame is scaled.
	if res.Selection.Crop != image.Rect(0, 0, 640, 480) {
		t.Fatalf("crop box %v", res.Selection.Crop)
	}
}

func TestBestFaceInFileErrors(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.jpg")
	if err := os.WriteFile(garbage, []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbageVideo := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbageVideo, []byte("not a video"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Source
		want error
	}{
		{"missing image", ImageFile(filepath.Join(dir, "missing.jpg")), ErrOpen},
		{"missing video", VideoFile(filepath.Join(dir, "missing.mp4")), ErrOpen},
		{"garbage image", ImageFile(garbage), ErrBadImage},
		{"garbage video", VideoFile(garbageVideo), nil},
		{"device", Source{Kind: SourceDevice, Index: 0}, ErrBadSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BestFaceInFile(context.Background(), tt.src, a, 90)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}
