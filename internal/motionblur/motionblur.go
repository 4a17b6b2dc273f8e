// Package motionblur smears an image along a straight motion, as a camera
// does when the scene moves during the exposure. The liveness check uses
// it to blur a sharp frame as much as the frame it is compared with; the
// evaluation's renders use it to film a picture moved fast.
package motionblur

import (
	"image"
	"math"

	"gocv.io/x/gocv"
)

// Apply smears img, in place, along a motion of (dx, dy) pixels during the
// exposure: each pixel becomes the mean of the scene along that segment,
// centred on it. Under a pixel, or beyond MaxLength, it does nothing.
func Apply(img *gocv.Mat, dx, dy float64) {
	length := math.Hypot(dx, dy)
	if !(length >= 1 && length <= MaxLength) { // NaN too
		return
	}
	k := kernel(dx, dy, length)
	defer k.Close()
	out := gocv.NewMat()
	defer out.Close()
	gocv.Filter2D(*img, &out, -1, k, image.Pt(-1, -1), 0, gocv.BorderReflect)
	out.CopyTo(img)
}

// MaxLength is the longest smear Apply draws (pixels): its kernel is a
// square of that side.
const MaxLength = 512

// kernel is the segment from -(dx, dy)/2 to (dx, dy)/2 drawn with bilinear
// weights that sum to one, as a square CV_32F kernel (the caller closes it).
func kernel(dx, dy, length float64) gocv.Mat {
	half := int(math.Ceil(length/2)) + 1
	size := 2*half + 1
	k := gocv.NewMatWithSize(size, size, gocv.MatTypeCV32F)
	n := int(math.Ceil(4 * length))
	w := float32(1 / float64(n+1))
	for i := 0; i <= n; i++ {
		s := float64(i)/float64(n) - 0.5
		x, y := float64(half)+s*dx, float64(half)+s*dy
		x0, y0 := int(math.Floor(x)), int(math.Floor(y))
		fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
		for _, c := range [4]struct {
			x, y int
			a    float32
		}{{x0, y0, (1 - fx) * (1 - fy)}, {x0 + 1, y0, fx * (1 - fy)}, {x0, y0 + 1, (1 - fx) * fy}, {x0 + 1, y0 + 1, fx * fy}} {
			k.SetFloatAt(c.y, c.x, k.GetFloatAt(c.y, c.x)+w*c.a)
		}
	}
	return k
}
