package capture

import (
	"context"
	"errors"
	"image"
	"time"

	"gocv.io/x/gocv"
)

// QRConfig tunes the badge scanner.
type QRConfig struct {
	// Every is the time between scans (default 500 ms). One scan of a
	// 1280x720 frame costs a few milliseconds of one core when no code is in
	// view (see docs/capture.md); scanning at 2 Hz while idle is cheap.
	Every time.Duration
	// Width the frame is scaled down to before scanning (default 960; 0 keeps
	// frames narrower than that as they are).
	Width int
	// Repeat: the same payload is not reported again within this time
	// (default 5 s), so a badge held up is one identification.
	Repeat time.Duration
	// Clock is the time source (SystemClock by default).
	Clock Clock
}

// QRScanner decodes QR badges from camera frames at a low rate. The payload
// is handed out as is: the caller validates it.
type QRScanner struct {
	src FrameSource
	cfg QRConfig
}

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
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &QRScanner{src: src, cfg: cfg}
}

// Run scans until ctx ends (returning nil) or the source is closed
// (ErrClosed). found is called from Run's goroutine with each new payload;
// it must not block. Run the scanner only while the gate is idle: cancel its
// ctx when a session starts.
func (q *QRScanner) Run(ctx context.Context, found func(payload string)) error {
	det := gocv.NewQRCodeDetector()
	defer det.Close()
	frame, grey, small, points, straight := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&frame, &grey, &small, &points, &straight} {
			m.Close()
		}
	}()
	var seq uint64
	var last string
	var lastAt time.Time
	for {
		info, err := q.src.Next(ctx, seq, &frame)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrClosed) {
				return err
			}
			// A camera error: wait a scan period and ask again.
		} else {
			seq = info.Seq
			if p := q.scan(&det, frame, &grey, &small, &points, &straight); p != "" {
				if p != last || info.At.Sub(lastAt) >= q.cfg.Repeat {
					found(p)
				}
				last, lastAt = p, info.At
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.cfg.Clock.After(q.cfg.Every):
		}
	}
}

// scan returns the decoded payload or "". Detect runs first: gocv 0.32's
// DetectAndDecode leaks its result string, so it is called only when a code
// is in view.
func (q *QRScanner) scan(det *gocv.QRCodeDetector, frame gocv.Mat, grey, small, points, straight *gocv.Mat) string {
	gocv.CvtColor(frame, grey, gocv.ColorBGRToGray)
	src := *grey
	if grey.Cols() > q.cfg.Width {
		h := grey.Rows() * q.cfg.Width / grey.Cols()
		gocv.Resize(*grey, small, image.Pt(q.cfg.Width, h), 0, 0, gocv.InterpolationArea)
		src = *small
	}
	if !det.Detect(src, points) {
		return ""
	}
	return det.DetectAndDecode(src, points, straight)
}
