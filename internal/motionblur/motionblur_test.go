package motionblur

import (
	"math"
	"testing"

	"gocv.io/x/gocv"
)

func TestMotionBlurSpreadsAPointAlongTheMotion(t *testing.T) {
	img := gocv.NewMatWithSize(41, 41, gocv.MatTypeCV8U)
	defer img.Close()
	img.SetUCharAt(20, 20, 250)
	Apply(&img, 10, 0)
	var sum, lit int
	for y := 0; y < 41; y++ {
		for x := 0; x < 41; x++ {
			v := int(img.GetUCharAt(y, x))
			sum += v
			if v == 0 {
				continue
			}
			lit++
			if y < 19 || y > 21 || x < 14 || x > 26 {
				t.Errorf("light at (%d, %d): want it on the 10 px segment through (20, 20)", x, y)
			}
		}
	}
	if lit < 9 {
		t.Errorf("%d pixels lit, want the point spread over about 10", lit)
	}
	if sum < 200 || sum > 300 {
		t.Errorf("total light %d, want about the point's 250", sum)
	}

	still := gocv.NewMatWithSize(5, 5, gocv.MatTypeCV8U)
	defer still.Close()
	still.SetUCharAt(2, 2, 200)
	Apply(&still, 0.5, 0.5)
	if got := still.GetUCharAt(2, 2); got != 200 {
		t.Errorf("a motion under a pixel changed the point to %d", got)
	}
}

func TestMotionBlurLeavesImpossibleMotionsAlone(t *testing.T) {
	img := gocv.NewMatWithSize(9, 9, gocv.MatTypeCV8U)
	defer img.Close()
	img.SetUCharAt(4, 4, 200)
	for _, d := range [][2]float64{{math.NaN(), 0}, {math.Inf(1), 0}, {0, -math.Inf(1)}, {MaxLength + 1, 0}} {
		Apply(&img, d[0], d[1])
		if got := img.GetUCharAt(4, 4); got != 200 {
			t.Fatalf("a motion of %v changed the image (point now %d)", d, got)
		}
	}
}
