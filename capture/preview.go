package capture

import (
	"context"
	"image"
	"image/color"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// PreviewConfig tunes the kiosk preview.
type PreviewConfig struct {
	Width   int                      // JPEG width (default 480)
	MaxFPS  float64                  // at most this many new JPEGs a second (default 4)
	Quality int                      // JPEG quality (default 70)
	Clock   Clock                    // SystemClock by default
	Boxes   func() []image.Rectangle // face boxes to draw (Selector.Boxes), may be nil
}

// Preview renders the latest frame as a small JPEG with the face boxes
// drawn, for the kiosk page's MJPEG stream. One JPEG is encoded per period
// and shared by every viewer. Safe for concurrent use.
type Preview struct {
	src FrameSource
	cfg PreviewConfig
	gap time.Duration

	// turn lets one viewer at a time into Next (a one-slot semaphore):
	// unlike a mutex, a viewer who leaves stops waiting for it.
	turn   chan struct{}
	mu     sync.Mutex
	frame  gocv.Mat
	small  gocv.Mat
	jpeg   []byte
	seq    uint64 // sequence of the JPEG (the frame's Seq)
	at     time.Time
	closed bool
}

var boxColour = color.RGBA{0, 200, 0, 255}

// NewPreview returns a preview of src.
func NewPreview(src FrameSource, cfg PreviewConfig) *Preview {
	if cfg.Width <= 0 {
		cfg.Width = 480
	}
	if cfg.MaxFPS <= 0 {
		cfg.MaxFPS = 4
	}
	if cfg.Quality <= 0 || cfg.Quality > 100 {
		cfg.Quality = 70
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	return &Preview{src: src, cfg: cfg, gap: time.Duration(float64(time.Second) / cfg.MaxFPS),
		turn: make(chan struct{}, 1), frame: gocv.NewMat(), small: gocv.NewMat()}
}

// Next returns a JPEG newer than after (the seq of the last JPEG the caller
// got; 0 at first), waiting for the rate limit and for a new frame. The
// bytes are shared: do not modify them.
func (p *Preview) Next(ctx context.Context, after uint64) ([]byte, uint64, error) {
	select {
	case p.turn <- struct{}{}:
		defer func() { <-p.turn }()
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, 0, ErrClosed
	}
	if p.seq > after && p.jpeg != nil {
		return p.jpeg, p.seq, nil
	}
	if wait := p.gap - p.cfg.Clock.Now().Sub(p.at); wait > 0 && p.jpeg != nil {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-p.cfg.Clock.After(wait):
		}
	}
	info, err := p.src.Next(ctx, p.seq, &p.frame)
	if err != nil {
		return nil, 0, err
	}
	scale := 1.0
	img := p.frame
	if p.frame.Cols() > p.cfg.Width {
		scale = float64(p.cfg.Width) / float64(p.frame.Cols())
		h := max(1, int(float64(p.frame.Rows())*scale))
		gocv.Resize(p.frame, &p.small, image.Pt(p.cfg.Width, h), 0, 0, gocv.InterpolationArea)
		img = p.small
	}
	if p.cfg.Boxes != nil {
		for _, b := range p.cfg.Boxes() {
			gocv.Rectangle(&img, scaleRect(b, scale), boxColour, 2)
		}
	}
	jpeg, err := encodeJPEG(img, p.cfg.Quality)
	if err != nil {
		return nil, 0, err
	}
	p.jpeg, p.seq, p.at = jpeg, info.Seq, p.cfg.Clock.Now()
	return p.jpeg, p.seq, nil
}

// Close releases the preview's images.
func (p *Preview) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.frame.Close()
		p.small.Close()
	}
	return nil
}
