package capture

import (
	"image"
	"testing"

	"gocv.io/x/gocv"
)

// TestFileCropPicksTheLargestAcceptableFace: a photo with several
// acceptable frontal faces (AllowMultiple, as `facegate crop` runs) gives
// the largest, even when a smaller one scores higher (sharper, centred);
// the live gate (one person) still refuses two similar faces.
func TestFileCropPicksTheLargestAcceptableFace(t *testing.T) {
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	// The large face, softened (still above the sharpness gate), at the
	// left edge; the smaller one sharp and in the middle.
	soft := gocv.NewMat()
	defer soft.Close()
	gocv.GaussianBlur(photo, &soft, image.Pt(9, 9), 0, 0, gocv.BorderDefault)
	canvas := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 1300, 2400, gocv.MatTypeCV8UC3)
	defer canvas.Close()
	left := composeOn(canvas, soft, 1150, image.Pt(0, 0))
	defer left.Close()
	both := composeOn(left, photo, 950, image.Pt(1300, 200))
	defer both.Close()

	a := newHaar(t, AnalyzerConfig{AllowMultiple: true})
	an, err := a.Analyze(both)
	if err != nil {
		t.Fatal(err)
	}
	acceptable := 0
	for _, c := range an.Candidates {
		t.Logf("face %v score %.3f reasons %v", c.Face.Box, c.Score, c.Reasons)
		if c.Acceptable() {
			acceptable++
		}
	}
	if acceptable < 2 {
		t.Fatalf("the scene needs two acceptable faces, has %d", acceptable)
	}
	if an.Best != 0 || len(an.Candidates) < 2 {
		t.Fatalf("best is candidate %d (%v), want the largest %v", an.Best, an.Candidates[an.Best].Face.Box, an.Candidates[0].Face.Box)
	}
	if an.Candidates[1].Score <= an.Candidates[0].Score {
		t.Fatalf("the smaller face must outscore the larger one for this test to mean anything (%.3f vs %.3f)", an.Candidates[1].Score, an.Candidates[0].Score)
	}

	live := newHaar(t, AnalyzerConfig{})
	an, err = live.Analyze(both)
	if err != nil {
		t.Fatal(err)
	}
	if an.Best >= 0 || an.Reason != ReasonMultipleFaces {
		t.Fatalf("live gate: best %d reason %s, want multiple_faces", an.Best, an.Reason)
	}
}
