package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// OpenCV 4.6 aborts the whole process (a C++ exception through cgo) on an
// ONNX model it cannot import, for example one exported with dynamic input
// shapes. checkYuNetModel reads the protobuf in Go first and refuses what
// would crash: not ONNX, dynamic input dimensions, missing YuNet outputs.

// maxModelBytes bounds the model file read into memory.
const maxModelBytes = 64 << 20

// yunetOutputs are the output blobs the YuNet decoder needs.
var yunetOutputs = []string{
	"cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
	"bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32",
}

// checkYuNetModel validates the file at path; errors wrap ErrDetector.
func checkYuNetModel(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: YuNet model: %w", ErrDetector, err)
	}
	if fi.IsDir() || fi.Size() == 0 || fi.Size() > maxModelBytes {
		return fmt.Errorf("%w: YuNet model %s: not a file of 1 byte to %d MB", ErrDetector, path, maxModelBytes>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: YuNet model: %w", ErrDetector, err)
	}
	info, err := parseONNX(data)
	if err != nil {
		return fmt.Errorf("%w: YuNet model %s: %w", ErrDetector, path, err)
	}
	if len(info.inputs) != 1 {
		return fmt.Errorf("%w: YuNet model %s: %d graph inputs, want 1 image input", ErrDetector, path, len(info.inputs))
	}
	in := info.inputs[0]
	if len(in.dims) != 4 {
		return fmt.Errorf("%w: YuNet model %s: input %q has %d dimensions, want 4 (NCHW)", ErrDetector, path, in.name, len(in.dims))
	}
	for i, d := range in.dims {
		if d <= 0 {
			return fmt.Errorf("%w: YuNet model %s: input %q dimension %d is dynamic; OpenCV 4.6 cannot import dynamic-shape models (use face_detection_yunet_2023mar.onnx)", ErrDetector, path, in.name, i)
		}
	}
	have := map[string]bool{}
	for _, o := range info.outputs {
		have[o] = true
	}
	for _, want := range yunetOutputs {
		if !have[want] {
			return fmt.Errorf("%w: YuNet model %s: no output %q; not a YuNet 2023 export", ErrDetector, path, want)
		}
	}
	return nil
}

type onnxInput struct {
	name string
	dims []int64 // -1 for a symbolic or missing dimension
}

type onnxInfo struct {
	inputs  []onnxInput // graph inputs that are not initializers
	outputs []string
}

var errProto = errors.New("not a valid ONNX protobuf")

// parseONNX reads ModelProto.graph's inputs and outputs.
func parseONNX(data []byte) (onnxInfo, error) {
	var info onnxInfo
	var graph []byte
	var sawIR bool
	err := walkProto(data, func(field int, wire int, v uint64, b []byte) error {
		switch {
		case field == 1 && wire == 0:
			sawIR = true
		case field == 7 && wire == 2:
			graph = b
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if !sawIR || graph == nil {
		return info, fmt.Errorf("%w: no ir_version or graph", errProto)
	}
	inits := map[string]bool{}
	var inputs [][]byte
	err = walkProto(graph, func(field, wire int, v uint64, b []byte) error {
		if wire != 2 {
			return nil
		}
		switch field {
		case 5: // initializer: TensorProto, name is field 8
			return walkProto(b, func(f, w int, _ uint64, s []byte) error {
				if f == 8 && w == 2 {
					inits[string(s)] = true
				}
				return nil
			})
		case 11:
			inputs = append(inputs, b)
		case 12:
			name, _, err := parseValueInfo(b)
			if err != nil {
				return err
			}
			info.outputs = append(info.outputs, name)
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	for _, b := range inputs {
		name, dims, err := parseValueInfo(b)
		if err != nil {
			return info, err
		}
		if !inits[name] {
			info.inputs = append(info.inputs, onnxInput{name: name, dims: dims})
		}
	}
	return info, nil
}

// parseValueInfo reads ValueInfoProto{1 name, 2 type{1 tensor_type{2 shape{1 dim{1 value, 2 param}}}}}.
func parseValueInfo(b []byte) (string, []int64, error) {
	var name string
	var dims []int64
	err := walkProto(b, func(f, w int, _ uint64, s []byte) error {
		if w != 2 {
			return nil
		}
		switch f {
		case 1:
			name = string(s)
		case 2:
			return walkProto(s, func(f, w int, _ uint64, tensor []byte) error {
				if f != 1 || w != 2 {
					return nil
				}
				return walkProto(tensor, func(f, w int, _ uint64, shape []byte) error {
					if f != 2 || w != 2 {
						return nil
					}
					return walkProto(shape, func(f, w int, _ uint64, dim []byte) error {
						if f != 1 || w != 2 {
							return nil
						}
						d := int64(-1)
						err := walkProto(dim, func(f, w int, v uint64, _ []byte) error {
							if f == 1 && w == 0 {
								d = int64(v)
							}
							return nil
						})
						dims = append(dims, d)
						return err
					})
				})
			})
		}
		return nil
	})
	return name, dims, err
}

// walkProto calls fn for every top-level field of a protobuf message. For
// varints v is the value; for length-delimited fields b is the payload.
func walkProto(data []byte, fn func(field, wire int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return fmt.Errorf("%w: bad field key", errProto)
		}
		data = data[n:]
		field, wire := int(key>>3), int(key&7)
		if field == 0 {
			return fmt.Errorf("%w: field number 0", errProto)
		}
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(data)
			if n <= 0 {
				return fmt.Errorf("%w: bad varint", errProto)
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return fmt.Errorf("%w: truncated fixed64", errProto)
			}
			data = data[8:]
		case 5:
			if len(data) < 4 {
				return fmt.Errorf("%w: truncated fixed32", errProto)
			}
			data = data[4:]
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return fmt.Errorf("%w: bad length", errProto)
			}
			b = data[n : n+int(l)]
			data = data[n+int(l):]
		default:
			return fmt.Errorf("%w: wire type %d", errProto, wire)
		}
		if err := fn(field, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}
