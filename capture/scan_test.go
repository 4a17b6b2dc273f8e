package capture

import (
	"errors"
	"image"
	"testing"

	"gocv.io/x/gocv"
)

// TestOctaveScanFindsWhatOneCallFinds: the octave scan (haarScan) finds
// nearly every face that one DetectMultiScale call over all sizes finds,
// for faces from 90 to 420 px in a textured 1280x720 scene.
func TestOctaveScanFindsWhatOneCallFinds(t *testing.T) {
	if testing.Short() {
		t.Skip("about 5 s of Haar scans")
	}
	a := newHaar(t, AnalyzerConfig{})
	scene := benchScene(t, 1280, 720)
	defer scene.Close()
	person := readTestImage(t, gocvImage(t, "face.jpg"))
	defer person.Close()
	scale := float64(detectWidth) / 1280
	small, grey, eq := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer small.Close()
	defer grey.Close()
	defer eq.Close()
	one, octave, total := 0, 0, 0
	for faceW := 90; faceW <= 420; faceW += 30 {
		for _, cx := range []int{320, 640, 960} {
			photoW := faceW * 640 / 240 // face.jpg's face is 240 of its 640 px
			at := image.Pt(cx-photoW/2, 330-photoW*269/640)
			truth := scaleRect(faceIn(photoW, at), scale)
			frame := composeOn(scene, person, photoW, at)
			gocv.Resize(frame, &small, image.Pt(detectWidth, 234), 0, 0, gocv.InterpolationLinear)
			frame.Close()
			gocv.CvtColor(small, &grey, gocv.ColorBGRToGray)
			gocv.EqualizeHist(grey, &eq)
			hit := func(rs []image.Rectangle) bool {
				for _, r := range rs {
					if IoU(r, truth) > 0.4 {
						return true
					}
				}
				return false
			}
			total++
			if hit(a.face.DetectMultiScaleWithParams(eq, haarScaleStep, haarNeighbors, 0, image.Pt(24, 24), image.Pt(0, 0))) {
				one++
			}
			if hit(a.haarScan(eq, 24, 0)) {
				octave++
			} else {
				t.Logf("octave scan missed the %d px face at x %d", faceW, cx)
			}
		}
	}
	t.Logf("faces found: one call %d, octave scan %d, of %d", one, octave, total)
	if octave < total*85/100 || octave < one-2 {
		t.Fatalf("octave scan found %d faces, one call %d, of %d", octave, one, total)
	}
}

// TestHaarScanSizeLimits: the octave boundaries and maxSize are honoured
// (a tracked search between two sizes finds the face between them).
func TestHaarScanSizeLimits(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	frame := benchFrame(t, 1280, 720)
	defer frame.Close()
	an, err := a.Analyze(frame)
	if err != nil || an.Best < 0 {
		t.Fatalf("no face: %v %+v", err, an)
	}
	w := scaleRect(an.Candidates[an.Best].Face.Box, float64(detectWidth)/1280).Dx()
	for _, tt := range []struct {
		lo, hi int
		want   bool
	}{
		{w * 3 / 4, w * 4 / 3, true},
		{24, w / 2, false},
		{w * 2, 0, false},
		{24, 0, true},
	} {
		got := false
		for _, r := range a.haarScan(a.eq, tt.lo, tt.hi) {
			if tt.hi > 0 && r.Dx() > tt.hi*5/4 || r.Dx() < tt.lo*4/5 {
				t.Errorf("sizes %d-%d: face %v outside them", tt.lo, tt.hi, r)
			}
			got = true
		}
		if got != tt.want {
			t.Errorf("sizes %d-%d (face %d): found %v, want %v", tt.lo, tt.hi, w, got, tt.want)
		}
	}
}

// TestLearntSceneNarrowsTheSearch: after the empty scene is learnt, a
// person walking in is found with only their part of the frame searched;
// a change of light searches the whole frame.
func TestLearntSceneNarrowsTheSearch(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	scene := benchScene(t, 1280, 720)
	defer scene.Close()
	frame := benchFrame(t, 1280, 720)
	defer frame.Close()
	full := image.Rect(0, 0, detectWidth, 234)
	learnScene(t, a, scene)
	if !a.haveBg {
		t.Fatal("empty scene not learnt")
	}
	a.forgetFaces()
	an, err := a.Analyze(frame)
	if err != nil || an.Best < 0 {
		t.Fatalf("person not found: %v %+v", err, an)
	}
	region := a.changedRegion(full)
	person := scaleRect(image.Rect(320, 90, 960, 570), float64(detectWidth)/1280) // the composed photo
	if region == full || !person.Inset(2).In(region) {
		t.Fatalf("searched %v, want a part of %v holding the person at %v", region, full, person)
	}
	// The same scene, nothing changed: nothing to search.
	a.Analyze(scene)
	if r := a.changedRegion(full); !r.Empty() {
		t.Fatalf("unchanged scene: region %v, want empty", r)
	}
	// Lights on: every block changes.
	bright := gocv.NewMat()
	defer bright.Close()
	scene.ConvertToWithParams(&bright, gocv.MatTypeCV8UC3, 1, 40)
	a.Analyze(bright)
	if r := a.changedRegion(full); r != full {
		t.Fatalf("brighter scene: region %v, want the whole %v", r, full)
	}
}

// TestPersonInTheLearntSceneIsFound: a face that became part of the
// learnt scene (it stood still while missed) is still found by the
// unrestricted scans, within bgFullEvery analysed frames.
func TestPersonInTheLearntSceneIsFound(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{})
	frame := benchFrame(t, 1280, 720)
	defer frame.Close()
	a.Analyze(frame)
	a.grey.CopyTo(&a.bg) // learnt with the person in it
	a.haveBg = true
	for i := 1; i <= bgFullEvery; i++ {
		a.forgetFaces()
		an, err := a.Analyze(frame)
		if err != nil {
			t.Fatal(err)
		}
		if an.Best >= 0 {
			if i == 1 {
				t.Fatal("found in the first frame: the learnt scene was not used")
			}
			return
		}
	}
	t.Fatalf("person hidden in the learnt scene not found in %d frames", bgFullEvery)
}

// TestExpectFaceSkipsSmallerFaces: told to expect a face (the one the
// capture chose), a reset analyzer's next search still covers the whole
// frame and finds that face with the very box a search of every size
// finds, but not a face under half its width, and stops its eye search
// at the first eye; the frame after is analysed in full.
func TestExpectFaceSkipsSmallerFaces(t *testing.T) {
	a := newHaar(t, AnalyzerConfig{AllowMultiple: true})
	scene := benchScene(t, 1280, 720)
	defer scene.Close()
	person := readTestImage(t, gocvImage(t, "face.jpg"))
	defer person.Close()
	one := composeOn(scene, person, 800, image.Pt(0, 60))
	defer one.Close()
	two := composeOn(one, person, 320, image.Pt(880, 300)) // a face of 120 px beside one of 300
	defer two.Close()

	all, err := a.Analyze(two)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Candidates) != 2 {
		t.Fatalf("a search of every size found %d faces, want the two: %+v", len(all.Candidates), all.Candidates)
	}
	big := all.Candidates[0].Face.Box // largest first
	a.Reset()
	if !a.ExpectFace(big) {
		t.Fatal("Haar did not narrow its search")
	}
	got, err := a.Analyze(two)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Candidates) != 1 || got.Candidates[0].Face.Box != big {
		t.Fatalf("expecting %v, found %+v; want that box alone", big, got.Candidates)
	}
	if all.Candidates[0].Quality.Eyes != 2 || got.Candidates[0].Quality.Eyes != 1 {
		t.Fatalf("eyes found: %d searching every size, %d expecting the face; want 2 and 1 (the search stops at the first)",
			all.Candidates[0].Quality.Eyes, got.Candidates[0].Quality.Eyes)
	}
	if next, err := a.Analyze(two); err != nil || len(next.Candidates) == 0 || next.Candidates[0].Quality.Eyes != 2 {
		t.Fatalf("the frame after: %+v, %v; want the face measured in full again", next.Candidates, err)
	}
	a.Reset()
	if a.ExpectFace(image.Rectangle{}) { // nothing expected: every size again
		t.Fatal("an empty box narrowed the search")
	}
	if again, err := a.Analyze(two); err != nil || len(again.Candidates) != 2 {
		t.Fatalf("after an empty expectation: %d faces, %v", len(again.Candidates), err)
	}
	// An expectation ends with the frame it was for, even one refused.
	a.Reset()
	a.ExpectFace(big)
	bad := gocv.NewMat()
	defer bad.Close()
	if _, err := a.Analyze(bad); !errors.Is(err, ErrBadImage) {
		t.Fatalf("an empty frame: %v, want ErrBadImage", err)
	}
	if after, err := a.Analyze(two); err != nil || len(after.Candidates) != 2 {
		t.Fatalf("after a refused frame: %d faces, %v; want both, as a reset analyzer finds", len(after.Candidates), err)
	}
}
