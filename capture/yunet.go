package capture

import (
	"fmt"
	"image"
	"math"
	"sort"

	"gocv.io/x/gocv"
)

// yunet runs the YuNet ONNX face detector (OpenCV's FaceDetectorYN is not
// wrapped by gocv 0.32: the outputs are decoded here).
type yunet struct {
	net       gocv.Net
	inW       int // network input width (multiple of 32)
	threshold float64
	resized   gocv.Mat
	padded    gocv.Mat
}

const yunetNMSIoU = 0.3

func newYuNet(path string, inputWidth int, threshold float64) (*yunet, error) {
	if err := checkYuNetModel(path); err != nil {
		return nil, err
	}
	net := gocv.ReadNetFromONNX(path)
	if net.Empty() {
		net.Close()
		return nil, fmt.Errorf("%w: OpenCV could not load YuNet model %s", ErrDetector, path)
	}
	if inputWidth <= 0 {
		inputWidth = 320
	}
	inputWidth = (inputWidth + 31) / 32 * 32
	return &yunet{net: net, inW: inputWidth, threshold: threshold,
		resized: gocv.NewMat(), padded: gocv.NewMat()}, nil
}

func (y *yunet) close() {
	y.net.Close()
	y.resized.Close()
	y.padded.Close()
}

// detect finds faces in the BGR frame; boxes in frame pixels.
func (y *yunet) detect(frame gocv.Mat) ([]Face, error) {
	fw, fh := frame.Cols(), frame.Rows()
	scale := float64(y.inW) / float64(fw)
	w := y.inW
	h := max(1, int(math.Round(float64(fh)*scale)))
	if h > 4*w {
		return nil, fmt.Errorf("capture: yunet: frame %dx%d too tall", fw, fh)
	}
	gocv.Resize(frame, &y.resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	ph := (h + 31) / 32 * 32
	src := y.resized
	if ph != h {
		gocv.CopyMakeBorder(y.resized, &y.padded, 0, ph-h, 0, 0, gocv.BorderConstant, colorBlack)
		src = y.padded
	}
	blob := gocv.BlobFromImage(src, 1.0, image.Pt(w, ph), gocv.NewScalar(0, 0, 0, 0), false, false)
	defer blob.Close()
	y.net.SetInput(blob, "")
	outs := y.net.ForwardLayers(yunetOutputs)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	if len(outs) != len(yunetOutputs) {
		return nil, fmt.Errorf("capture: yunet: %d outputs, want %d", len(outs), len(yunetOutputs))
	}
	data := make(map[string][]float32, len(outs))
	for i, name := range yunetOutputs {
		d, err := outs[i].DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("capture: yunet: output %s: %w", name, err)
		}
		data[name] = d
	}
	faces, err := decodeYuNet(data, w, ph, y.threshold)
	if err != nil {
		return nil, err
	}
	inv := 1 / scale
	for i := range faces {
		faces[i].Box = scaleRect(faces[i].Box, inv)
		for k := range faces[i].Landmarks {
			p := faces[i].Landmarks[k]
			faces[i].Landmarks[k] = image.Pt(int(math.Round(float64(p.X)*inv)), int(math.Round(float64(p.Y)*inv)))
		}
	}
	return faces, nil
}

// decodeYuNet turns the 12 YuNet output blobs (by name) of a w x h input
// into faces above threshold after non-maximum suppression. Blob sizes are
// checked against the input size: the data may come from any model file.
func decodeYuNet(outs map[string][]float32, w, h int, threshold float64) ([]Face, error) {
	if w <= 0 || h <= 0 || w%32 != 0 || h%32 != 0 {
		return nil, fmt.Errorf("capture: yunet: input %dx%d not a positive multiple of 32", w, h)
	}
	type cand struct {
		face  Face
		score float64
		box   [4]float64
	}
	var cands []cand
	for _, s := range []int{8, 16, 32} {
		cols, rows := w/s, h/s
		n := cols * rows
		cls, obj := outs[fmt.Sprint("cls_", s)], outs[fmt.Sprint("obj_", s)]
		bbox, kps := outs[fmt.Sprint("bbox_", s)], outs[fmt.Sprint("kps_", s)]
		if len(cls) != n || len(obj) != n || len(bbox) != 4*n || len(kps) != 10*n {
			return nil, fmt.Errorf("capture: yunet: stride %d outputs have sizes %d/%d/%d/%d, want %d/%d/%d/%d",
				s, len(cls), len(obj), len(bbox), len(kps), n, n, 4*n, 10*n)
		}
		fs := float64(s)
		for i := 0; i < n; i++ {
			score := math.Sqrt(clamp01(float64(cls[i])) * clamp01(float64(obj[i])))
			if !(score >= threshold) {
				continue
			}
			row, col := float64(i/cols), float64(i%cols)
			cx := (col + float64(bbox[4*i])) * fs
			cy := (row + float64(bbox[4*i+1])) * fs
			bw := math.Exp(float64(bbox[4*i+2])) * fs
			bh := math.Exp(float64(bbox[4*i+3])) * fs
			if !finite(cx, cy, bw, bh) || bw > 4*float64(w) || bh > 4*float64(h) {
				continue
			}
			c := cand{score: score, box: [4]float64{cx - bw/2, cy - bh/2, bw, bh}}
			c.face.Confidence = score
			c.face.Box = image.Rect(int(math.Round(cx-bw/2)), int(math.Round(cy-bh/2)),
				int(math.Round(cx+bw/2)), int(math.Round(cy+bh/2)))
			ok := true
			for k := 0; k < 5; k++ {
				x := (float64(kps[10*i+2*k]) + col) * fs
				y := (float64(kps[10*i+2*k+1]) + row) * fs
				if !finite(x, y) || math.Abs(x) > 8*float64(w) || math.Abs(y) > 8*float64(h) {
					ok = false
					break
				}
				c.face.Landmarks[k] = image.Pt(int(math.Round(x)), int(math.Round(y)))
			}
			if !ok {
				continue
			}
			c.face.HasLandmarks = true
			cands = append(cands, c)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	var faces []Face
	var kept [][4]float64
	for _, c := range cands {
		overlap := false
		for _, k := range kept {
			if iou(c.box, k) > yunetNMSIoU {
				overlap = true
				break
			}
		}
		if !overlap {
			kept = append(kept, c.box)
			faces = append(faces, c.face)
		}
	}
	return faces, nil
}

func clamp01(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// iou of two x,y,w,h boxes.
func iou(a, b [4]float64) float64 {
	x1, y1 := math.Max(a[0], b[0]), math.Max(a[1], b[1])
	x2, y2 := math.Min(a[0]+a[2], b[0]+b[2]), math.Min(a[1]+a[3], b[1]+b[3])
	if x2 <= x1 || y2 <= y1 {
		return 0
	}
	inter := (x2 - x1) * (y2 - y1)
	return inter / (a[2]*a[3] + b[2]*b[3] - inter)
}

// scaleRect multiplies a rectangle by f, rounding.
func scaleRect(r image.Rectangle, f float64) image.Rectangle {
	return image.Rect(int(math.Round(float64(r.Min.X)*f)), int(math.Round(float64(r.Min.Y)*f)),
		int(math.Round(float64(r.Max.X)*f)), int(math.Round(float64(r.Max.Y)*f)))
}
