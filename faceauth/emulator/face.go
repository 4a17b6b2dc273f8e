package emulator

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sync"

	"gocv.io/x/gocv"
)

// DefaultCascadeDir is where Debian's opencv-data puts the Haar cascades.
const DefaultCascadeDir = "/usr/share/opencv4/haarcascades"

// Errors of the face analysis, mapped to the API's error codes by the server.
var (
	// errNotImage: the bytes do not decode as an image (image_converting_error).
	errNotImage = errors.New("not a decodable image")
	// errTooSmall: decodes but is too small to hold a face (image_processing_error).
	errTooSmall = errors.New("image too small to process")
	// errNoFace: no face found (no_face).
	errNoFace = errors.New("no face detected")
	// errClosed: the server was closed (detection_server_error).
	errClosed = errors.New("emulator closed")
)

// The aligned face: alignedSize square, eyes on one row at eyeRow, eyeDist
// apart, centred.
const (
	lbpGrid     = 8    // cells per side of the LBP histogram grid
	cropWidth   = 0.65 // fraction of the Haar box width kept as the inner face
	alignedSize = 96
	lbpBins     = 59
	minImageDim = 48
	// maxDetectSide bounds the long side of the image searched for faces.
	maxDetectSide = 512
)

// faceFeatures is what the matcher keeps of one face.
type faceFeatures struct {
	// variants are LBP histograms (lbpGrid*lbpGrid*lbpBins, each cell
	// normalised to sum 1) of the face under each of the jitters; the first
	// is the unjittered one.
	variants [][]float64
	eyes     bool    // both eyes found (used for the occlusion score)
	angle    float64 // roll the face was found at, degrees
	box      image.Rectangle
}

// matcher is the emulator's face "comparison": Haar face and eye detection,
// eye-based alignment and uniform-LBP histograms compared by chi-square. It is
// a test double, not a biometric matcher. OpenCV's CascadeClassifier is not
// documented as safe for concurrent use, so calls are serialised.
type matcher struct {
	mu     sync.Mutex
	closed bool
	face   gocv.CascadeClassifier
	eye    gocv.CascadeClassifier // glasses-tolerant
	eye2   gocv.CascadeClassifier // plain eyes
}

func newMatcher(cascadeDir string) (*matcher, error) {
	if cascadeDir == "" {
		cascadeDir = DefaultCascadeDir
	}
	m := &matcher{face: gocv.NewCascadeClassifier(), eye: gocv.NewCascadeClassifier(), eye2: gocv.NewCascadeClassifier()}
	for _, c := range []struct {
		cc   *gocv.CascadeClassifier
		file string
	}{{&m.face, "haarcascade_frontalface_default.xml"}, {&m.eye, "haarcascade_eye_tree_eyeglasses.xml"}, {&m.eye2, "haarcascade_eye.xml"}} {
		p := filepath.Join(cascadeDir, c.file)
		if _, err := os.Stat(p); err != nil {
			m.Close()
			return nil, fmt.Errorf("face cascade: %w (install opencv-data)", err)
		}
		if !c.cc.Load(p) {
			m.Close()
			return nil, fmt.Errorf("face cascade %s: OpenCV could not load it", p)
		}
	}
	return m, nil
}

// Close frees the cascades; later analyses fail with errClosed. The caller
// holds m.mu or knows no analysis runs.
func (m *matcher) Close() {
	if m.closed {
		return
	}
	m.closed = true
	m.face.Close()
	m.eye.Close()
	m.eye2.Close()
}

// analyse finds the largest face in an encoded image and returns its
// features; a reference keeps every jittered variant, a probe only the
// plain one. Errors are errNotImage, errTooSmall or errNoFace.
func (m *matcher) analyse(encoded []byte, reference bool) (*faceFeatures, error) {
	img, err := gocv.IMDecode(encoded, gocv.IMReadGrayScale)
	defer img.Close()
	if err != nil || img.Empty() {
		return nil, errNotImage
	}
	if img.Cols() < minImageDim || img.Rows() < minImageDim {
		return nil, errTooSmall
	}
	gray := gocv.NewMat()
	defer gray.Close()
	scale := 1.0
	if long := max(img.Cols(), img.Rows()); long > maxDetectSide {
		scale = maxDetectSide / float64(long)
		gocv.Resize(img, &gray, image.Point{}, scale, scale, gocv.InterpolationArea)
	} else {
		img.CopyTo(&gray)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	// Upright first; then rolled copies (Haar only finds upright faces). A
	// detection is confident when two eyes are found in it or it survives a
	// much stricter neighbour count; rotating textures (a coffee cup, a cat,
	// a replicated border) gives weak false positives, so a rolled
	// detection must be confident, and a weak upright one is kept only when
	// no rolled one is confident.
	var fallback *candidate
	for _, angle := range []float64{0, -20, 20, -35, 35, -50, 50} {
		c, ok := m.detect(gray, angle)
		if !ok {
			continue
		}
		if c.confident {
			return m.features(gray, c, reference), nil
		}
		if angle == 0 {
			fallback = &c
		}
	}
	if fallback != nil {
		return m.features(gray, *fallback, reference), nil
	}
	return nil, errNoFace
}

// candidate is a face found at one roll of the image.
type candidate struct {
	angle     float64
	box       image.Rectangle // in the rolled image
	eyes      bool
	confident bool
}

// detect looks for the largest face in gray rolled by angle degrees.
func (m *matcher) detect(gray gocv.Mat, angle float64) (candidate, bool) {
	rot := rolled(gray, angle)
	defer rot.Close()
	eq := gocv.NewMat()
	defer eq.Close()
	gocv.EqualizeHist(rot, &eq)
	minFace := image.Pt(max(30, min(rot.Cols(), rot.Rows())/12), max(30, min(rot.Cols(), rot.Rows())/12))
	faces := m.face.DetectMultiScaleWithParams(eq, 1.15, 5, 0, minFace, image.Point{})
	if len(faces) == 0 {
		return candidate{}, false
	}
	best := faces[0]
	for _, f := range faces[1:] {
		if f.Dx()*f.Dy() > best.Dx()*best.Dy() {
			best = f
		}
	}
	c := candidate{angle: angle, box: best, eyes: m.findEyes(eq, best)}
	c.confident = c.eyes
	if !c.confident {
		// Search again around the face only, demanding far more neighbours.
		pad := best.Dx() / 2
		area := image.Rect(best.Min.X-pad, best.Min.Y-pad, best.Max.X+pad, best.Max.Y+pad).Intersect(image.Rect(0, 0, eq.Cols(), eq.Rows()))
		roi := eq.Region(area)
		c.confident = len(m.face.DetectMultiScaleWithParams(roi, 1.1, 20, 0, minFace, image.Point{})) > 0
		roi.Close()
	}
	return c, true
}

// features aligns the candidate face and computes its LBP histograms.
func (m *matcher) features(gray gocv.Mat, c candidate, reference bool) *faceFeatures {
	rot := rolled(gray, c.angle)
	defer rot.Close()
	roll, dx := refineBySymmetry(rot, c.box)
	f := &faceFeatures{eyes: c.eyes, angle: c.angle + roll, box: c.box}
	n := 1
	if reference {
		n = len(jitters)
	}
	for _, j := range jitters[:n] {
		aligned := gocv.NewMat()
		alignBox(rot, &aligned, c.box, roll+j.roll, dx+j.dx, j.dy, j.scale)
		f.variants = append(f.variants, lbpHistogram(aligned))
		aligned.Close()
	}
	return f
}

// rolled returns a copy of gray rolled by angle degrees; the caller closes it.
func rolled(gray gocv.Mat, angle float64) gocv.Mat {
	rot := gocv.NewMat()
	if angle == 0 {
		gray.CopyTo(&rot)
	} else {
		rotate(gray, &rot, angle)
	}
	return rot
}

// jitters are the small alignment changes the reference is stored under, so
// that a probe cropped a little differently still finds its best match.
var jitters = func() []struct{ dx, dy, scale, roll float64 } {
	var out []struct{ dx, dy, scale, roll float64 }
	for _, r := range []float64{0, -3, 3, -6, 6} {
		for _, s := range []float64{1, 0.94, 1.06} {
			for _, dy := range []float64{0, -0.04, 0.04} {
				for _, dx := range []float64{0, -0.03, 0.03} {
					out = append(out, struct{ dx, dy, scale, roll float64 }{dx, dy, s, r})
				}
			}
		}
	}
	return out
}()

// findEyes reports whether an eye is found in each upper quarter of the face box.
func (m *matcher) findEyes(eq gocv.Mat, face image.Rectangle) bool {
	upper := image.Rect(face.Min.X, face.Min.Y+face.Dy()/8, face.Max.X, face.Min.Y+face.Dy()*11/20)
	roi := eq.Region(upper)
	defer roi.Close()
	minEye, maxEye := image.Pt(max(8, face.Dx()/10), max(8, face.Dx()/10)), image.Pt(face.Dx()/2, face.Dx()/2)
	found := m.eye.DetectMultiScaleWithParams(roi, 1.1, 3, 0, minEye, maxEye)
	found = append(found, m.eye2.DetectMultiScaleWithParams(roi, 1.1, 3, 0, minEye, maxEye)...)
	var l, r image.Rectangle
	mid := face.Dx() / 2
	for _, e := range found {
		switch c := (e.Min.X + e.Max.X) / 2; {
		case c < mid && e.Dx() > l.Dx():
			l = e
		case c >= mid && e.Dx() > r.Dx():
			r = e
		}
	}
	if l.Empty() || r.Empty() {
		return false
	}
	gap := float64((r.Min.X + r.Max.X - l.Min.X - l.Max.X) / 2)
	return gap >= float64(face.Dx())/5
}

// rotate turns src by angle degrees (counter-clockwise) about its centre,
// keeping its size.
func rotate(src gocv.Mat, dst *gocv.Mat, angle float64) {
	c := image.Pt(src.Cols()/2, src.Rows()/2)
	r := gocv.GetRotationMatrix2D(c, angle, 1)
	defer r.Close()
	gocv.WarpAffineWithParams(src, dst, r, image.Pt(src.Cols(), src.Rows()), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
}

// faceTransform maps the point (cx, cy) of src to the centre of an
// out x out square, rotating by angle degrees (counter-clockwise) and
// scaling by s.
func faceTransform(cx, cy, angle, s float64, out int) [6]float64 {
	a, b := s*math.Cos(angle*math.Pi/180), s*math.Sin(angle*math.Pi/180)
	o := float64(out) / 2
	return [6]float64{a, b, o - (a*cx + b*cy), -b, a, o - (-b*cx + a*cy)}
}

// refineBySymmetry finds the small roll (degrees) and horizontal shift
// (fraction of the box width) that make the face most left-right
// symmetric: faces are, backgrounds mostly are not.
func refineBySymmetry(src gocv.Mat, box image.Rectangle) (roll, dx float64) {
	const n = 48
	w := float64(box.Dx())
	cx, cy := float64(box.Min.X)+w/2, float64(box.Min.Y)+0.5*float64(box.Dy())
	best := math.Inf(1)
	patch, flipped, diff := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer patch.Close()
	defer flipped.Close()
	defer diff.Close()
	for a := -12.0; a <= 12; a += 3 {
		for x := -0.08; x <= 0.081; x += 0.04 {
			warp(src, &patch, faceTransform(cx+x*w, cy, a, n/(0.7*w), n), n)
			gocv.Flip(patch, &flipped, 1)
			gocv.AbsDiff(patch, flipped, &diff)
			if v := diff.Mean().Val1; v < best {
				best, roll, dx = v, a, x
			}
		}
	}
	return roll, dx
}

// alignBox crops the inner face (Haar boxes are loose: the middle
// cropWidth of the width, centred a little above the box centre) into an alignedSize
// square, histogram-equalised.
func alignBox(src gocv.Mat, dst *gocv.Mat, box image.Rectangle, roll, dx, dy, scale float64) {
	w := float64(box.Dx())
	cx := float64(box.Min.X) + w/2 + dx*w
	cy := float64(box.Min.Y) + 0.48*float64(box.Dy()) + dy*w
	tmp := gocv.NewMat()
	defer tmp.Close()
	warp(src, &tmp, faceTransform(cx, cy, roll, scale*alignedSize/(cropWidth*w), alignedSize), alignedSize)
	gocv.EqualizeHist(tmp, dst)
}

func warp(src gocv.Mat, dst *gocv.Mat, a [6]float64, out int) {
	m := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer m.Close()
	for i, v := range a {
		m.SetDoubleAt(i/3, i%3, v)
	}
	gocv.WarpAffineWithParams(src, dst, m, image.Pt(out, out), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
}

// uniformIndex maps the 256 LBP codes to 58 uniform patterns + 1 bin for
// all the others.
var uniformIndex = func() [256]uint8 {
	var t [256]uint8
	next := uint8(0)
	for c := 0; c < 256; c++ {
		transitions := 0
		for b := 0; b < 8; b++ {
			if (c>>b)&1 != (c>>((b+1)%8))&1 {
				transitions++
			}
		}
		if transitions <= 2 {
			t[c] = next
			next++
		} else {
			t[c] = lbpBins - 1
		}
	}
	return t
}()

// lbpHistogram computes per-cell uniform LBP(8,1) histograms of a lightly
// smoothed aligned face.
func lbpHistogram(aligned gocv.Mat) []float64 {
	blur := gocv.NewMat()
	defer blur.Close()
	gocv.GaussianBlur(aligned, &blur, image.Pt(3, 3), 0, 0, gocv.BorderReplicate)
	w, h := blur.Cols(), blur.Rows()
	px, _ := blur.DataPtrUint8()
	hist := make([]float64, lbpGrid*lbpGrid*lbpBins)
	at := func(x, y int) uint8 { return px[y*w+x] }
	offsets := [8][2]int{{-1, -1}, {0, -1}, {1, -1}, {1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}}
	for y := 1; y < h-1; y++ {
		cy := min(lbpGrid-1, (y-1)*lbpGrid/(h-2))
		for x := 1; x < w-1; x++ {
			c := at(x, y)
			code := 0
			for i, o := range offsets {
				if at(x+o[0], y+o[1]) >= c {
					code |= 1 << i
				}
			}
			cx := min(lbpGrid-1, (x-1)*lbpGrid/(w-2))
			hist[(cy*lbpGrid+cx)*lbpBins+int(uniformIndex[code])]++
		}
	}
	for cell := 0; cell < lbpGrid*lbpGrid; cell++ {
		sum := 0.0
		for _, v := range hist[cell*lbpBins : (cell+1)*lbpBins] {
			sum += v
		}
		if sum > 0 {
			for i := cell * lbpBins; i < (cell+1)*lbpBins; i++ {
				hist[i] /= sum
			}
		}
	}
	return hist
}

// chiSquare is the mean over cells of the chi-square distance between two
// normalised histograms: 0 for identical, at most 2.
func chiSquare(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		if s := a[i] + b[i]; s > 0 {
			diff := a[i] - b[i]
			d += diff * diff / s
		}
	}
	return d / float64(lbpGrid*lbpGrid)
}

// Calibration of the similarity score (see docs/emulator.md): a chi-square
// distance of simMid maps to 50, smaller distances to higher scores.
const (
	simMid   = 0.475
	simSlope = 0.03
)

// similarity maps the distance of two faces to the API's 0..100 score.
func similarity(ref, probe *faceFeatures) float64 {
	d := distance(ref, probe)
	s := 100 / (1 + math.Exp((d-simMid)/simSlope))
	return math.Round(s*10) / 10
}

// distance is the smallest chi-square distance between the probe's plain
// histogram and any of the reference's jittered ones.
func distance(ref, probe *faceFeatures) float64 {
	d := math.Inf(1)
	for _, v := range ref.variants {
		d = min(d, chiSquare(v, probe.variants[0]))
	}
	return d
}
