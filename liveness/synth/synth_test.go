package synth

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// dotAt is the centroid of the pixels brighter than 128 within r of p in
// the grey image img.
func dotAt(t *testing.T, img gocv.Mat, p image.Point, r int) (float64, float64) {
	t.Helper()
	var sx, sy, n float64
	for y := max(0, p.Y-r); y < min(img.Rows(), p.Y+r); y++ {
		for x := max(0, p.X-r); x < min(img.Cols(), p.X+r); x++ {
			if img.GetUCharAt(y, x) > 128 {
				sx, sy, n = sx+float64(x), sy+float64(y), n+1
			}
		}
	}
	if n == 0 {
		t.Fatalf("no dot near %v", p)
	}
	return sx / n, sy / n
}

// TestTurnMovesAHead: dots on the nose, a cheek, the forehead at the face
// box's top corner, the room at the box's lower corner (behind the jaw)
// and the room beside the head, turned either way: the nose moves most,
// the cheek less, both the way of the turn; the room does not move;
// nothing outside HeadBox changes; no turn, or no face box, changes
// nothing.
func TestTurnMovesAHead(t *testing.T) {
	const w, h = 640, 480
	face := image.Rect(240, 130, 400, 338) // 160 x 208, synth.Face's shape
	fw, fh := face.Dx(), face.Dy()
	at := func(fx, fy float64) image.Point {
		return image.Pt(face.Min.X+int(fx*float64(fw)), face.Min.Y+int(fy*float64(fh)))
	}
	dots := map[string]image.Point{
		"nose": at(0.5, 0.56), "cheek": at(0.2, 0.5), "forehead": at(0.12, 0.06),
		"jaw corner": at(0.04, 0.98), "room": at(-0.45, 0.5),
	}
	// One picture per dot, so that no dot is taken for another.
	pictures := map[string]gocv.Mat{}
	img := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer img.Close()
	for name, p := range dots {
		m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
		defer m.Close()
		gocv.Circle(&m, p, 3, color.RGBA{255, 255, 255, 0}, -1)
		gocv.Circle(&img, p, 3, color.RGBA{255, 255, 255, 0}, -1)
		pictures[name] = m
	}
	out := gocv.NewMat()
	defer out.Close()
	Turn(img, &out, face, 0)
	if !equal(img, out) {
		t.Fatal("a turn of 0 changed the picture")
	}
	Turn(img, &out, image.Rectangle{}, 0.3)
	if !equal(img, out) {
		t.Fatal("a turn without a face box changed the picture")
	}
	for _, yaw := range []float64{0.3, -0.3} {
		move := map[string]float64{}
		for name, p := range dots {
			Turn(pictures[name], &out, face, yaw)
			x, y := dotAt(t, out, p, fw/2)
			move[name] = x - float64(p.X)
			if math.Abs(y-float64(p.Y)) > 0.5 {
				t.Errorf("yaw %.2f: the %s moved %.1f px vertically", yaw, name, y-float64(p.Y))
			}
		}
		t.Logf("yaw %.2f: %v", yaw, move)
		s := math.Copysign(1, yaw)
		if s*move["nose"] < 0.15*float64(fw) {
			t.Errorf("yaw %.2f: the nose moved %.1f px, want at least 0.15 face widths the turn's way", yaw, move["nose"])
		}
		if s*move["cheek"] <= 0 || s*(move["nose"]-move["cheek"]) < 0.03*float64(fw) {
			t.Errorf("yaw %.2f: the cheek moved %.1f px, want the turn's way and at least 0.03 face widths less than the nose", yaw, move["cheek"])
		}
		if s*move["forehead"] <= 0 {
			t.Errorf("yaw %.2f: the forehead at the box's top corner moved %.1f px: it is on the head", yaw, move["forehead"])
		}
		for _, still := range []string{"room", "jaw corner"} {
			if math.Abs(move[still]) > 0.5 {
				t.Errorf("yaw %.2f: the %s moved %.1f px: it is the room", yaw, still, move[still])
			}
		}
		Turn(img, &out, face, yaw)
		// Outside HeadBox the picture is untouched.
		hb := HeadBox(face)
		mask := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 0, 0, 0), h, w, gocv.MatTypeCV8UC1)
		gocv.Rectangle(&mask, hb, color.RGBA{}, -1)
		diff := gocv.NewMat()
		gocv.AbsDiff(img, out, &diff)
		outside := gocv.NewMat()
		diff.CopyToWithMask(&outside, mask)
		if n := gocv.CountNonZero(outside); n != 0 {
			t.Errorf("yaw %.2f: %d pixels changed outside HeadBox %v", yaw, n, hb)
		}
		if gocv.CountNonZero(diff) == 0 {
			t.Errorf("yaw %.2f: nothing changed", yaw)
		}
		mask.Close()
		diff.Close()
		outside.Close()
	}
}

// TestTurnRightIsTheMirrorOfLeft: a head centred in the frame turned to
// the right is the mirror image of the mirrored picture turned to the left.
func TestTurnRightIsTheMirrorOfLeft(t *testing.T) {
	img, _ := Face(3, 320, 240)
	defer img.Close()
	face := image.Rect(112, 58, 207, 182) // centred on the frame's middle, 159.5
	flipped, right, left, back := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer closeAll(&flipped, &right, &left, &back)
	gocv.Flip(img, &flipped, 1)
	for _, yaw := range []float64{0.05, 0.32, 0.6} {
		Turn(img, &right, face, -yaw)
		Turn(flipped, &left, face, yaw)
		gocv.Flip(left, &back, 1)
		diff := gocv.NewMat()
		gocv.AbsDiff(right, back, &diff)
		gray := gocv.NewMat()
		gocv.CvtColor(diff, &gray, gocv.ColorBGRToGray)
		gocv.Threshold(gray, &gray, 2, 255, gocv.ThresholdBinary)
		if n := gocv.CountNonZero(gray); n > 0 {
			t.Errorf("yaw %.2f: %d pixels differ from the mirrored left turn", yaw, n)
		}
		diff.Close()
		gray.Close()
	}
}

func equal(a, b gocv.Mat) bool {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	if d.Channels() > 1 {
		gocv.CvtColor(d, &d, gocv.ColorBGRToGray)
	}
	return gocv.CountNonZero(d) == 0
}

func closeAll(ms ...*gocv.Mat) {
	for _, m := range ms {
		m.Close()
	}
}
