package main

// Badge QR decoding. Debian's OpenCV 4.6 (Debian 12, Raspberry Pi OS
// bookworm) is built without the quirc library: gocv's QRCodeDetector finds
// a code but decodes nothing, and says so on stdout ("Library QUIRC is not
// linked"), which capture.QRScanner relies on. The daemon therefore lets
// OpenCV find the code and reads it with a pure-Go decoder (gozxing), on
// every platform alike.

import (
	"context"
	"errors"
	"image"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqrcode "github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
)

// badgeScanner reads badge QR codes from the camera until ctx ends
// (capture.QRScanner has the same method, for an OpenCV with quirc).
type badgeScanner interface {
	Run(ctx context.Context, found func(payload string)) error
}

// goQRScanner has capture.QRScanner's behaviour (a scan every 500 ms on a
// frame scaled to 960 wide; the same payload reported again only after
// 5 s) with OpenCV finding the code and gozxing decoding it.
//
// OpenCV's QR detection is the one costly step of an idle gate (~4% of a
// core at 2 Hz on 960x540), so it runs only while the picture changes and
// for a few seconds after: a still, empty scene costs a thumbnail a scan.
type goQRScanner struct {
	src    capture.FrameSource
	every  time.Duration
	repeat time.Duration
	width  int
	// activeFor: scanning continues this long after the last change.
	activeFor time.Duration
	// changeLevel is the mean absolute difference (0-255) of two
	// consecutive thumbnails above which the picture changed; sensor
	// noise stays below it.
	changeLevel float64
	reader      gozxing.Reader
	hints       map[gozxing.DecodeHintType]interface{}
}

func newGoQRScanner(src capture.FrameSource) *goQRScanner {
	return &goQRScanner{src: src, every: 500 * time.Millisecond, repeat: 5 * time.Second, width: 960,
		activeFor: 3 * time.Second, changeLevel: 3,
		reader: gzqrcode.NewQRCodeReader(),
		hints:  map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}}
}

// thumbSize is the picture the change detector compares.
var thumbSize = image.Pt(64, 36)

// Run scans until ctx ends (nil) or the source is closed (capture.ErrClosed).
// found is called from Run's goroutine and must not block.
func (q *goQRScanner) Run(ctx context.Context, found func(payload string)) error {
	det := gocv.NewQRCodeDetector()
	defer det.Close()
	frame, grey, small, points := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	thumb, prevThumb, diff := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&frame, &grey, &small, &points, &thumb, &prevThumb, &diff} {
			m.Close()
		}
	}()
	var seq uint64
	var last string
	var lastAt, changedAt time.Time
	t := time.NewTicker(q.every)
	defer t.Stop()
	for {
		info, err := q.src.Next(ctx, seq, &frame)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, capture.ErrClosed):
			return err
		case err == nil && !frame.Empty():
			seq = info.Seq
			if q.changed(frame, &thumb, &prevThumb, &diff) {
				changedAt = info.At
			}
			if info.At.Sub(changedAt) > q.activeFor {
				break // a still picture: nothing new to read
			}
			if p := q.scan(&det, frame, &grey, &small, &points); p != "" {
				if p != last || info.At.Sub(lastAt) >= q.repeat {
					found(p)
				}
				last, lastAt = p, info.At
			}
		}
		// Any other error is the camera's: ask again at the next tick.
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// changed compares a grey thumbnail of frame with the previous one.
func (q *goQRScanner) changed(frame gocv.Mat, thumb, prev, diff *gocv.Mat) bool {
	gocv.Resize(frame, diff, thumbSize, 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(*diff, thumb, gocv.ColorBGRToGray)
	defer thumb.CopyTo(prev)
	if prev.Empty() {
		return true
	}
	gocv.AbsDiff(*thumb, *prev, diff)
	return diff.Mean().Val1 > q.changeLevel
}

// scan returns the decoded payload or "".
func (q *goQRScanner) scan(det *gocv.QRCodeDetector, frame gocv.Mat, grey, small, points *gocv.Mat) string {
	if frame.Empty() {
		return ""
	}
	gocv.CvtColor(frame, grey, gocv.ColorBGRToGray)
	src := grey
	if grey.Cols() > q.width {
		h := grey.Rows() * q.width / grey.Cols()
		gocv.Resize(*grey, small, image.Pt(q.width, h), 0, 0, gocv.InterpolationArea)
		src = small
	}
	if !det.Detect(*src, points) {
		return ""
	}
	return decodeQR(*src, q.reader, q.hints)
}

// decodeQR reads a QR code from a grey 8-bit Mat with gozxing.
func decodeQR(grey gocv.Mat, reader gozxing.Reader, hints map[gozxing.DecodeHintType]interface{}) string {
	pix, err := grey.DataPtrUint8()
	if err != nil || !grey.IsContinuous() {
		return ""
	}
	img := &image.Gray{Pix: pix, Stride: grey.Cols(), Rect: image.Rect(0, 0, grey.Cols(), grey.Rows())}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return ""
	}
	res, err := reader.Decode(bmp, hints)
	reader.Reset()
	if err != nil {
		return ""
	}
	return res.GetText()
}
