package capture

import (
	"fmt"
	"image"
	"math"
	"math/bits"
	"sync"

	"gocv.io/x/gocv"
)

// FaceSignature is a face's texture, for telling whether two boxes a
// moment apart hold the same face: the liveness challenge's first face
// against the one the selection chose (Selection.Signature), so that a
// picture held up for the choice and taken away for the challenge is
// seen. It is the histograms of uniform local binary patterns (8
// neighbours, radius 1, a neighbour counting as brighter from
// signatureMargin grey levels up) of the face scaled to signatureSize px
// square, in signatureCells×signatureCells cells, each normalised to sum
// 1: a texture measure that a change of exposure leaves nearly as it was
// (it compares grey levels, it does not read them). Nil when box is not a
// face inside the frame or the frame is not 8-bit.
func FaceSignature(frame gocv.Mat, box image.Rectangle) Signature {
	return FaceSignatures(frame, []image.Rectangle{box})[0]
}

// FaceSignatures is FaceSignature of each box of one frame, converting
// the boxes' union to grey once: the liveness check compares 27 boxes
// around its first face. A face at least signatureSize px a side is
// scaled down by its area average read from the union's integral image,
// the same average OpenCV's INTER_AREA takes (within a grey level's
// rounding, TestAreaAverageIsOpenCVs) at a third of the cost; a smaller
// one is scaled up by OpenCV, as INTER_AREA does it.
func FaceSignatures(frame gocv.Mat, boxes []image.Rectangle) []Signature {
	sigs := make([]Signature, len(boxes))
	if !eightBit(frame) {
		return sigs
	}
	var union image.Rectangle
	for _, box := range boxes {
		if signatureBox(frame, box) {
			union = union.Union(box)
		}
	}
	if union.Empty() {
		return sigs
	}
	roi := frame.Region(union)
	defer roi.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	toGrey(roi, &grey)
	var sums *integral
	for i, box := range boxes {
		if !signatureBox(frame, box) {
			continue
		}
		at := box.Sub(union.Min)
		if box.Dx() < signatureSize || box.Dy() < signatureSize {
			sigs[i] = scaledUpSignature(grey, at)
			continue
		}
		if sums == nil {
			px, err := grey.DataPtrUint8() // a new Mat: continuous
			if err != nil || len(px) != union.Dx()*union.Dy() {
				return sigs
			}
			sums = newIntegral(px, union.Dx(), union.Dy())
			defer sums.release()
		}
		sigs[i] = lbpSignature(sums.areaAverage(at, signatureSize))
	}
	return sigs
}

// signatureBox: box is a face inside the frame that FaceSignature reads.
func signatureBox(frame gocv.Mat, box image.Rectangle) bool {
	return box.In(image.Rect(0, 0, frame.Cols(), frame.Rows())) && box.Dx() >= minSignatureSide && box.Dy() >= minSignatureSide &&
		box.Dy() <= maxDetailAspect*box.Dx() && box.Dx() <= maxDetailAspect*box.Dy()
}

// scaledUpSignature is the signature of the face at box of grey, a box
// smaller than signatureSize on a side.
func scaledUpSignature(grey gocv.Mat, box image.Rectangle) Signature {
	roi := grey.Region(box)
	defer roi.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(roi, &small, image.Pt(signatureSize, signatureSize), 0, 0, gocv.InterpolationArea)
	px, err := small.DataPtrUint8() // a new Mat: continuous
	if err != nil || len(px) != signatureSize*signatureSize {
		return nil
	}
	return lbpSignature(px)
}

// integral is a grey image's integral: sum[y*(w+1)+x] is the sum of the
// pixels above and left of (x, y).
type integral struct {
	w, h   int
	sum    []int64
	corner []float64 // areaAverage's scratch
}

func newIntegral(px []uint8, w, h int) *integral {
	var kept []int64
	if p, _ := integralBuffers.Get().(*[]int64); p != nil {
		kept = *p
	}
	return integralIn(kept, px, w, h)
}

// integralIn is the integral of px built in buf when it is large enough
// (whatever it holds), else in new memory.
func integralIn(buf []int64, px []uint8, w, h int) *integral {
	var sum []int64
	if cap(buf) >= (w+1)*(h+1) {
		sum = buf[:(w+1)*(h+1)]
		clear(sum[:w+1])
	} else {
		sum = make([]int64, (w+1)*(h+1))
	}
	for y := range h {
		sum[(y+1)*(w+1)] = 0
		row, above, next := px[y*w:(y+1)*w], sum[y*(w+1):(y+1)*(w+1)], sum[(y+1)*(w+1):(y+2)*(w+1)]
		var run int64
		for x, v := range row {
			run += int64(v)
			next[x+1] = above[x+1] + run
		}
	}
	return &integral{w: w, h: h, sum: sum}
}

// integralBuffers keeps an integral's sums for the next: allocating them
// (2.4 MB for the liveness check's 27 boxes at 720p) cost more than
// filling them.
var integralBuffers sync.Pool

// release hands s's sums on to the next integral; s is not used after.
func (s *integral) release() {
	sum := s.sum
	s.sum = nil
	integralBuffers.Put(&sum)
}

// areaAverage is box scaled down to n×n px: each pixel the mean of the
// part of box it covers, rounded as OpenCV's INTER_AREA rounds it. The
// integral at a point between pixels, of pixels constant over their
// square, is exactly the bilinear interpolation of the four integer
// points around it.
func (s *integral) areaAverage(box image.Rectangle, n int) []uint8 {
	sx, sy := float64(box.Dx())/float64(n), float64(box.Dy())/float64(n)
	ix, fx := make([]int, n+1), make([]float64, n+1)
	for j := range n + 1 {
		x := float64(box.Min.X) + float64(j)*sx
		ix[j] = min(int(x), s.w-1)
		fx[j] = x - float64(ix[j])
	}
	if cap(s.corner) < (n+1)*(n+1) {
		s.corner = make([]float64, (n+1)*(n+1))
	}
	corner := s.corner[:(n+1)*(n+1)]
	for i := range n + 1 {
		y := float64(box.Min.Y) + float64(i)*sy
		iy := min(int(y), s.h-1)
		fy := y - float64(iy)
		top, bottom := s.sum[iy*(s.w+1):(iy+1)*(s.w+1)], s.sum[(iy+1)*(s.w+1):(iy+2)*(s.w+1)]
		for j, x := range ix {
			left := (1-fy)*float64(top[x]) + fy*float64(bottom[x])
			right := (1-fy)*float64(top[x+1]) + fy*float64(bottom[x+1])
			corner[i*(n+1)+j] = left + fx[j]*(right-left)
		}
	}
	round := areaRounding(box.Dx()%n == 0 && box.Dy()%n == 0, sx, sy)
	out := make([]uint8, n*n)
	for i := range n {
		for j := range n {
			k := i*(n+1) + j
			out[i*n+j] = round(corner[k+n+2] - corner[k+n+1] - corner[k+1] + corner[k])
		}
	}
	return out
}

// areaRounding turns a pixel's sum over its sx×sy source pixels into
// their rounded mean as OpenCV 4.6 does: a whole scale of 2 both ways
// half up, another whole scale as a float32 product rounded half to even,
// a fractional scale (float weights, no exact halves) to the nearest.
func areaRounding(whole bool, sx, sy float64) func(sum float64) uint8 {
	clamp := func(v float64) uint8 { return uint8(min(max(v, 0), 255)) }
	area := sx * sy
	switch {
	case whole && sx == 2 && sy == 2:
		return func(sum float64) uint8 { return clamp(math.Floor((math.Round(sum) + 2) / 4)) }
	case whole:
		inv := float32(1 / area)
		return func(sum float64) uint8 { return clamp(math.RoundToEven(float64(float32(math.Round(sum)) * inv))) }
	default:
		return func(sum float64) uint8 { return clamp(math.RoundToEven(sum / area)) }
	}
}

// Signature is FaceSignature's histograms: SignatureLen values, each
// cell's summing to 1.
type Signature []float32

const (
	signatureSize  = 64
	signatureCells = 4
	// uniformPatterns: the 58 patterns with at most two 0/1 changes around
	// the circle, and one bin for all the others.
	uniformPatterns = 59
	// SignatureLen is the length of a Signature.
	SignatureLen = signatureCells * signatureCells * uniformPatterns
	// signatureMargin (grey levels): a camera's noise flips the patterns
	// of smooth skin, where neighbours differ by less; with the margin
	// they read as smooth. Chosen with the size and cells among 32 variants
	// on the real recordings' windows and a print of another face (photos
	// from other cameras) held over them (docs/liveness-rounds.md,
	// twenty-seventh round).
	signatureMargin = 4
	// minSignatureSide: a box smaller than this holds too few pixels for
	// a 64 px face (a face the selection takes is far larger).
	minSignatureSide = 16
)

// uniformBin maps an 8-bit pattern to its histogram bin.
var uniformBin = func() (bin [256]uint8) {
	next := uint8(0)
	for p := range 256 {
		rot := uint8(p)<<1 | uint8(p)>>7
		if bits.OnesCount8(uint8(p)^rot) <= 2 {
			bin[p] = next
			next++
		} else {
			bin[p] = uniformPatterns - 1
		}
	}
	return bin
}()

// lbpSignature is the signature of a signatureSize² grey face; each
// pixel but the border's votes for its cell.
func lbpSignature(px []uint8) Signature {
	const n, cell = signatureSize, signatureSize / signatureCells
	sig := make(Signature, SignatureLen)
	count := [signatureCells * signatureCells]int{}
	for y := 1; y < n-1; y++ {
		up, row, down := px[(y-1)*n:y*n], px[y*n:(y+1)*n], px[(y+1)*n:(y+2)*n]
		for x := 1; x < n-1; x++ {
			// The 8 neighbours in order around the circle.
			c := int(row[x]) + signatureMargin
			p := brighter(up[x-1], c) | brighter(up[x], c)<<1 | brighter(up[x+1], c)<<2 | brighter(row[x+1], c)<<3 |
				brighter(down[x+1], c)<<4 | brighter(down[x], c)<<5 | brighter(down[x-1], c)<<6 | brighter(row[x-1], c)<<7
			k := (y/cell)*signatureCells + x/cell
			sig[k*uniformPatterns+int(uniformBin[p])]++
			count[k]++
		}
	}
	for k, c := range count {
		for b := range uniformPatterns {
			sig[k*uniformPatterns+b] /= float32(c)
		}
	}
	return sig
}

// brighter is 1 when v is at least c.
func brighter(v uint8, c int) uint8 {
	if int(v) >= c {
		return 1
	}
	return 0
}

// Distance is the chi-square distance between two signatures: 0 for the
// same histograms, at most 2 per cell (32) for histograms that share no
// pattern. An error when either is not a signature (wrong length, a
// negative or non-finite value), as a signature read back from a file can be.
func (s Signature) Distance(o Signature) (float64, error) {
	if err := s.Valid(); err != nil {
		return 0, err
	}
	if err := o.Valid(); err != nil {
		return 0, err
	}
	d := 0.0
	for i, a := range s {
		b := o[i]
		if sum := float64(a) + float64(b); sum > 0 {
			diff := float64(a) - float64(b)
			d += diff * diff / sum
		}
	}
	return d, nil
}

// Valid reports why s is not a signature (nil when it is).
func (s Signature) Valid() error {
	if len(s) != SignatureLen {
		return fmt.Errorf("face signature: %d values, want %d", len(s), SignatureLen)
	}
	for i, v := range s {
		if v < 0 || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("face signature: value %d is %v", i, v)
		}
	}
	return nil
}
