package capture

import (
	"context"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"
	"rsc.io/qr"
)

// qrFrame is a 1280x720 frame with a QR code of payload held up at at.
func qrFrame(t testing.TB, payload string, at image.Point, size int) gocv.Mat {
	t.Helper()
	code, err := qr.Encode(payload, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	png := code.PNG()
	img, err := gocv.IMDecode(png, gocv.IMReadColor)
	if err != nil || img.Empty() {
		t.Fatalf("decode QR PNG: %v", err)
	}
	defer img.Close()
	return compose(img, 1280, 720, size, at)
}

func TestQRScannerDecodesBadge(t *testing.T) {
	const payload = "FG1:S:sub-123_abc"
	src := &fakeSource{start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	src.frames = append(src.frames,
		gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 720, 1280, gocv.MatTypeCV8UC3),
		qrFrame(t, payload, image.Pt(500, 200), 300),
		qrFrame(t, payload, image.Pt(510, 205), 300), // same badge again: not reported twice
	)
	defer src.close()
	q := NewQRScanner(src, QRConfig{Every: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src.exhausted = cancel
	var got []string
	err := q.Run(ctx, func(p string) {
		got = append(got, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != payload {
		t.Fatalf("payloads %q, want exactly [%q]", got, payload)
	}
}
