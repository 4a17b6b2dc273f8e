package synth

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// turnEverywhere is Turn as first written: the inverse map solved for every
// pixel of the frame. Turn solves it only within reach of the face.
func turnEverywhere(src gocv.Mat, dst *gocv.Mat, face image.Rectangle, yaw float64) {
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
	disp := func(x, y float64) float64 {
		u, v := (x-cx)/rx, (y-cy)/ry
		r2 := u*u + v*v
		if r2 >= 1 {
			return 0
		}
		z := 0.3*math.Sqrt(1-r2) + 0.13*math.Exp(-(u*u)/(2*0.13*0.13)-((v-0.12)*(v-0.12))/(2*0.22*0.22))
		return math.Sqrt(1-r2) * ((x-cx)*(cs-1) + (z+0.25)*fw*sn)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx := float64(x)
			for it := 0; it < 4; it++ {
				sx = float64(x) - disp(sx, float64(y))
			}
			mx[y*w+x] = float32(sx)
			my[y*w+x] = float32(y)
		}
	}
	gocv.Remap(src, dst, &mapX, &mapY, gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
}

// TestTurnOnlyMovesTheFace: solving the map near the face only changes no
// pixel of the result, for small and large turns either way.
func TestTurnOnlyMovesTheFace(t *testing.T) {
	img, face := Face(3, 320, 240)
	defer img.Close()
	got, want, diff := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer got.Close()
	defer want.Close()
	defer diff.Close()
	for _, yaw := range []float64{-0.5, -0.1, 0, 0.05, 0.32, 0.6} {
		Turn(img, &got, face, yaw)
		turnEverywhere(img, &want, face, yaw)
		gocv.AbsDiff(got, want, &diff)
		gray := gocv.NewMat()
		gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
		if n := gocv.CountNonZero(gray); n != 0 {
			t.Errorf("yaw %.2f: %d pixels differ from the full-frame map", yaw, n)
		}
		gray.Close()
	}
	// And the face did move: the check is not comparing two copies.
	Turn(img, &got, face, 0.32)
	gocv.AbsDiff(got, img, &diff)
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
	if gocv.CountNonZero(gray) == 0 {
		t.Fatal("Turn changed nothing")
	}
}
