package capture

import (
	"context"
	"image"
	"math"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/cputime"
)

// jpegSetting is one way of encoding the 960x720 crop.
type jpegSetting struct {
	name   string
	params []int
}

var jpegSettings = []jpegSetting{
	{"q90", []int{gocv.IMWriteJpegQuality, 90}},
	{"q90-optimized", []int{gocv.IMWriteJpegQuality, 90, gocv.IMWriteJpegOptimize, 1}},
	{"q85", []int{gocv.IMWriteJpegQuality, 85}},
	{"q85-optimized", []int{gocv.IMWriteJpegQuality, 85, gocv.IMWriteJpegOptimize, 1}},
	{"q80-optimized", []int{gocv.IMWriteJpegQuality, 80, gocv.IMWriteJpegOptimize, 1}},
	// OpenCV 4.6 (Debian) gives the same bytes as q90-optimized: its
	// luma/chroma qualities have no effect there; kept to show it.
	{"q90-chroma60-optimized", []int{gocv.IMWriteJpegQuality, 90, gocv.IMWriteJpegLumaQuality, 90, gocv.IMWriteJpegChromaQuality, 60, gocv.IMWriteJpegOptimize, 1}},
}

// ssimGrey is the mean SSIM of two same-size 8-bit grey images over r, on
// 8x8 windows every 2 pixels (Wang et al. 2004 constants).
func ssimGrey(a, b gocv.Mat, r image.Rectangle) float64 {
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	n := 0
	for y := r.Min.Y; y+8 <= r.Max.Y; y += 2 {
		for x := r.Min.X; x+8 <= r.Max.X; x += 2 {
			var sa, sb, saa, sbb, sab float64
			for j := 0; j < 8; j++ {
				for i := 0; i < 8; i++ {
					va, vb := float64(a.GetUCharAt(y+j, x+i)), float64(b.GetUCharAt(y+j, x+i))
					sa, sb, saa, sbb, sab = sa+va, sb+vb, saa+va*va, sbb+vb*vb, sab+va*vb
				}
			}
			ma, mb := sa/64, sb/64
			va, vb, cov := saa/64-ma*ma, sbb/64-mb*mb, sab/64-ma*mb
			sum += ((2*ma*mb + c1) * (2*cov + c2)) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

func decodeGrey(tb testing.TB, jpeg []byte) gocv.Mat {
	m, err := gocv.IMDecode(jpeg, gocv.IMReadGrayScale)
	if err != nil || m.Empty() {
		tb.Fatalf("decode: %v", err)
	}
	return m
}

// BenchmarkCropJPEGSettings: bytes of the 960x720 crop and SSIM of the
// face area (luma) against quality 95, per encoding, on the developer
// stills with a frontal face. Reports mean bytes, the lowest face SSIM and
// the encode CPU.
func BenchmarkCropJPEGSettings(b *testing.B) {
	dir := sharedDir(b, "testdata/faces")
	an, err := NewAnalyzer(AnalyzerConfig{AllowMultiple: true})
	if err != nil {
		b.Skip(err)
	}
	defer an.Close()
	type still struct {
		crop gocv.Mat
		face image.Rectangle // in crop pixels
	}
	var stills []still
	for _, name := range []string{"frontal_astronaut.png", "frontal_webcam_gocv.jpg", "small_face_fisheye_office.jpg", "multi_two_people.jpg"} {
		res, err := BestFaceInFile(context.Background(), ImageFile(filepath.Join(dir, name)), an, 95)
		if err != nil || !res.Found {
			b.Logf("%s: no face (%v)", name, err)
			continue
		}
		img := gocv.IMRead(filepath.Join(dir, name), gocv.IMReadColor)
		sel := res.Selection
		roi := img.Region(sel.Crop)
		crop := gocv.NewMat()
		gocv.Resize(roi, &crop, image.Pt(CropWidth, CropHeight), 0, 0, gocv.InterpolationArea)
		roi.Close()
		img.Close()
		s := float64(CropWidth) / float64(sel.Crop.Dx())
		f := sel.Face.Sub(sel.Crop.Min)
		face := image.Rect(int(float64(f.Min.X)*s), int(float64(f.Min.Y)*s), int(float64(f.Max.X)*s), int(float64(f.Max.Y)*s)).Intersect(image.Rect(0, 0, CropWidth, CropHeight))
		stills = append(stills, still{crop, face})
	}
	defer func() {
		for _, s := range stills {
			s.crop.Close()
		}
	}()
	if len(stills) == 0 {
		b.Skip("no still with a face")
	}
	refs := make([]gocv.Mat, len(stills))
	for i, s := range stills {
		j, err := encodeJPEGParams(s.crop, []int{gocv.IMWriteJpegQuality, 95})
		if err != nil {
			b.Fatal(err)
		}
		refs[i] = decodeGrey(b, j)
		defer refs[i].Close()
	}
	for _, set := range jpegSettings {
		b.Run(set.name, func(b *testing.B) {
			var bytes int
			minSSIM := math.Inf(1)
			for i, s := range stills {
				j, err := encodeJPEGParams(s.crop, set.params)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(j)
				g := decodeGrey(b, j)
				minSSIM = math.Min(minSSIM, ssimGrey(refs[i], g, s.face))
				g.Close()
			}
			ct := cputime.Start(b)
			for i := 0; i < b.N; i++ {
				if _, err := encodeJPEGParams(stills[i%len(stills)].crop, set.params); err != nil {
					b.Fatal(err)
				}
			}
			ct.ReportPerOp()
			b.ReportMetric(float64(bytes)/float64(len(stills)), "bytes")
			b.ReportMetric(minSSIM, "min-face-ssim")
		})
	}
}
