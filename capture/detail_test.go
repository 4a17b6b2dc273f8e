package capture

import (
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/motionblur"
	"github.com/facegate/facegate/internal/sensornoise"
)

// TestFaceDetailComparesAFaceWithItself: the share of the chosen face's
// detail a later frame keeps stays near one when only the exposure or
// the camera's noise changed, and falls below half when the face is
// smeared by motion, under a webcam's noise too, and under MJPEG up to a
// point. The selection's own sharpness (Quality.Sharpness) reads a
// contrast of 0.7 as half the face and lets noise hide a smear: why the
// liveness check's start is not judged by it.
func TestFaceDetailComparesAFaceWithItself(t *testing.T) {
	for _, tc := range []struct {
		name              string
		contrast          float64 // the later frame's
		noise, laterNoise float64 // grey levels on the chosen frame, and on the later one (0: the same)
		jpeg              int     // MJPEG quality of both frames (0: none)
		smearX, smearY    float64 // px of motion blur in the later frame
		lo, hi            float64 // FaceDetail's share
		sharpLo, sharpHi  float64 // Quality.Sharpness's share, for comparison (hi 0: not checked)
	}{
		{"the same frame", 1, 0, 0, 0, 0, 0, 0.99, 1.01, 0.99, 1.01},
		{"contrast 0.7 (exposure settling)", 0.7, 0, 0, 0, 0, 0, 0.9, 1.1, 0, 0.55},
		{"contrast 1.3", 1.3, 0, 0, 0, 0, 0, 0.9, 1.1, 1.5, 2},
		{"camera noise 3", 1, 3, 0, 0, 0, 0, 0.85, 1.15, 0.9, 1.5},
		{"camera noise 6", 1, 6, 0, 0, 0, 0, 0.85, 1.15, 0.9, 2},
		{"contrast 0.7 under noise 4", 0.7, 4, 0, 0, 0, 0, 0.85, 1.15, 0, 0.75},
		{"noise 8 under MJPEG 80", 1, 8, 0, 80, 0, 0, 0.8, 1.2, 0, 0},
		{"noise falling from 10 to 2 under MJPEG 80 (the gain dropping)", 1, 10, 2, 80, 0, 0, 0.6, 1.5, 0, 0},
		{"smeared 8 px", 1, 0, 0, 0, 8, 0, 0, 0.5, 0, 0.5},
		{"smeared 8 px under noise 4", 1, 4, 0, 0, 8, 0, 0, 0.5, 0.25, 1},
		{"smeared 8 px under noise 6", 1, 6, 0, 0, 8, 0, 0, 0.5, 0.3, 1},
		{"smeared 8 px at contrast 0.7 under noise 4", 0.7, 4, 0, 0, 8, 0, 0, 0.5, 0, 1},
		{"smeared 8 px under noise 8 and MJPEG 80", 1, 8, 0, 80, 8, 0, 0, 0.5, 0, 0},
		// Known limit: MJPEG keeps little noise where it is estimated and
		// more where blur is seen; the share is then near the old measure's.
		// A change that removes that noise should fail here, and move this
		// case below 0.5.
		{"known limit: smeared 6x6 px under noise 12 and MJPEG 75 reads as a still face", 1, 12, 0, 75, 6, 6, 0.45, 0.8, 0.45, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chosen := faceFrame(t, 640, 480, 400, image.Pt(120, 40))
			defer chosen.Close()
			face := faceIn(400, image.Pt(120, 40))
			later := chosen.Clone()
			defer later.Close()
			motionblur.Apply(&later, tc.smearX, tc.smearY)
			if tc.contrast != 1 {
				later.ConvertToWithParams(&later, gocv.MatTypeCV8UC3, float32(tc.contrast), float32(128*(1-tc.contrast)))
			}
			rng := rand.New(rand.NewPCG(7, 8))
			laterNoise := tc.laterNoise
			if laterNoise == 0 {
				laterNoise = tc.noise
			}
			sensornoise.Add(&chosen, tc.noise, rng.NormFloat64)
			sensornoise.Add(&later, laterNoise, rng.NormFloat64)
			mjpeg(t, &chosen, tc.jpeg)
			mjpeg(t, &later, tc.jpeg)

			share := FaceDetail(later, face) / FaceDetail(chosen, face)
			sharp := measuredSharpness(t, later, face) / measuredSharpness(t, chosen, face)
			t.Logf("detail share %.3f, sharpness share %.3f", share, sharp)
			assert.GreaterOrEqual(t, share, tc.lo)
			assert.LessOrEqual(t, share, tc.hi)
			if tc.sharpHi > 0 {
				assert.GreaterOrEqual(t, sharp, tc.sharpLo, "the selection's sharpness")
				assert.LessOrEqual(t, sharp, tc.sharpHi, "the selection's sharpness")
			}
		})
	}
}

// mjpeg passes m through a JPEG of the given quality, as a webcam's MJPEG
// stream does (0: not).
func mjpeg(t *testing.T, m *gocv.Mat, quality int) {
	t.Helper()
	if quality == 0 {
		return
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, *m, []int{gocv.IMWriteJpegQuality, quality})
	require.NoError(t, err)
	defer buf.Close()
	out, err := gocv.IMDecode(buf.GetBytes(), gocv.IMReadColor)
	require.NoError(t, err)
	defer out.Close()
	out.CopyTo(m)
}

// TestFaceDetailOfAnyFrame: the same on grey, BGR and BGRA frames; a box
// outside the frame, too small a box or a frame that is not 8-bit has
// none (NaN).
func TestFaceDetailOfAnyFrame(t *testing.T) {
	bgr := faceFrame(t, 640, 480, 400, image.Pt(120, 40))
	defer bgr.Close()
	face := faceIn(400, image.Pt(120, 40))
	want := FaceDetail(bgr, face)
	require.Greater(t, want, 0.0)
	for _, code := range []gocv.ColorConversionCode{gocv.ColorBGRToGray, gocv.ColorBGRToBGRA} {
		m := gocv.NewMat()
		gocv.CvtColor(bgr, &m, code)
		assert.InDelta(t, want, FaceDetail(m, face), 0.03*want, "channels %d", m.Channels())
		m.Close()
	}
	for _, box := range []image.Rectangle{face.Add(image.Pt(640, 0)), image.Rect(10, 10, 16, 16), {},
		image.Rect(0, 100, 640, 108), // far wider than tall: no inner face to measure
		image.Rect(100, 0, 108, 480), // far taller than wide: thousands of rows at 160 px wide
	} {
		assert.True(t, math.IsNaN(FaceDetail(bgr, box)), "box %v", box)
	}
	wide := gocv.NewMat()
	defer wide.Close()
	bgr.ConvertTo(&wide, gocv.MatTypeCV32FC3)
	assert.True(t, math.IsNaN(FaceDetail(wide, face)), "a float frame")
}

// measuredSharpness is the selection's Quality.Sharpness of box.
func measuredSharpness(t *testing.T, frame gocv.Mat, box image.Rectangle) float64 {
	t.Helper()
	scaled, grey, lap, mean, stddev := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&scaled, &grey, &lap, &mean, &stddev} {
			m.Close()
		}
	}()
	normaliseFace(frame, box, &scaled, &grey)
	_, sharp := innerFace(grey, &lap, &mean, &stddev)
	return sharp
}

func BenchmarkFaceDetail(b *testing.B) {
	frame := faceFrame(b, 640, 480, 400, image.Pt(120, 40))
	defer frame.Close()
	face := faceIn(400, image.Pt(120, 40))
	for b.Loop() {
		FaceDetail(frame, face)
	}
}

// TestNoiseProbeIsOneSequence: the kept noise is the fixed sequence
// noiseGains measured with when it drew it at each call, whatever order
// the sizes come in, beyond what is kept too.
func TestNoiseProbeIsOneSequence(t *testing.T) {
	draw := func(n int) []uint8 {
		px := make([]uint8, n)
		drawProbe(rand.New(rand.NewPCG(1, 2)), px)
		return px
	}
	for _, n := range []int{5, 300, 17, 40_000, 299, maxKeptProbe + 3, 40_001, 1} {
		got := make([]uint8, n)
		noiseProbe(got)
		require.Equal(t, draw(n), got, "%d values", n)
	}
}

// TestNthSmallest: the median noiseVariance reads is the one a sort gives,
// with ties, runs and one value.
func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	cases := [][]float32{{3}, {2, 1}, {1, 1, 1, 1}, {5, 4, 3, 2, 1}, {1, 2, 3, 4, 5, 6}}
	for range 200 {
		v := make([]float32, 1+r.IntN(500))
		levels := 1 + r.IntN(20) // few levels: many ties, as the mask's integer responses
		for i := range v {
			v[i] = float32(r.IntN(levels))
		}
		cases = append(cases, v)
	}
	for _, v := range cases {
		sorted := slices.Clone(v)
		slices.Sort(sorted)
		for _, n := range []int{0, len(v) / 2, len(v) - 1} {
			require.Equal(t, sorted[n], nthSmallest(slices.Clone(v), n), "%d of %v", n, v)
		}
	}
}
