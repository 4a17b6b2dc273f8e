package capture

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

func TestCropBox(t *testing.T) {
	tests := []struct {
		name  string
		face  image.Rectangle
		frame image.Point
		want  image.Rectangle
	}{
		// 240x240 face: 720x540 box grown to 960x720 around its centre,
		// then shifted inside the 1280x720 frame.
		{"grown to 960x720", image.Rect(520, 240, 760, 480), image.Pt(1280, 720), image.Rect(160, 0, 1120, 720)},
		// 400 px face in a 1920x1080 frame: 1200x900 box, top 240 above the face.
		{"large face", image.Rect(760, 300, 1160, 700), image.Pt(1920, 1080), image.Rect(360, 60, 1560, 960)},
		// Shifted right at the left edge.
		{"left edge", image.Rect(10, 300, 410, 700), image.Pt(1920, 1080), image.Rect(0, 60, 1200, 960)},
		// 640x480 frame: the box cannot be grown; shrunk to the frame.
		{"small frame", image.Rect(229, 149, 469, 389), image.Pt(640, 480), image.Rect(0, 0, 640, 480)},
		// Tall (YuNet) face: enlarged to keep the chin.
		{"tall face", image.Rect(700, 400, 1100, 980), image.Pt(1920, 1080), image.Rect(280, 52, 1520, 982)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CropBox(tt.face, tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("CropBox(%v, %v) = %v, want %v", tt.face, tt.frame, got, tt.want)
			}
		})
	}
}

func TestCropBoxErrors(t *testing.T) {
	if _, err := CropBox(image.Rect(5, 5, 5, 10), image.Pt(100, 100)); err == nil {
		t.Error("empty face accepted")
	}
	if _, err := CropBox(image.Rect(0, 0, 2, 2), image.Pt(3, 2)); err == nil {
		t.Error("frame smaller than 4x3 accepted")
	}
}

// checkCropBox asserts the crop properties for one face and frame.
func checkCropBox(t *testing.T, face image.Rectangle, frame image.Point) {
	t.Helper()
	box, err := CropBox(face, frame)
	if err != nil {
		t.Fatalf("CropBox(%v, %v): %v", face, frame, err)
	}
	fr := image.Rectangle{Max: frame}
	if !box.In(fr) {
		t.Fatalf("box %v not inside frame %v (face %v)", box, frame, face)
	}
	if box.Dx()*3 != box.Dy()*4 || box.Dx() == 0 {
		t.Fatalf("box %v is not 4:3 (face %v frame %v)", box, face, frame)
	}
	fw, fh := face.Dx(), face.Dy()
	if frame.X >= CropWidth && frame.Y >= CropHeight && box.Dx() < CropWidth {
		t.Fatalf("box %v smaller than 960x720 in a %v frame: would upscale", box, frame)
	}
	// The whole face is kept whenever a 4:3 box of the frame can hold it
	// with its headroom.
	maxW := min(frame.X, frame.Y*4/3)
	headroom := (6*fh + 5) / 10
	needW := max(3*fw, (headroom+fh+1)*4/3+4)
	if face.In(fr) && needW <= maxW {
		if !face.In(box) {
			t.Fatalf("face %v not inside box %v (frame %v)", face, box, frame)
		}
		// Headroom: 0.6x the face height above it where the frame has it.
		want := min(headroom, face.Min.Y)
		if got := face.Min.Y - box.Min.Y; got < want {
			t.Fatalf("headroom %d < %d (face %v box %v frame %v)", got, want, face, box, frame)
		}
	}
}

func TestCropBoxProperties(t *testing.T) {
	frames := []image.Point{{640, 480}, {1280, 720}, {1920, 1080}, {800, 761}, {960, 720}, {4000, 3000}, {300, 900}}
	for _, fr := range frames {
		for fw := 20; fw < fr.X; fw += fr.X / 13 {
			for _, ratio := range []float64{1, 1.2, 1.45} {
				fh := int(float64(fw) * ratio)
				for x := 0; x+fw <= fr.X; x += max(1, fr.X/7) {
					for y := 0; y+fh <= fr.Y; y += max(1, fr.Y/5) {
						checkCropBox(t, image.Rect(x, y, x+fw, y+fh), fr)
					}
				}
			}
		}
	}
}

// FuzzCropBox: the crop properties over arbitrary face boxes and frames.
func FuzzCropBox(f *testing.F) {
	f.Add(520, 240, 240, 240, 1280, 720)
	f.Add(0, 0, 640, 480, 640, 480)
	f.Add(700, 300, 300, 440, 1920, 1080)
	f.Add(1, 1, 1, 1, 4, 3)
	f.Fuzz(func(t *testing.T, x, y, w, h, fw, fh int) {
		if fw < 4 || fh < 3 || fw > 8000 || fh > 8000 || w <= 0 || h <= 0 || x < 0 || y < 0 || x+w > fw || y+h > fh {
			return
		}
		checkCropBox(t, image.Rect(x, y, x+w, y+h), image.Pt(fw, fh))
	})
}

func TestCropEncodes960x720(t *testing.T) {
	for _, sz := range []image.Point{{640, 480}, {1280, 720}, {1920, 1080}} {
		frame := faceFrame(t, sz.X, sz.Y, sz.X/2, image.Pt(sz.X/4, sz.Y/8))
		c := newCropper(90)
		data, box, err := c.crop(frame, faceIn(sz.X/2, image.Pt(sz.X/4, sz.Y/8)))
		c.close()
		frame.Close()
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%v: crop is not a JPEG: %v", sz, err)
		}
		if b := img.Bounds(); b.Dx() != CropWidth || b.Dy() != CropHeight {
			t.Fatalf("%v: crop is %v, want 960x720 (box %v)", sz, b, box)
		}
	}
}
