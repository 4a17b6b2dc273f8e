//go:build matprofile

package liveness

import (
	"context"
	"image"
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/motionblur"
	"github.com/facegate/facegate/liveness/synth"
)

// TestMatProfileCheck: a check keeps every frame's image until it ends
// (the parallax measured again in one step); every Mat must be closed,
// whether the check ends early, runs the window, restarts or is closed
// half-way.
func TestMatProfileCheck(t *testing.T) {
	start := gocv.MatProfile.Count()
	img, face := synth.Face(1, 640, 480)
	var mats, shaken []gocv.Mat
	for i := 0; i < 38; i++ {
		f := gocv.NewMat()
		synth.Turn(img, &f, face, ramp(time.Duration(i)*time.Second/testFPS, 300*time.Millisecond, 500*time.Millisecond, 20*math.Pi/180))
		mats = append(mats, f)
		// The same frames shaken sideways and smeared by it, so that the
		// smears are matched (matchSmear).
		dx, last := 8*math.Sin(1.3*float64(i)), 8*math.Sin(1.3*float64(i-1))
		m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
		m.SetDoubleAt(0, 0, 1)
		m.SetDoubleAt(1, 1, 1)
		m.SetDoubleAt(0, 2, dx)
		s := gocv.NewMat()
		gocv.WarpAffine(f, &s, m, image.Pt(f.Cols(), f.Rows()))
		m.Close()
		motionblur.Apply(&s, dx-last, 0)
		shaken = append(shaken, s)
	}
	// Glared: clipped patches in the first frame and every other one, or
	// in the later frames only (blurMismatch leaves them out).
	var glared, glaredLater []gocv.Mat
	for i, f := range shaken {
		a, b := f.Clone(), f.Clone()
		at := pt{float64(face.Min.X+face.Max.X) / 2, float64(face.Min.Y) + float64(face.Dy())/6}
		if i%2 == 0 {
			glareOver(a, at, float64(face.Dx())/8, 1.6)
		}
		if i > 0 {
			glareOver(b, at, float64(face.Dx())/8, 1.6)
		}
		glared, glaredLater = append(glared, a), append(glaredLater, b)
	}
	for _, frames := range [][]gocv.Mat{mats, shaken, glared, glaredLater} {
		for _, mode := range []Mode{ModeChallenge, ModePassive} {
			for _, dir := range []Direction{Left, Right} {
				if _, err := Check(context.Background(), Config{}, mode, dir, boxFinder(face), &MatFrames{Mats: frames, FPS: testFPS}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	c, err := NewChecker(Config{}, ModeChallenge, Left)
	if err != nil {
		t.Fatal(err)
	}
	for restart := 0; restart < 2; restart++ {
		if err := c.Start(mats[0], face, nil, 0); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 10; i++ {
			if err := c.Add(mats[i], nil, time.Duration(i)*time.Second/testFPS); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Result(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	closeAll(mats)
	closeAll(shaken)
	closeAll(glared)
	closeAll(glaredLater)
	img.Close()
	if n := gocv.MatProfile.Count() - start; n != 0 {
		var b []byte
		buf := bytesWriter{&b}
		gocv.MatProfile.WriteTo(buf, 1)
		t.Fatalf("%d Mats left open:\n%s", n, b)
	}
}

type bytesWriter struct{ b *[]byte }

func (w bytesWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
