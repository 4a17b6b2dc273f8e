package capture

import (
	"fmt"
	"image"
	"math"
	"math/bits"

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
	if !eightBit(frame) {
		return nil
	}
	if !box.In(image.Rect(0, 0, frame.Cols(), frame.Rows())) || box.Dx() < minSignatureSide || box.Dy() < minSignatureSide ||
		box.Dy() > maxDetailAspect*box.Dx() || box.Dx() > maxDetailAspect*box.Dy() {
		return nil
	}
	roi := frame.Region(box)
	defer roi.Close()
	full := gocv.NewMat()
	defer full.Close()
	toGrey(roi, &full)
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.Resize(full, &grey, image.Pt(signatureSize, signatureSize), 0, 0, gocv.InterpolationArea)
	px, err := grey.DataPtrUint8() // a new Mat: continuous
	if err != nil || len(px) != signatureSize*signatureSize {
		return nil
	}
	return lbpSignature(px)
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
	// The 8 neighbours in order around the circle.
	around := [8][2]int{{-1, -1}, {-1, 0}, {-1, 1}, {0, 1}, {1, 1}, {1, 0}, {1, -1}, {0, -1}}
	for y := 1; y < n-1; y++ {
		for x := 1; x < n-1; x++ {
			c := int(px[y*n+x]) + signatureMargin
			var p uint8
			for i, d := range around {
				if int(px[(y+d[0])*n+x+d[1]]) >= c {
					p |= 1 << i
				}
			}
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
