// Package synth renders what the liveness checks are tested on: a head
// turning (an ellipsoid head with a nose over a face photo, so that the
// nose moves more than the cheeks and the outline moves over the room),
// and presentation attacks made from a photo (a print moved in 3-D, a
// bent print, a screen with bezel, moiré and glare). It is used
// by the liveness tests and evaluation and by the demo's synthetic worker;
// a render is not evidence of how real people or real prints behave.
package synth

import (
	"image"
	"image/color"
	"math"
	"math/rand"
	"sort"

	"gocv.io/x/gocv"
)

// The head Turn renders around a face box: an ellipsoid a little wider
// than the box and reaching above it (hair), its chin a little below the
// box, so that the box's lower corners show the room behind the jaw as a
// real face box's do. Sizes are of the face box's width (w) or height (h).
const (
	headHalfWidth  = 0.62 // w
	headHalfHeight = 0.72 // h
	headRaise      = 0.12 // h: the head's centre above the box's
	headDepth      = 0.62 // w: the half-depth (round seen from above)
	neckBehind     = 0.15 // w: the turning axis behind the head's centre
	noseHeight     = 0.13 // w: the nose's rise over the head's surface
)

// HeadBox is the part of a frame Turn may change for the face box face:
// the head's bounding box, widened by how far its outline can move.
func HeadBox(face image.Rectangle) image.Rectangle {
	hd := newHead(face)
	a := math.Max(hd.a, hd.c) + hd.d + 2
	return image.Rect(int(math.Floor(hd.cx-a)), int(math.Floor(hd.hy-hd.b-1)),
		int(math.Ceil(hd.cx+a)), int(math.Ceil(hd.hy+hd.b+1)))
}

// Turn renders src with the head around the face box face turned by yaw
// radians about a vertical axis through the neck (positive yaw: the nose
// moves towards the image's right, the person's own left), seen from far
// enough to ignore perspective. The head is an ellipsoid with a nose, so
// that nose, cheeks and outline move by different amounts (parallax), and
// its outline moves over the room: where the head leaves the room shows
// (mirrored from beside the head, the room behind it not being in the
// picture), and the side of the head coming into view is its outline
// mirrored. Pixels outside HeadBox do not move; with no face box nothing
// does. dst is allocated by Turn.
func Turn(src gocv.Mat, dst *gocv.Mat, face image.Rectangle, yaw float64) {
	if face.Empty() {
		src.CopyTo(dst)
		return
	}
	w, h := src.Cols(), src.Rows()
	mapX := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	mapY := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	defer mapX.Close()
	defer mapY.Close()
	mx, _ := mapX.DataPtrFloat32()
	my, _ := mapY.DataPtrFloat32()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			mx[y*w+x], my[y*w+x] = float32(x), float32(y)
		}
	}
	hd := newHead(face)
	for y := 0; y < h; y++ {
		hd.turnRow(mx[y*w:(y+1)*w], float64(y), yaw)
	}
	gocv.Remap(src, dst, &mapX, &mapY, gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
}

// head is Turn's ellipsoid in pixels.
type head struct {
	cx, hy        float64 // the head's centre
	a, b, c       float64 // half-width, half-height, half-depth
	d             float64 // the axis behind the centre
	fw            float64 // the face box's width
	fcy, frx, fry float64 // the face box's centre row and half-sizes (the nose's place)
}

func newHead(face image.Rectangle) head {
	fw, fh := float64(face.Dx()), float64(face.Dy())
	fcy := float64(face.Min.Y+face.Max.Y) / 2
	return head{
		cx: float64(face.Min.X+face.Max.X) / 2, hy: fcy - headRaise*fh,
		a: headHalfWidth * fw, b: headHalfHeight * fh, c: headDepth * fw, d: neckBehind * fw,
		fw: fw, fcy: fcy, frx: fw / 2, fry: fh / 2,
	}
}

// depth is how far the surface at x (from the head's centre) in row y
// stands in front of the centre: the ellipsoid and the nose on it. It is
// the same at -x (the nose is centred), which lets a turn to the right be
// rendered as the mirror image of a turn to the left.
func (hd head) depth(x, y float64) float64 {
	u, v := x/hd.a, (y-hd.hy)/hd.b
	z := hd.c * math.Sqrt(math.Max(0, 1-u*u-v*v))
	nu, nv := x/hd.frx, (y-hd.fcy)/hd.fry
	return z + noseHeight*hd.fw*math.Exp(-(nu*nu)/(2*0.13*0.13)-((nv-0.12)*(nv-0.12))/(2*0.22*0.22))
}

// turnRow sets row (the source x of each output pixel of image row y) for
// the head turned by yaw; rows the head does not reach are left alone. The
// row's surface is sampled finely and each sample moved; samples that land
// behind one already visible (behind the nose, round the far side) are
// hidden, and the visible ones, in order, are inverted by interpolation.
func (hd head) turnRow(row []float32, y, yaw float64) {
	v := (y - hd.hy) / hd.b
	if v*v >= 1 || yaw == 0 {
		return
	}
	half := hd.a * math.Sqrt(1-v*v)
	// A turn to the right is the mirror image of one to the left: work in
	// mirrored coordinates (sign -1) and mirror the result back.
	sign := 1.0
	if yaw < 0 {
		sign = -1
	}
	sn, cs := math.Abs(math.Sin(yaw)), math.Cos(yaw)
	n := int(math.Ceil(4*half)) + 2
	var fx, sx []float64 // visible samples: where they land, where they come from
	for i := 0; i <= n; i++ {
		x := -half + 2*half*float64(i)/float64(n)
		m := x*cs + (hd.depth(x, y)+hd.d)*sn
		if len(fx) > 0 && m <= fx[len(fx)-1] {
			continue
		}
		fx, sx = append(fx, m), append(sx, x)
	}
	// The turned outline: the row's ellipse turned about the axis.
	cr := hd.c / hd.a * half
	e := math.Sqrt(half*half*cs*cs + cr*cr*sn*sn)
	left, right := hd.d*sn-e, math.Max(hd.d*sn+e, fx[len(fx)-1])
	lo, hi := math.Min(-half, left), math.Max(half, right)
	for x := range row {
		o := sign * (float64(x) - hd.cx)
		if o < lo || o > hi {
			continue
		}
		var src float64
		switch {
		case o < left: // the room the head left, mirrored from beside it
			src = -2*half - o
		case o > right:
			src = 2*half - o
		case o < fx[0]: // the side coming into view: its outline mirrored
			src = math.Min(half, sx[0]+(fx[0]-o))
		case o >= fx[len(fx)-1]:
			src = sx[len(sx)-1]
		default:
			k := sort.SearchFloat64s(fx, o)
			if k == 0 {
				k = 1
			}
			t := (o - fx[k-1]) / (fx[k] - fx[k-1])
			src = sx[k-1] + t*(sx[k]-sx[k-1])
		}
		row[x] = float32(hd.cx + sign*src)
	}
}

// PlanePose is the homography of a flat picture of size sz turned by yaw,
// pitch and roll (radians) about its centre, scaled by scale, its centre
// moved to (tx, ty) in the output, seen by a pinhole camera whose focal
// length is focal output pixels (about the frame width for a webcam).
func PlanePose(sz image.Point, yaw, pitch, roll, scale, tx, ty, focal float64) gocv.Mat {
	cx, cy := float64(sz.X)/2, float64(sz.Y)/2
	// R = Rz(roll) * Rx(pitch) * Ry(yaw)
	cyw, syw := math.Cos(yaw), math.Sin(yaw)
	cp, sp := math.Cos(pitch), math.Sin(pitch)
	cr, sr := math.Cos(roll), math.Sin(roll)
	ry := [3][3]float64{{cyw, 0, syw}, {0, 1, 0}, {-syw, 0, cyw}}
	rxm := [3][3]float64{{1, 0, 0}, {0, cp, -sp}, {0, sp, cp}}
	rz := [3][3]float64{{cr, -sr, 0}, {sr, cr, 0}, {0, 0, 1}}
	r := mul3(rz, mul3(rxm, ry))
	// A plane point (u, v) (centred, scaled) goes to R*(u, v, 0) + (0, 0, D),
	// D chosen so that the picture has scale 'scale' at the centre.
	d := focal
	var hm [3][3]float64
	for i := 0; i < 3; i++ {
		hm[i][0] = r[i][0] * scale
		hm[i][1] = r[i][1] * scale
		hm[i][2] = -(r[i][0]*cx + r[i][1]*cy) * scale
	}
	hm[2][2] += d
	// Project: x = focal*X/Z + tx.
	k := [3][3]float64{{focal, 0, tx}, {0, focal, ty}, {0, 0, 1}}
	out := mul3(k, hm)
	m := gocv.NewMatWithSize(3, 3, gocv.MatTypeCV64F)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			m.SetDoubleAt(i, j, out[i][j])
		}
	}
	return m
}

func mul3(a, b [3][3]float64) [3][3]float64 {
	var c [3][3]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// Bent renders the picture src bent around a vertical axis (a cylinder of
// radius radius src pixels, convex towards the camera when radius > 0),
// turned by yaw, scaled by scale with its centre at (tx, ty) over bg (dst
// gets bg's size), seen by a camera of focal length focal output pixels.
func Bent(src, bg gocv.Mat, dst *gocv.Mat, radius, yaw, scale, tx, ty, focal float64) {
	w, h := bg.Cols(), bg.Rows()
	sw, sh := float64(src.Cols()), float64(src.Rows())
	// Columns of the print: arc length s (centred) → 3-D → image x and row scale.
	n := src.Cols() * 4
	xs := make([]float64, n+1)
	ks := make([]float64, n+1)
	ss := make([]float64, n+1)
	for i := 0; i <= n; i++ {
		s := (float64(i)/float64(n) - 0.5) * sw * scale
		R := radius * scale
		X, Z := s, 0.0
		if radius != 0 {
			X, Z = R*math.Sin(s/R), -R*(1-math.Cos(s/R)) // Z towards the camera is negative depth change
		}
		X, Z = X*math.Cos(yaw)+Z*math.Sin(yaw), -X*math.Sin(yaw)+Z*math.Cos(yaw)
		k := focal / (focal + Z)
		xs[i], ks[i], ss[i] = tx+X*k, k, float64(i)/float64(n)*sw
	}
	mapX := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	mapY := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	defer mapX.Close()
	defer mapY.Close()
	mx, _ := mapX.DataPtrFloat32()
	my, _ := mapY.DataPtrFloat32()
	for x := 0; x < w; x++ {
		// Find the print column that lands on x (xs is monotone for moderate yaw).
		j := -1
		for i := 0; i < n; i++ {
			if (xs[i] <= float64(x) && float64(x) < xs[i+1]) || (xs[i+1] <= float64(x) && float64(x) < xs[i]) {
				j = i
				break
			}
		}
		for y := 0; y < h; y++ {
			if j < 0 {
				mx[y*w+x], my[y*w+x] = -1, -1
				continue
			}
			k := ks[j]
			sy := (float64(y)-ty)/(k*scale) + sh/2
			mx[y*w+x], my[y*w+x] = float32(ss[j]), float32(sy)
		}
	}
	warped := gocv.NewMat()
	defer warped.Close()
	gocv.Remap(src, &warped, &mapX, &mapY, gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	mask := gocv.NewMat()
	defer mask.Close()
	ones := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), src.Rows(), src.Cols(), src.Type())
	defer ones.Close()
	gocv.Remap(ones, &mask, &mapX, &mapY, gocv.InterpolationNearestNeighbor, gocv.BorderConstant, color.RGBA{})
	bg.CopyTo(dst)
	warped.CopyToWithMask(dst, mask)
}

// OverBackground warps src by the homography m onto a copy of bg in dst.
func OverBackground(src, bg gocv.Mat, dst *gocv.Mat, m gocv.Mat) {
	warped := gocv.NewMat()
	defer warped.Close()
	mask := gocv.NewMat()
	defer mask.Close()
	ones := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), src.Rows(), src.Cols(), src.Type())
	defer ones.Close()
	sz := image.Pt(bg.Cols(), bg.Rows())
	gocv.WarpPerspectiveWithParams(src, &warped, m, sz, gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	gocv.WarpPerspectiveWithParams(ones, &mask, m, sz, gocv.InterpolationNearestNeighbor, gocv.BorderConstant, color.RGBA{})
	bg.CopyTo(dst)
	warped.CopyToWithMask(dst, mask)
}

// Screen draws src as shown on a phone: a black bezel of bezel pixels
// around it and a moiré grating of the given period (pixels, 0 for none)
// and strength (0..1). dst gets the larger size.
func Screen(src gocv.Mat, dst *gocv.Mat, bezel int, period, strength float64) {
	gocv.CopyMakeBorder(src, dst, bezel, bezel, bezel, bezel, gocv.BorderConstant, color.RGBA{A: 255})
	if period <= 0 {
		return
	}
	w, h := dst.Cols(), dst.Rows()
	px, _ := dst.DataPtrUint8()
	ch := dst.Channels()
	for y := bezel; y < h-bezel; y++ {
		for x := bezel; x < w-bezel; x++ {
			f := 1 - strength*0.5*(1+math.Sin(2*math.Pi*(float64(x)+0.3*float64(y))/period))
			for c := 0; c < ch; c++ {
				i := (y*w+x)*ch + c
				px[i] = uint8(float64(px[i]) * f)
			}
		}
	}
}

// Glare adds a soft white reflection of the given radius centred at c
// (output pixels) to img, in place. A reflection stays with the room's
// lights, not with the screen, so callers move it independently.
func Glare(img *gocv.Mat, c image.Point, radius, strength float64) {
	x0, x1 := max(0, c.X-int(2*radius)), min(img.Cols(), c.X+int(2*radius))
	y0, y1 := max(0, c.Y-int(2*radius)), min(img.Rows(), c.Y+int(2*radius))
	px, err := img.DataPtrUint8()
	if err != nil {
		return
	}
	w, ch := img.Cols(), img.Channels()
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			d2 := float64((x-c.X)*(x-c.X)+(y-c.Y)*(y-c.Y)) / (radius * radius)
			a := strength * math.Exp(-d2)
			for k := 0; k < ch; k++ {
				i := (y*w+x)*ch + k
				v := float64(px[i])
				px[i] = uint8(math.Min(255, v+(255-v)*a))
			}
		}
	}
}

// Shake is hand tremor: a smooth random walk of a few pixels and a
// fraction of a degree, deterministic for a seed.
type Shake struct {
	rng            *rand.Rand
	X, Y, Rot      float64
	vx, vy, vr     float64
	Amplitude, Deg float64
}

// NewShake returns a tremor of about amplitude pixels and deg degrees.
func NewShake(seed int64, amplitude, deg float64) *Shake {
	return &Shake{rng: rand.New(rand.NewSource(seed)), Amplitude: amplitude, Deg: deg}
}

// Step advances the tremor by one frame.
func (s *Shake) Step() {
	s.vx = 0.7*s.vx + 0.3*s.rng.NormFloat64()*s.Amplitude - 0.1*s.X
	s.vy = 0.7*s.vy + 0.3*s.rng.NormFloat64()*s.Amplitude - 0.1*s.Y
	s.vr = 0.7*s.vr + 0.3*s.rng.NormFloat64()*s.Deg - 0.1*s.Rot
	s.X += s.vx
	s.Y += s.vy
	s.Rot += s.vr
}

// Face draws a textured cartoon face (eyes, brows, nose, mouth, freckles)
// over a textured background: a self-contained subject for tests. It
// returns the image and the face box.
func Face(seed int64, w, h int) (gocv.Mat, image.Rectangle) {
	rng := rand.New(rand.NewSource(seed))
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 110, 100, 0), h, w, gocv.MatTypeCV8UC3)
	for i := 0; i < 200; i++ {
		c := color.RGBA{uint8(rng.Intn(200)), uint8(rng.Intn(200)), uint8(rng.Intn(200)), 0}
		p := image.Pt(rng.Intn(w), rng.Intn(h))
		gocv.Rectangle(&img, image.Rectangle{p, p.Add(image.Pt(5+rng.Intn(30), 5+rng.Intn(30)))}, c, -1)
	}
	fw := w * 3 / 10
	fh := fw * 13 / 10
	box := image.Rect(w/2-fw/2, h/2-fh/2, w/2+fw/2, h/2+fh/2)
	cx, cy := w/2, h/2
	gocv.Ellipse(&img, image.Pt(cx, cy), image.Pt(fw/2, fh/2), 0, 0, 360, color.RGBA{150, 180, 220, 0}, -1)
	for i := 0; i < 120; i++ { // skin texture: freckles of varied size
		a := rng.Float64() * 2 * math.Pi
		r := math.Sqrt(rng.Float64()) * 0.9
		p := image.Pt(cx+int(r*math.Cos(a)*float64(fw)/2), cy+int(r*math.Sin(a)*float64(fh)/2))
		g := uint8(90 + rng.Intn(60))
		gocv.Circle(&img, p, 1+rng.Intn(3), color.RGBA{g, g + 20, g + 50, 0}, -1)
	}
	dark := color.RGBA{40, 40, 60, 0}
	for _, sx := range []int{-1, 1} {
		e := image.Pt(cx+sx*fw/5, cy-fh/8)
		gocv.Ellipse(&img, e, image.Pt(fw/10, fw/20), 0, 0, 360, color.RGBA{240, 240, 240, 0}, -1)
		gocv.Circle(&img, e, fw/28, dark, -1)
		gocv.Line(&img, e.Add(image.Pt(-fw/10, -fw/10)), e.Add(image.Pt(fw/10, -fw/8)), dark, 3)
	}
	gocv.Line(&img, image.Pt(cx, cy-fh/12), image.Pt(cx-fw/25, cy+fh/10), color.RGBA{110, 130, 170, 0}, 2)
	gocv.Circle(&img, image.Pt(cx-fw/20, cy+fh/9), fw/40, dark, -1)
	gocv.Circle(&img, image.Pt(cx+fw/20, cy+fh/9), fw/40, dark, -1)
	gocv.Ellipse(&img, image.Pt(cx, cy+fh/4), image.Pt(fw/7, fw/20), 0, 0, 180, color.RGBA{60, 60, 160, 0}, 3)
	return img, box
}
