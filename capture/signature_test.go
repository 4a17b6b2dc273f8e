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

// TestAreaAverageIsOpenCVs: the face scaled down from the integral image
// is OpenCV's INTER_AREA within a grey level's rounding, for whole and
// fractional scales, so signatures read either way are the same measure
// (the one its limits were chosen with, twenty-seventh round), and
// FaceSignatures of many boxes is FaceSignature of each.
func TestAreaAverageIsOpenCVs(t *testing.T) {
	frame := faceFrame(t, 1280, 720, 1000, image.Pt(100, -100))
	defer frame.Close()
	sensornoise.Add(&frame, 4, rand.New(rand.NewPCG(3, 4)).NormFloat64)
	grey := gocv.NewMat()
	defer grey.Close()
	toGrey(frame, &grey)
	px, err := grey.DataPtrUint8()
	require.NoError(t, err)
	sums := newIntegral(px, grey.Cols(), grey.Rows())
	var boxes []image.Rectangle
	for _, size := range []image.Point{{64, 64}, {65, 71}, {64, 256}, {128, 128}, {240, 240}, {384, 498}, {199, 233}, {640, 640}, {1280, 720}} {
		boxes = append(boxes, image.Rectangle{Max: size}.Add(image.Pt((1280-size.X)/2+1, (720-size.Y)/2)).Intersect(image.Rect(0, 0, 1280, 720)))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 40 {
		w, h := 64+r.IntN(600), 64+r.IntN(600)
		boxes = append(boxes, image.Rect(0, 0, w, h).Add(image.Pt(r.IntN(1280-w), r.IntN(720-h))))
	}
	for _, box := range boxes {
		roi := grey.Region(box)
		want := gocv.NewMat()
		gocv.Resize(roi, &want, image.Pt(signatureSize, signatureSize), 0, 0, gocv.InterpolationArea)
		roi.Close()
		wantPx, err := want.DataPtrUint8()
		require.NoError(t, err)
		got := sums.areaAverage(box, signatureSize)
		off := 0
		for i, g := range got {
			diff := int(g) - int(wantPx[i])
			assert.LessOrEqual(t, diff*diff, 1, "%v: pixel %d reads %d, OpenCV %d", box, i, g, wantPx[i])
			if diff != 0 {
				off++
			}
		}
		assert.LessOrEqual(t, off, len(got)/1000, "%v: %d pixels a grey level off", box, off)
		d, err := lbpSignature(got).Distance(lbpSignature(wantPx))
		want.Close()
		require.NoError(t, err)
		if off > 0 {
			t.Logf("%v: %d of %d pixels a grey level off, signatures %.4f apart", box, off, len(got), d)
		}
		assert.Less(t, d, 0.01, "%v", box)
	}
	boxes = append(boxes, image.Rect(10, 10, 40, 60), image.Rect(-1, 0, 100, 100), image.Rect(0, 0, 100, 10))
	many := FaceSignatures(frame, boxes)
	require.Len(t, many, len(boxes))
	for i, box := range boxes {
		assert.Equal(t, FaceSignature(frame, box), many[i], "%v", box)
	}
	assert.Nil(t, many[len(many)-1], "not a face's shape")
	assert.Nil(t, many[len(many)-2], "outside the frame")
	assert.NoError(t, many[len(many)-3].Valid(), "a small face, scaled up")
}

// TestLBPSignatureIsTheReference: the unrolled patterns are the ones read
// neighbour by neighbour around the circle, on noise and on a face.
func TestLBPSignatureIsTheReference(t *testing.T) {
	reference := func(px []uint8) Signature {
		const n, cell = signatureSize, signatureSize / signatureCells
		sig := make(Signature, SignatureLen)
		var count [signatureCells * signatureCells]int
		around := [8][2]int{{-1, -1}, {-1, 0}, {-1, 1}, {0, 1}, {1, 1}, {1, 0}, {1, -1}, {0, -1}}
		for y := 1; y < n-1; y++ {
			for x := 1; x < n-1; x++ {
				var p uint8
				for i, d := range around {
					if int(px[(y+d[0])*n+x+d[1]]) >= int(px[y*n+x])+signatureMargin {
						p |= 1 << i
					}
				}
				k := (y/cell)*signatureCells + x/cell
				sig[k*uniformPatterns+int(uniformBin[p])]++
				count[k]++
			}
		}
		for i := range sig {
			sig[i] /= float32(count[i/uniformPatterns])
		}
		return sig
	}
	r := rand.New(rand.NewPCG(7, 8))
	noise := make([]uint8, signatureSize*signatureSize)
	for i := range noise {
		noise[i] = uint8(r.IntN(256))
	}
	frame := faceFrame(t, 640, 480, 400, image.Pt(120, 40))
	defer frame.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	toGrey(frame, &grey)
	px, err := grey.DataPtrUint8()
	require.NoError(t, err)
	face := newIntegral(px, grey.Cols(), grey.Rows()).areaAverage(faceIn(400, image.Pt(120, 40)), signatureSize)
	for name, px := range map[string][]uint8{"noise": noise, "a face": face} {
		assert.InDeltaSlice(t, reference(px), lbpSignature(px), 1e-6, name)
	}
}

// TestIntegralOnAKeptBuffer: an integral built on the sums another, larger
// one left is the integral built on fresh memory.
func TestIntegralOnAKeptBuffer(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	px := make([]uint8, 120*90)
	for i := range px {
		px[i] = uint8(r.IntN(256))
	}
	dirty := make([]int64, 301*201)
	for i := range dirty {
		dirty[i] = -1
	}
	got := integralIn(dirty, px, 120, 90)
	require.Same(t, &dirty[0], &got.sum[0], "the buffer was not used")
	require.Equal(t, integralIn(nil, px, 120, 90).sum, got.sum)
	fresh := make([]int64, 121*91)
	for y := range 90 {
		for x := range 120 {
			fresh[(y+1)*121+x+1] = fresh[y*121+x+1] + fresh[(y+1)*121+x] - fresh[y*121+x] + int64(px[y*120+x])
		}
	}
	require.Equal(t, fresh, got.sum)
}
