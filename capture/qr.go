package capture

import (
	"context"
	"errors"
	"image"
	"math"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqrcode "github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"
)

// QRConfig tunes the badge scanner.
type QRConfig struct {
	// Every is the time between scans (default 500 ms).
	Every time.Duration
	// Width the frame is scaled down to before scanning (default 960).
	Width int
	// Repeat: the same payload is not reported again within this time
	// (default 5 s), so a badge held up is one identification.
	Repeat time.Duration
	// ActiveFor: after the picture last changed, scanning goes on this long
	// (default 3 s); a still picture is not scanned again.
	ActiveFor time.Duration
	// Clock is the time source (SystemClock by default).
	Clock Clock
}

// QRScanner reads QR badges from camera frames at a low rate and hands out
// the payload as is (the caller validates it).
//
// Cost: OpenCV finds the code (QRCodeDetector.Detect, a few ms on a
// 960x540 grey frame; at 2 Hz about 1-5% of one core) and a pure-Go decoder
// (gozxing) reads it: Debian's OpenCV 4.6 is built without quirc, so
// OpenCV's own decoding returns nothing there. While the picture does not
// change, a scan costs one thumbnail.
type QRScanner struct {
	src    FrameSource
	cfg    QRConfig
	reader gozxing.Reader
	hints  map[gozxing.DecodeHintType]interface{}
}

// changeLevel is the mean absolute thumbnail difference (0-255) above
// which the picture changed; sensor noise stays below it.
const changeLevel = 3.0

// NewQRScanner returns a scanner of src.
func NewQRScanner(src FrameSource, cfg QRConfig) *QRScanner {
	if cfg.Every <= 0 {
		cfg.Every = 500 * time.Millisecond
	}
	if cfg.Width <= 0 {
		cfg.Width = 960
	}
	if cfg.Repeat <= 0 {
		cfg.Repeat = 5 * time.Second
	}
	if cfg.ActiveFor <= 0 {
		cfg.ActiveFor = 3 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &QRScanner{src: src, cfg: cfg, reader: gzqrcode.NewQRCodeReader(),
		hints: map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}}
}

// qrScratch holds the Mats of one Run.
type qrScratch struct {
	frame, grey, small, points, thumb, prevThumb, diff, roi gocv.Mat
}

func (s *qrScratch) all() []*gocv.Mat {
	return []*gocv.Mat{&s.frame, &s.grey, &s.small, &s.points, &s.thumb, &s.prevThumb, &s.diff, &s.roi}
}

// Run scans until ctx ends (returning nil) or the source is closed
// (ErrClosed). found is called from Run's goroutine with each new payload;
// it must not block. Run the scanner while the gate is idle and cancel its
// ctx when a session starts.
func (q *QRScanner) Run(ctx context.Context, found func(payload string)) error {
	det := gocv.NewQRCodeDetector()
	defer det.Close()
	var m qrScratch
	for _, p := range m.all() {
		*p = gocv.NewMat()
	}
	defer func() {
		for _, p := range m.all() {
			p.Close()
		}
	}()
	var seq uint64
	var last string
	var lastAt, changedAt time.Time
	for {
		info, err := q.src.Next(ctx, seq, &m.frame)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case err == nil && !m.frame.Empty():
			seq = info.Seq
			if q.changed(&m) {
				changedAt = info.At
			}
			if info.At.Sub(changedAt) > q.cfg.ActiveFor {
				break // a still picture: nothing new to read
			}
			if p := q.scan(&det, &m); p != "" {
				if p != last || info.At.Sub(lastAt) >= q.cfg.Repeat {
					found(p)
				}
				last, lastAt = p, info.At
			}
		}
		// Any other error is the camera's: ask again at the next scan.
		select {
		case <-ctx.Done():
			return nil
		case <-q.cfg.Clock.After(q.cfg.Every):
		}
	}
}

// changed compares a grey thumbnail of the frame with the previous one.
func (q *QRScanner) changed(m *qrScratch) bool {
	gocv.Resize(m.frame, &m.diff, image.Pt(thumbW, thumbH), 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(m.diff, &m.thumb, gocv.ColorBGRToGray)
	defer m.thumb.CopyTo(&m.prevThumb)
	if m.prevThumb.Empty() {
		return true
	}
	gocv.AbsDiff(m.thumb, m.prevThumb, &m.diff)
	return m.diff.Mean().Val1 > changeLevel
}

// scan returns the decoded payload or "".
func (q *QRScanner) scan(det *gocv.QRCodeDetector, m *qrScratch) string {
	gocv.CvtColor(m.frame, &m.grey, gocv.ColorBGRToGray)
	src := m.grey
	if m.grey.Cols() > q.cfg.Width {
		h := m.grey.Rows() * q.cfg.Width / m.grey.Cols()
		gocv.Resize(m.grey, &m.small, image.Pt(q.cfg.Width, h), 0, 0, gocv.InterpolationArea)
		src = m.small
	}
	if !det.Detect(src, &m.points) {
		return ""
	}
	// Decode the code's surroundings first (cheap), the whole picture if
	// that fails.
	full := image.Rect(0, 0, src.Cols(), src.Rows())
	if r, ok := quadBounds(m.points, full); ok {
		roi := src.Region(r)
		roi.CopyTo(&m.roi) // continuous, for the decoder
		roi.Close()
		if p := q.decode(m.roi); p != "" {
			return p
		}
	}
	return q.decode(src)
}

// quadBounds is the bounding box of the detected corners with a quiet-zone
// margin, inside full.
func quadBounds(points gocv.Mat, full image.Rectangle) (image.Rectangle, bool) {
	pts, err := points.DataPtrFloat32()
	if err != nil || len(pts) < 8 {
		return image.Rectangle{}, false
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for i := 0; i+1 < 8; i += 2 {
		x, y := float64(pts[i]), float64(pts[i+1])
		if !finite(x, y) {
			return image.Rectangle{}, false
		}
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, y), math.Max(maxY, y)
	}
	m := math.Max(maxX-minX, maxY-minY) / 4
	r := image.Rect(int(minX-m), int(minY-m), int(maxX+m), int(maxY+m)).Intersect(full)
	return r, r.Dx() >= 21 && r.Dy() >= 21
}

// decode reads a QR code from a continuous grey 8-bit Mat with gozxing.
// The pixels are copied into Go memory: the decoder may keep them.
func (q *QRScanner) decode(grey gocv.Mat) string {
	pix, err := grey.DataPtrUint8()
	if err != nil || !grey.IsContinuous() || len(pix) < grey.Cols()*grey.Rows() {
		return ""
	}
	img := &image.Gray{Pix: append([]byte(nil), pix[:grey.Cols()*grey.Rows()]...), Stride: grey.Cols(),
		Rect: image.Rect(0, 0, grey.Cols(), grey.Rows())}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return ""
	}
	res, err := q.reader.Decode(bmp, q.hints)
	q.reader.Reset()
	if err != nil {
		return ""
	}
	return res.GetText()
}
