package capture

import (
	"image"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"
)

// twoFaces is a 1280×720 frame with face.jpg at left and at right, and
// the boxes Analyze finds there, left first.
func twoFaces(t *testing.T) (gocv.Mat, []image.Rectangle) {
	t.Helper()
	left := faceFrame(t, 1280, 720, 560, image.Pt(0, 150))
	defer left.Close()
	photo := readTestImage(t, gocvImage(t, "face.jpg"))
	defer photo.Close()
	frame := composeOn(left, photo, 560, image.Pt(680, 150))
	an := newHaar(t, AnalyzerConfig{AllowMultiple: true})
	a, err := an.Analyze(frame)
	require.NoError(t, err)
	var boxes []image.Rectangle
	for _, c := range a.Candidates {
		boxes = append(boxes, c.Face.Box)
	}
	require.Len(t, boxes, 2, "Analyze's faces")
	if boxes[0].Min.X > boxes[1].Min.X {
		boxes[0], boxes[1] = boxes[1], boxes[0]
	}
	return frame, boxes
}

// TestFindChosenSearchesAroundTheChosenFace: with Haar, the frame after a
// choice is searched around the chosen face at its size (the other face
// is not looked for), the whole frame when nothing is there, and without
// a chosen face as Analyze searches it.
func TestFindChosenSearchesAroundTheChosenFace(t *testing.T) {
	frame, boxes := twoFaces(t)
	defer frame.Close()
	an := newHaar(t, AnalyzerConfig{AllowMultiple: true})
	found := func(chosen image.Rectangle, f gocv.Mat) []image.Rectangle {
		an.Reset()
		faces, err := an.FindChosen(f, chosen)
		require.NoError(t, err)
		var got []image.Rectangle
		for _, face := range faces {
			got = append(got, face.Box)
		}
		return got
	}
	for i, chosen := range boxes {
		got := found(chosen, frame)
		require.Len(t, got, 1, "around face %d", i)
		assert.GreaterOrEqual(t, IoU(got[0], chosen), 0.7, "around face %d: %v, Analyze's %v", i, got[0], chosen)
	}
	assert.Len(t, found(image.Rectangle{}, frame), 2, "no chosen face: the whole frame")

	// The left face gone: nothing around it, the right one found in
	// the whole frame.
	right := faceFrame(t, 1280, 720, 560, image.Pt(680, 150))
	defer right.Close()
	got := found(boxes[0], right)
	require.Len(t, got, 1)
	assert.GreaterOrEqual(t, IoU(got[0], boxes[1]), 0.7, "the face elsewhere: %v, Analyze's %v", got[0], boxes[1])
}

// TestIsFace: the faces Analyze keeps are faces; a box as large on a
// plain wall, where the eye search finds nothing, is not; a box too small
// for eyes is taken, as Analyze takes it (to say "come closer").
func TestIsFace(t *testing.T) {
	frame, boxes := twoFaces(t)
	defer frame.Close()
	an := newHaar(t, AnalyzerConfig{AllowMultiple: true})
	for _, b := range boxes {
		assert.True(t, an.IsFace(frame, Face{Box: b}), "%v", b)
	}
	wall := image.Rect(560, 10, 720, 170)
	assert.False(t, an.IsFace(frame, Face{Box: wall}), "the wall at %v", wall)
	small := image.Rect(600, 20, 600+an.Thresholds().MinFaceWidth-1, 20+an.Thresholds().MinFaceWidth-1)
	assert.True(t, an.IsFace(frame, Face{Box: small}), "a box too small for eyes")
}

// TestFindChosenWithYuNet: YuNet finds the faces Analyze gives (all of
// them faces) whatever box was chosen. Needs ../shared's model.
func TestFindChosenWithYuNet(t *testing.T) {
	frame, _ := twoFaces(t)
	defer frame.Close()
	an, err := NewAnalyzer(AnalyzerConfig{Detector: DetectorYuNet, Model: yunetModel(t), AllowMultiple: true})
	require.NoError(t, err)
	defer an.Close()
	a, err := an.Analyze(frame)
	require.NoError(t, err)
	var want []Face
	for _, c := range a.Candidates {
		want = append(want, c.Face)
	}
	an.Reset()
	got, err := an.FindChosen(frame, want[0].Box)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	for _, f := range got {
		assert.True(t, an.IsFace(frame, f))
	}
}
