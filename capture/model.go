package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// The YuNet model `facegate model install yunet` fetches and
// `capture.detector: auto` trusts. The hash is the Git-LFS oid of the file in
// opencv/opencv_zoo (commit 82b38c8f), the only export OpenCV 4.6 can import.
const (
	YuNetModelFile = "face_detection_yunet_2023mar.onnx"
	YuNetSHA256    = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
	YuNetSize      = 232589
	YuNetURL       = "https://github.com/opencv/opencv_zoo/raw/82b38c8f98e7b52aa171400f3e4c722352d0669f/models/face_detection_yunet/" + YuNetModelFile
)

// DetectorAuto picks YuNet when the installed model is present and is the
// pinned file, Haar otherwise.
const DetectorAuto = "auto"

// VerifyYuNetFile checks that path is the pinned YuNet model (size and
// SHA-256). Errors wrap ErrDetector and say what differs.
func VerifyYuNetFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: YuNet model: %w", ErrDetector, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, maxModelBytes+1))
	if err != nil {
		return fmt.Errorf("%w: YuNet model %s: %w", ErrDetector, path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != YuNetSHA256 {
		return fmt.Errorf("%w: YuNet model %s: %d bytes with SHA-256 %s, want %d bytes with %s (reinstall with `facegate model install yunet`)",
			ErrDetector, path, n, sum, YuNetSize, YuNetSHA256)
	}
	return nil
}
