package liveness

import (
	"image"
	"math"
	"reflect"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestFitsAreMeasuredOncePerCheck: a verdict read again reuses the
// plane fits of the frames it measured, and a checker started again
// measures its new frames (the cache of the check before would give the
// head's parallax to a print).
func TestFitsAreMeasuredOncePerCheck(t *testing.T) {
	img, face := synth.Face(1, 640, 480)
	defer img.Close()
	bg := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 70, 80, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer bg.Close()
	head := func(at time.Duration, dst *gocv.Mat) {
		synth.Turn(img, dst, face, ramp(at, 300*time.Millisecond, 600*time.Millisecond, 0.35))
	}
	print := func(at time.Duration, dst *gocv.Mat) {
		m := synth.PlanePose(image.Pt(640, 480), ramp(at, 300*time.Millisecond, 600*time.Millisecond, 25*math.Pi/180), 0, 0, 1, 320, 240, 640)
		defer m.Close()
		synth.OverBackground(img, bg, dst, m)
	}
	fresh := sequence(t, Left, face, 30, print)
	if fresh.Live {
		t.Fatalf("the print alone reads live (%v): the test cannot tell a stale fit", fresh.Cues)
	}

	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	feed(t, c, face, 30, head)
	first, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !first.Live {
		t.Fatalf("the head reads %v (%+v): the test needs a live first check", first.Reasons, first.Cues)
	}
	if len(c.fits) == 0 {
		t.Fatal("no plane fit was kept")
	}
	again, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("the verdict read again differs:\n%+v\n%+v", again, first)
	}

	feed(t, c, face, 30, print)
	second, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, fresh) {
		t.Fatalf("a checker started again reads the print as\n%+v %v\nand a new checker as\n%+v %v", second.Cues, second.Reasons, fresh.Cues, fresh.Reasons)
	}
}
