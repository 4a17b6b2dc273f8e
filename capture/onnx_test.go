package capture

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Minimal protobuf writer for synthetic ONNX files.
func pbVarint(field int, v uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(field<<3|0))
	return binary.AppendUvarint(b, v)
}

func pbBytes(field int, data []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(field<<3|2))
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// valueInfo: name with dims (>0 dim_value, else dim_param "N").
func valueInfo(name string, dims ...int) []byte {
	var shape []byte
	for _, d := range dims {
		if d > 0 {
			shape = append(shape, pbBytes(1, pbVarint(1, uint64(d)))...)
		} else {
			shape = append(shape, pbBytes(1, pbBytes(2, []byte("N")))...)
		}
	}
	tensor := cat(pbVarint(1, 1), pbBytes(2, shape))
	return cat(pbBytes(1, []byte(name)), pbBytes(2, pbBytes(1, tensor)))
}

func syntheticModel(inputDims []int, outputs []string) []byte {
	graph := pbBytes(11, valueInfo("input", inputDims...))
	graph = append(graph, pbBytes(5, pbBytes(8, []byte("weight")))...) // an initializer
	graph = append(graph, pbBytes(11, valueInfo("weight", 3, 3))...)   // listed as input too
	for _, o := range outputs {
		graph = append(graph, pbBytes(12, valueInfo(o, 1, 100, 1))...)
	}
	return cat(pbVarint(1, 8), pbBytes(7, graph))
}

func TestCheckYuNetModel(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		data []byte
		want string // "" = accepted
	}{
		{"static yunet", syntheticModel([]int{1, 3, 640, 640}, yunetOutputs), ""},
		{"dynamic input", syntheticModel([]int{1, 3, 0, 0}, yunetOutputs), "dynamic"},
		{"missing outputs", syntheticModel([]int{1, 3, 640, 640}, yunetOutputs[:6]), "no output"},
		{"3 dims", syntheticModel([]int{3, 640, 640}, yunetOutputs), "dimensions"},
		{"not protobuf", []byte("<?xml version=\"1.0\"?><opencv_storage>"), "ONNX"},
		{"empty", nil, "not a file"},
		{"truncated", syntheticModel([]int{1, 3, 640, 640}, yunetOutputs)[:40], "ONNX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkYuNetModel(write(strings.ReplaceAll(tt.name, " ", "_")+".onnx", tt.data))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrDetector) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrDetector mentioning %q", err, tt.want)
			}
		})
	}
	if err := checkYuNetModel(dir); err == nil {
		t.Error("a folder was accepted as a model")
	}
}

func TestCheckSharedYuNetModel(t *testing.T) {
	if err := checkYuNetModel(yunetModel(t)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseONNX: the model check never panics on arbitrary files.
func FuzzParseONNX(f *testing.F) {
	f.Add(syntheticModel([]int{1, 3, 640, 640}, yunetOutputs))
	f.Add(syntheticModel([]int{1, 3, 0, 640}, yunetOutputs[:3]))
	f.Add([]byte{0x08})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseONNX(data); err != nil && !errors.Is(err, errProto) {
			t.Fatalf("error %v is not errProto", err)
		}
	})
}

// yunetBlobs builds zeroed YuNet outputs for a w x h input with one face
// anchored at stride s, cell (row, col).
func yunetBlobs(w, h, s, row, col int, score float32) map[string][]float32 {
	out := map[string][]float32{}
	for _, st := range []int{8, 16, 32} {
		n := (w / st) * (h / st)
		out[name("cls_", st)] = make([]float32, n)
		out[name("obj_", st)] = make([]float32, n)
		out[name("bbox_", st)] = make([]float32, 4*n)
		out[name("kps_", st)] = make([]float32, 10*n)
	}
	i := row*(w/s) + col
	out[name("cls_", s)][i] = score
	out[name("obj_", s)][i] = score
	bb := out[name("bbox_", s)]
	bb[4*i], bb[4*i+1] = 0.5, 0.5 // centre in the middle of the cell
	bb[4*i+2], bb[4*i+3] = float32(math.Log(4)), float32(math.Log(5))
	kp := out[name("kps_", s)]
	// eyes at (-1,-1) and (+1,-1) cells from the anchor, nose at 0, mouth below
	pts := [][2]float32{{-1, -1}, {1, -1}, {0, 0}, {-0.8, 1}, {0.8, 1}}
	for k, p := range pts {
		kp[10*i+2*k], kp[10*i+2*k+1] = p[0]+0.5, p[1]+0.5
	}
	return out
}

func name(p string, s int) string { return p + itoa(s) }

func TestDecodeYuNet(t *testing.T) {
	blobs := yunetBlobs(320, 192, 16, 5, 10, 0.9)
	faces, err := decodeYuNet(blobs, 320, 192, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 1 {
		t.Fatalf("%d faces, want 1", len(faces))
	}
	f := faces[0]
	// centre (10.5*16, 5.5*16) = (168, 88), size 64x80
	want := [4]int{168 - 32, 88 - 40, 168 + 32, 88 + 40}
	if got := [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}; got != want {
		t.Fatalf("box %v, want %v", f.Box, want)
	}
	if math.Abs(f.Confidence-0.9) > 1e-6 || !f.HasLandmarks {
		t.Fatalf("confidence %v landmarks %v", f.Confidence, f.HasLandmarks)
	}
	if f.Landmarks[0].X >= f.Landmarks[1].X {
		t.Fatalf("right eye %v not left of left eye %v in the image", f.Landmarks[0], f.Landmarks[1])
	}
	frontal, roll := frontalFromLandmarks(f)
	if frontal < 0.9 || math.Abs(roll) > 1 {
		t.Fatalf("frontal %.2f roll %.1f for a level symmetric face", frontal, roll)
	}
	// Below threshold: nothing.
	if faces, _ := decodeYuNet(yunetBlobs(320, 192, 16, 5, 10, 0.5), 320, 192, 0.6); len(faces) != 0 {
		t.Fatalf("score 0.5 kept at threshold 0.6: %v", faces)
	}
}

func TestDecodeYuNetRejectsBadShapes(t *testing.T) {
	blobs := yunetBlobs(320, 192, 8, 1, 1, 0.9)
	if _, err := decodeYuNet(blobs, 320, 160, 0.6); err == nil {
		t.Error("blobs of a 320x192 input accepted as 320x160")
	}
	if _, err := decodeYuNet(blobs, 300, 192, 0.6); err == nil {
		t.Error("width not a multiple of 32 accepted")
	}
	delete(blobs, "kps_32")
	if _, err := decodeYuNet(blobs, 320, 192, 0.6); err == nil {
		t.Error("missing blob accepted")
	}
}

// FuzzDecodeYuNet: arbitrary values and shapes never panic and only give
// finite boxes.
func FuzzDecodeYuNet(f *testing.F) {
	f.Add(320, 192, 16, 5, 10, float32(0.9), float32(3.0), []byte{1, 2})
	f.Add(64, 64, 32, 0, 0, float32(1), float32(100), []byte{})
	f.Fuzz(func(t *testing.T, w, h, s, row, col int, score, logSize float32, cut []byte) {
		if w <= 0 || h <= 0 || w > 1024 || h > 1024 || w%32 != 0 || h%32 != 0 {
			return
		}
		if s != 8 && s != 16 && s != 32 {
			s = 8
		}
		if row < 0 || col < 0 || row >= h/s || col >= w/s {
			return
		}
		blobs := yunetBlobs(w, h, s, row, col, score)
		bb := blobs[name("bbox_", s)]
		i := row*(w/s) + col
		bb[4*i+2], bb[4*i+3] = logSize, logSize
		for _, c := range cut { // shorten some blobs
			key := yunetOutputs[int(c)%len(yunetOutputs)]
			if len(blobs[key]) > 0 {
				blobs[key] = blobs[key][:len(blobs[key])-1]
			}
		}
		faces, err := decodeYuNet(blobs, w, h, 0.6)
		if err != nil {
			return
		}
		for _, f := range faces {
			if f.Box.Dx() < 0 || f.Box.Dy() < 0 {
				t.Fatalf("bad box %v", f.Box)
			}
		}
	})
}
