package capture

import (
	"image"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/sensornoise"
)

// TestUniformBins: the 58 patterns with at most two changes around the
// circle have a bin each, in order; every other pattern shares the last.
func TestUniformBins(t *testing.T) {
	seen := map[uint8]int{}
	for p := range 256 {
		rot := uint8(p)<<1 | uint8(p)>>7
		b := uniformBin[p]
		if bits.OnesCount8(uint8(p)^rot) <= 2 {
			assert.Less(t, int(b), uniformPatterns-1, "pattern %08b", p)
		} else {
			assert.Equal(t, uniformPatterns-1, int(b), "pattern %08b", p)
		}
		seen[b]++
	}
	assert.Len(t, seen, uniformPatterns)
	assert.Equal(t, 256-58, seen[uniformPatterns-1])
}

// TestFaceSignatureTellsFacesApart: the same face under another exposure,
// a webcam's noise or MJPEG reads far closer to itself than to another
// part of the picture or to the face mirrored, which a signature that
// only measured the grey levels or the amount of texture would not.
func TestFaceSignatureTellsFacesApart(t *testing.T) {
	frame := faceFrame(t, 640, 480, 400, image.Pt(120, 40))
	defer frame.Close()
	face := faceIn(400, image.Pt(120, 40))
	chosen := FaceSignature(frame, face)
	require.NoError(t, chosen.Valid())
	for _, tc := range []struct {
		name   string
		box    image.Rectangle // where the later face is read (empty: the face)
		change func(m *gocv.Mat)
		same   bool
	}{
		{"the same frame", image.Rectangle{}, func(*gocv.Mat) {}, true},
		{"contrast 0.7", image.Rectangle{}, func(m *gocv.Mat) { m.ConvertToWithParams(m, gocv.MatTypeCV8UC3, 0.7, 40) }, true},
		{"brighter by 30 grey levels", image.Rectangle{}, func(m *gocv.Mat) { m.ConvertToWithParams(m, gocv.MatTypeCV8UC3, 1, 30) }, true},
		{"camera noise 3 under MJPEG 80", image.Rectangle{}, func(m *gocv.Mat) {
			sensornoise.Add(m, 3, rand.New(rand.NewPCG(1, 2)).NormFloat64)
			mjpeg(t, m, 80)
		}, true},
		{"the face mirrored", image.Rectangle{}, func(m *gocv.Mat) {
			roi := m.Region(face)
			defer roi.Close()
			gocv.Flip(roi, &roi, 1)
		}, false},
		{"the picture beside the face", face.Add(image.Pt(-face.Dx()*2/3, face.Dy()/4)), func(*gocv.Mat) {}, false},
	} {
		later := frame.Clone()
		tc.change(&later)
		box := tc.box
		if box.Empty() {
			box = face
		}
		d, err := chosen.Distance(FaceSignature(later, box))
		later.Close()
		require.NoError(t, err, tc.name)
		t.Logf("%s: %.2f", tc.name, d)
		if tc.same {
			assert.Less(t, d, 3.0, tc.name)
		} else {
			assert.Greater(t, d, 5.0, tc.name)
		}
	}
	d, err := chosen.Distance(chosen)
	require.NoError(t, err)
	assert.Zero(t, d)
}

// TestFaceSignatureOfAnyFrame: the same on grey, BGR and BGRA frames;
// nil for a box outside the frame, too small or too narrow a box, or a
// frame that is not 8-bit.
func TestFaceSignatureOfAnyFrame(t *testing.T) {
	bgr := faceFrame(t, 640, 480, 400, image.Pt(120, 40))
	defer bgr.Close()
	face := faceIn(400, image.Pt(120, 40))
	want := FaceSignature(bgr, face)
	require.Len(t, want, SignatureLen)
	for name, code := range map[string]gocv.ColorConversionCode{"grey": gocv.ColorBGRToGray, "BGRA": gocv.ColorBGRToBGRA} {
		m := gocv.NewMat()
		gocv.CvtColor(bgr, &m, code)
		d, err := want.Distance(FaceSignature(m, face))
		m.Close()
		require.NoError(t, err, name)
		assert.Less(t, d, 0.01, name)
	}
	float := gocv.NewMat()
	defer float.Close()
	bgr.ConvertTo(&float, gocv.MatTypeCV32FC3)
	for name, tc := range map[string]struct {
		m   gocv.Mat
		box image.Rectangle
	}{
		"out of the frame":     {bgr, face.Add(image.Pt(400, 0))},
		"empty":                {bgr, image.Rectangle{}},
		"too small":            {bgr, image.Rect(10, 10, 25, 25)},
		"far wider than tall":  {bgr, image.Rect(0, 0, 400, 20)},
		"far taller than wide": {bgr, image.Rect(0, 0, 20, 400)},
		"a float frame":        {float, face},
	} {
		assert.Nil(t, FaceSignature(tc.m, tc.box), name)
	}
}

// TestSignatureDistanceRefusesWhatIsNoSignature: a signature read back
// from a file may be anything.
func TestSignatureDistanceRefusesWhatIsNoSignature(t *testing.T) {
	good := make(Signature, SignatureLen)
	for i := range good {
		good[i] = 1.0 / uniformPatterns
	}
	bad := func(i int, v float32) Signature {
		s := append(Signature(nil), good...)
		s[i] = v
		return s
	}
	for name, s := range map[string]Signature{
		"nil":       nil,
		"too short": good[:SignatureLen-1],
		"too long":  append(append(Signature(nil), good...), 0),
		"negative":  bad(3, -0.1),
		"NaN":       bad(SignatureLen-1, float32(math.NaN())),
		"infinite":  bad(0, float32(math.Inf(1))),
	} {
		_, err := good.Distance(s)
		assert.Error(t, err, name)
		_, err = s.Distance(good)
		assert.Error(t, err, name)
	}
	zero := make(Signature, SignatureLen)
	d, err := zero.Distance(good)
	require.NoError(t, err)
	assert.InDelta(t, 16, d, 1e-3, "all-zero cells against spread ones: the sum of each cell's values")
}

// BenchmarkFaceSignature: once per selection and once per challenge.
func BenchmarkFaceSignature(b *testing.B) {
	frame := faceFrame(b, 1280, 720, 640, image.Pt(300, 100))
	defer frame.Close()
	face := faceIn(640, image.Pt(300, 100))
	for b.Loop() {
		FaceSignature(frame, face)
	}
}
