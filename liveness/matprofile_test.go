//go:build matprofile

package liveness

import (
	"context"
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/liveness/synth"
)

// TestMatProfileCheck: a check keeps every frame's image until it ends
// (the parallax measured again in one step); every Mat must be closed,
// whether the check ends early, runs the window, restarts or is closed
// half-way.
func TestMatProfileCheck(t *testing.T) {
	start := gocv.MatProfile.Count()
	img, face := synth.Face(1, 640, 480)
	var mats []gocv.Mat
	for i := 0; i < 38; i++ {
		f := gocv.NewMat()
		synth.Turn(img, &f, face, ramp(time.Duration(i)*time.Second/testFPS, 300*time.Millisecond, 500*time.Millisecond, 20*math.Pi/180))
		mats = append(mats, f)
	}
	for _, mode := range []Mode{ModeChallenge, ModePassive} {
		for _, dir := range []Direction{Left, Right} {
			frames := &MatFrames{Mats: mats, FPS: testFPS}
			if _, err := Check(context.Background(), Config{}, mode, dir, boxFinder(face), frames); err != nil {
				t.Fatal(err)
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
	for _, f := range mats {
		f.Close()
	}
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
