package capture

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"
)

// Output size of the crop sent to the API.
const (
	CropWidth  = 960
	CropHeight = 720
)

// DefaultJPEGQuality is the quality of the crop's JPEG.
const DefaultJPEGQuality = 85

// CropBox returns the 4:3 source rectangle cropped around face in a frame
// of the given size:
//   - centred horizontally on the face, 3x the face width;
//   - its top 0.6x the face height above the face (room for a hard hat);
//     when that height would cut the chin of a tall face box (taller than
//     1.4x its width, as YuNet's are) the box is enlarged, keeping 4:3, to
//     keep the whole face;
//   - shrunk (keeping 4:3) only when the frame is smaller than the box;
//   - grown to exactly 960x720 around the same centre when smaller than that
//     and the frame is at least 960x720, so the crop is never upscaled;
//   - finally shifted to lie inside the frame.
//
// The result always has a 4:3 size (a multiple of 4x3 pixels). It returns an
// error when the face is empty or the frame is smaller than 4x3 pixels.
func CropBox(face image.Rectangle, frame image.Point) (image.Rectangle, error) {
	face = face.Canon()
	if face.Dx() <= 0 || face.Dy() <= 0 {
		return image.Rectangle{}, fmt.Errorf("capture: crop: empty face box %v", face)
	}
	kmax := min(frame.X/4, frame.Y/3)
	if kmax <= 0 {
		return image.Rectangle{}, fmt.Errorf("capture: crop: frame %dx%d too small", frame.X, frame.Y)
	}
	fw, fh := face.Dx(), face.Dy()
	headroom := (6*fh + 5) / 10
	k := ceilDiv(3*fw, 4)                 // width 3*fw → 4k
	k = max(k, ceilDiv(headroom+fh+1, 3)) // height 3k keeps headroom and chin
	top := face.Min.Y - headroom
	if k > kmax {
		k = kmax
	}
	cx := face.Min.X + fw/2
	if k*4 < CropWidth && frame.X >= CropWidth && frame.Y >= CropHeight {
		cy := top + (3*k)/2
		k = CropWidth / 4
		top = cy - (3*k)/2
	}
	w, h := 4*k, 3*k
	x0 := clampInt(cx-w/2, 0, frame.X-w)
	y0 := clampInt(top, 0, frame.Y-h)
	return image.Rect(x0, y0, x0+w, y0+h), nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// cropper cuts and encodes crops, reusing its scratch Mat.
type cropper struct {
	scaled  gocv.Mat
	quality int
}

func newCropper(quality int) *cropper {
	if quality <= 0 || quality > 100 {
		quality = DefaultJPEGQuality
	}
	return &cropper{scaled: gocv.NewMat(), quality: quality}
}

func (c *cropper) close() { c.scaled.Close() }

// crop returns the 960x720 JPEG of face in frame and the source box used.
// The bytes are a Go copy: nothing points into C memory.
func (c *cropper) crop(frame gocv.Mat, face image.Rectangle) ([]byte, image.Rectangle, error) {
	box, err := CropBox(face, image.Pt(frame.Cols(), frame.Rows()))
	if err != nil {
		return nil, box, err
	}
	roi := frame.Region(box)
	defer roi.Close()
	src := roi
	if box.Dx() != CropWidth || box.Dy() != CropHeight {
		gocv.Resize(roi, &c.scaled, image.Pt(CropWidth, CropHeight), 0, 0, gocv.InterpolationArea)
		src = c.scaled
	}
	jpeg, err := encodeJPEG(src, c.quality)
	return jpeg, box, err
}

// encodeJPEG encodes m and copies the bytes out of OpenCV's buffer.
func encodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	return encodeJPEGParams(m, []int{gocv.IMWriteJpegQuality, quality})
}

// encodeJPEGParams is encodeJPEG with OpenCV's IMWRITE_* parameters.
func encodeJPEGParams(m gocv.Mat, params []int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, params)
	if err != nil {
		if buf != nil {
			buf.Close()
		}
		return nil, fmt.Errorf("capture: encode JPEG: %w", err)
	}
	defer buf.Close()
	b := buf.GetBytes()
	out := make([]byte, len(b))
	copy(out, b)
	return out, nil
}
