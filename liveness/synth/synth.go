// Package synth renders what the liveness checks are tested on: a head
// turning (a depth map over a face photo, so that the nose moves more than
// the outline), and presentation attacks made from a photo (a print moved
// in 3-D, a bent print, a screen with bezel, moiré and glare). It is used
// by the liveness tests and evaluation and by the demo's synthetic worker;
// a render is not evidence of how real people or real prints behave.
package synth

import (
	"image"
	"image/color"
	"math"
	"math/rand"

	"gocv.io/x/gocv"
)

// Turn renders src turned by yaw radians about a vertical axis behind the
// face (positive yaw: the nose moves towards the image's right, the
// person's own left). face is the face box in src; pixels outside the face
// ellipse stay where they are. The depth is a half-ellipsoid head with a
// nose bump, in face widths, so that nose, cheeks and outline move by
// different amounts (parallax). dst is allocated by Turn.
func Turn(src gocv.Mat, dst *gocv.Mat, face image.Rectangle, yaw float64) {
	w, h := src.Cols(), src.Rows()
	mapX := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	mapY := gocv.NewMatWithSize(h, w, gocv.MatTypeCV32F)
	defer mapX.Close()
	defer mapY.Close()
	mx, _ := mapX.DataPtrFloat32()
	my, _ := mapY.DataPtrFloat32()
	fw := float64(face.Dx())
	cx := float64(face.Min.X+face.Max.X) / 2
	cy := float64(face.Min.Y+face.Max.Y) / 2
	rx, ry := float64(face.Dx())/2, float64(face.Dy())/2
	sn, cs := math.Sin(yaw), math.Cos(yaw)
	// disp is how far the pixel at (x, y) of the unturned face moves right.
	disp := func(x, y float64) float64 {
		u, v := (x-cx)/rx, (y-cy)/ry
		r2 := u*u + v*v
		if r2 >= 1 {
			return 0
		}
		z := 0.3*math.Sqrt(1-r2) + 0.13*math.Exp(-(u*u)/(2*0.13*0.13)-((v-0.12)*(v-0.12))/(2*0.22*0.22))
		// Fade the rotation out at the outline so that the face stays attached.
		fade := math.Sqrt(1 - r2)
		return fade * ((x-cx)*(cs-1) + (z+0.25)*fw*sn)
	}
	// The iteration starts at x, where disp is 0 outside the ellipse: only
	// pixels of its bounding box can move, the rest is an identity map (a
	// 1280x720 frame renders in a fraction of the time; the demo prerenders
	// its head turns at start).
	x0, x1 := max(0, int(cx-rx)), min(w, int(math.Ceil(cx+rx))+1)
	y0, y1 := max(0, int(cy-ry)), min(h, int(math.Ceil(cy+ry))+1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx := float64(x)
			if y >= y0 && y < y1 && x >= x0 && x < x1 {
				// Invert x' = x + disp(x) by fixed-point iteration (small displacements).
				for it := 0; it < 4; it++ {
					sx = float64(x) - disp(sx, float64(y))
				}
			}
			mx[y*w+x] = float32(sx)
			my[y*w+x] = float32(y)
		}
	}
	gocv.Remap(src, dst, &mapX, &mapY, gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
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
