// Package demoscene builds, at run time, the camera picture of `facegate
// demo`: a 1280x720 scene in front of the gate (empty, a badge QR code held
// up, a worker's face, a print of it held up), rendered frame by frame,
// written as an MJPG video or JPEG frames that the capture package reads
// like any video file, or played as a live camera (Live) whose people answer
// the kiosk's liveness challenge.
//
// The faces are the gocv module's sample photos (images/face.jpg and
// images/face-detect.jpg), found in the Go module cache at run time: no
// photo is committed to the repository.
package demoscene

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"gocv.io/x/gocv"
	"rsc.io/qr"
)

// Errors of this package.
var (
	// ErrImages: the gocv sample images cannot be found or read.
	ErrImages = errors.New("demoscene: sample images unavailable")
	// ErrScene: the scene description is unusable (see the message).
	ErrScene = errors.New("demoscene: invalid scene")
)

// Kind is what a phase shows.
type Kind int

// The phases a scene is made of.
const (
	// Empty is the gate with nobody in front of it.
	Empty Kind = iota
	// Badge is a badge card with a QR code held up to the camera.
	Badge
	// Face is a person looking at the camera (a photo filling the frame's height).
	Face
	// Print is a photo attack: a print of the photo, on paper with a white
	// margin, held up to the camera by hand (Live turns it when challenged).
	Print
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "empty"
	case Badge:
		return "badge"
	case Face:
		return "face"
	case Print:
		return "print"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Phase is one stretch of the scene.
type Phase struct {
	Kind Kind
	// Payload is the QR code's text (Badge).
	Payload string
	// Image is the path of the photo (Face, Print).
	Image string
	// Crop is the part of the photo to show, in its pixels (empty: all of it).
	Crop image.Rectangle
	// Duration is how long the phase lasts (rounded to whole frames, at
	// least one).
	Duration time.Duration
}

// Scene is a script of phases at a frame size and rate.
type Scene struct {
	Width, Height, FPS int
	Phases             []Phase
}

// Frames is the number of frames of one pass through the scene.
func (s Scene) Frames() int {
	n := 0
	for _, p := range s.Phases {
		n += s.phaseFrames(p)
	}
	return n
}

// Length is the duration of one pass through the scene.
func (s Scene) Length() time.Duration {
	if s.FPS <= 0 {
		return 0
	}
	return time.Duration(s.Frames()) * time.Second / time.Duration(s.FPS)
}

func (s Scene) phaseFrames(p Phase) int {
	n := int(math.Round(p.Duration.Seconds() * float64(s.FPS)))
	if n < 1 {
		n = 1
	}
	return n
}

func (s Scene) validate() error {
	if s.Width < 320 || s.Height < 240 || s.Width > 3840 || s.Height > 2160 {
		return fmt.Errorf("%w: frame size %dx%d is outside 320x240..3840x2160", ErrScene, s.Width, s.Height)
	}
	if s.FPS < 1 || s.FPS > 60 {
		return fmt.Errorf("%w: fps %d is outside 1..60", ErrScene, s.FPS)
	}
	if len(s.Phases) == 0 {
		return fmt.Errorf("%w: no phases", ErrScene)
	}
	for i, p := range s.Phases {
		switch p.Kind {
		case Empty:
		case Badge:
			if p.Payload == "" {
				return fmt.Errorf("%w: phase %d: a badge needs a QR payload", ErrScene, i)
			}
		case Face, Print:
			if p.Image == "" {
				return fmt.Errorf("%w: phase %d: a %s needs an image", ErrScene, i, p.Kind)
			}
		default:
			return fmt.Errorf("%w: phase %d: unknown kind %d", ErrScene, i, p.Kind)
		}
	}
	return nil
}

// Render draws every frame of one pass in order and hands each to emit,
// which must not keep the Mat (it is reused). Render stops at emit's first
// error and returns it.
func (s Scene) Render(emit func(frame gocv.Mat) error) error {
	if err := s.validate(); err != nil {
		return err
	}
	r, err := newRenderer(s)
	if err != nil {
		return err
	}
	defer r.close()
	frame := gocv.NewMatWithSize(s.Height, s.Width, gocv.MatTypeCV8UC3)
	defer frame.Close()
	n := 0
	for i, p := range s.Phases {
		for j, count := 0, s.phaseFrames(p); j < count; j++ {
			if err := r.draw(&frame, i, n); err != nil {
				return err
			}
			if err := emit(frame); err != nil {
				return err
			}
			n++
		}
	}
	return nil
}

// WriteVideo writes one pass of the scene to path as Motion-JPEG in an AVI
// container (OpenCV's built-in writer: no codec library needed).
func (s Scene) WriteVideo(path string) error {
	if err := s.validate(); err != nil {
		return err
	}
	vw, err := gocv.VideoWriterFile(path, "MJPG", float64(s.FPS), s.Width, s.Height, true)
	if err != nil {
		if vw != nil {
			vw.Close()
		}
		return fmt.Errorf("demoscene: open video writer %s: %w", path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return fmt.Errorf("demoscene: OpenCV cannot write MJPG video to %s", path)
	}
	werr := s.Render(func(frame gocv.Mat) error {
		if err := vw.Write(frame); err != nil {
			return fmt.Errorf("demoscene: write frame to %s: %w", path, err)
		}
		return nil
	})
	if cerr := vw.Close(); werr == nil && cerr != nil {
		werr = fmt.Errorf("demoscene: close %s: %w", path, cerr)
	}
	return werr
}

// renderer holds what the phases draw from: the background, and per phase
// the badge card or the scaled photo.
type renderer struct {
	s          Scene
	background gocv.Mat
	layers     []gocv.Mat // per phase; empty Mat for Empty phases
	at         []image.Point
}

func newRenderer(s Scene) (*renderer, error) {
	r := &renderer{s: s, background: drawBackground(s.Width, s.Height)}
	for _, p := range s.Phases {
		var layer gocv.Mat
		var err error
		switch p.Kind {
		case Badge:
			layer, err = drawBadge(p.Payload, s.Height)
		case Face:
			layer, err = scalePhoto(p.Image, p.Crop, s.Width, s.Height)
		case Print:
			// A sheet held up at arm's length: smaller than the person.
			layer, err = scalePhoto(p.Image, p.Crop, s.Width*printPhoto/100, s.Height*printPhoto/100)
		default:
			layer = gocv.NewMat()
		}
		if err != nil {
			layer.Close()
			r.close()
			return nil, err
		}
		r.layers = append(r.layers, layer)
		r.at = append(r.at, image.Pt((s.Width-layer.Cols())/2, (s.Height-layer.Rows())/2))
	}
	return r, nil
}

func (r *renderer) close() {
	r.background.Close()
	for _, m := range r.layers {
		m.Close()
	}
}

// draw composes frame n (phase i): the background, the phase's layer moved
// by a pixel or two as a hand-held badge or a live person would, and a
// camera overlay with the frame number so that no two frames are identical
// (the camera's frozen-picture check would otherwise trip).
func (r *renderer) draw(dst *gocv.Mat, phase, n int) error {
	r.drawLayer(dst, r.layers[phase], phase, n)
	return nil
}

// printPhoto is a Print layer's size, in percent of the frame.
const printPhoto = 70

// drawLayer is draw with the given layer (the Live scene's turned heads).
func (r *renderer) drawLayer(dst *gocv.Mat, layer gocv.Mat, phase, n int) {
	r.background.CopyTo(dst)
	if !layer.Empty() {
		dx := int(math.Round(2 * math.Sin(float64(n)/5)))
		dy := int(math.Round(1 * math.Cos(float64(n)/7)))
		at := r.at[phase].Add(image.Pt(dx, dy))
		rect := image.Rectangle{Min: at, Max: at.Add(image.Pt(layer.Cols(), layer.Rows()))}.
			Intersect(image.Rect(0, 0, r.s.Width, r.s.Height))
		src := layer.Region(image.Rectangle{Min: rect.Min.Sub(at), Max: rect.Max.Sub(at)})
		roi := dst.Region(rect)
		src.CopyTo(&roi)
		roi.Close()
		src.Close()
	}
	r.overlay(dst, phase, n)
}

// overlay writes the camera's caption with the frame number.
func (r *renderer) overlay(dst *gocv.Mat, phase, n int) {
	osd := fmt.Sprintf("CAM 1  %s  #%06d", r.s.Phases[phase].Kind, n)
	gocv.PutText(dst, osd, image.Pt(16, r.s.Height-16), gocv.FontHersheyPlain, 1.2, color.RGBA{230, 230, 230, 0}, 1)
}

// drawBackground is a plain corridor: a wall, a floor and a door frame.
func drawBackground(w, h int) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(168, 176, 180, 0), h, w, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&m, image.Rect(0, h*3/4, w, h), color.RGBA{96, 104, 110, 0}, -1)
	gocv.Rectangle(&m, image.Rect(w/2-w/6, h/10, w/2+w/6, h*3/4), color.RGBA{120, 130, 138, 0}, 12)
	return m
}

// drawBadge is a white card with the QR code (quiet zone included) and a
// caption, sized to a third of the frame's height for the code.
func drawBadge(payload string, frameHeight int) (gocv.Mat, error) {
	code, err := qr.Encode(payload, qr.M)
	if err != nil {
		return gocv.NewMat(), fmt.Errorf("%w: QR payload %q: %v", ErrScene, payload, err)
	}
	const quiet = 4
	modules := code.Size + 2*quiet
	px := max(frameHeight/2/modules, 2)
	side := modules * px
	card := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(250, 250, 250, 0), side+px*10, side, gocv.MatTypeCV8UC3)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				x0, y0 := (x+quiet)*px, (y+quiet)*px
				gocv.Rectangle(&card, image.Rect(x0, y0, x0+px, y0+px), color.RGBA{0, 0, 0, 0}, -1)
			}
		}
	}
	gocv.PutText(&card, "SITE BADGE", image.Pt(px*quiet, side+px*6), gocv.FontHersheySimplex, float64(px)/6, color.RGBA{40, 40, 40, 0}, 2)
	return card, nil
}

// scalePhoto reads a photo, keeps its crop rectangle, and scales it to
// fill the frame's height (keeping its aspect ratio, never wider than the
// frame).
func scalePhoto(path string, crop image.Rectangle, w, h int) (gocv.Mat, error) {
	full := gocv.IMRead(path, gocv.IMReadColor)
	if full.Empty() {
		full.Close()
		return gocv.NewMat(), fmt.Errorf("%w: cannot read %s", ErrImages, path)
	}
	defer full.Close()
	bounds := image.Rect(0, 0, full.Cols(), full.Rows())
	if crop.Empty() {
		crop = bounds
	}
	if !crop.In(bounds) {
		return gocv.NewMat(), fmt.Errorf("%w: crop %v is outside %s (%v)", ErrScene, crop, path, bounds)
	}
	img := full.Region(crop)
	defer img.Close()
	scale := math.Min(float64(h)/float64(img.Rows()), float64(w)/float64(img.Cols()))
	out := gocv.NewMat()
	size := image.Pt(int(float64(img.Cols())*scale), int(float64(img.Rows())*scale))
	gocv.Resize(img, &out, size, 0, 0, gocv.InterpolationLinear)
	return out, nil
}

// WriteFrames writes one pass of the scene into dir as numbered JPEG files
// (frame-000001.jpg, …): the capture package reads a folder of images as a
// camera, paced at the configured frame rate. The frames are encoded on
// every CPU, which makes this several times faster than WriteVideo.
func (s Scene) WriteFrames(dir string) error {
	if err := s.validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demoscene: %w", err)
	}
	type job struct {
		n     int
		frame gocv.Mat
	}
	jobs := make(chan job, runtime.NumCPU())
	errs := make(chan error, runtime.NumCPU())
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first error
			for j := range jobs {
				if first == nil {
					path := filepath.Join(dir, fmt.Sprintf("frame-%06d.jpg", j.n))
					if !gocv.IMWriteWithParams(path, j.frame, []int{gocv.IMWriteJpegQuality, 90}) {
						first = fmt.Errorf("demoscene: OpenCV cannot write %s", path)
					}
				}
				j.frame.Close()
			}
			errs <- first
		}()
	}
	n := 0
	rerr := s.Render(func(frame gocv.Mat) error {
		n++
		jobs <- job{n: n, frame: frame.Clone()}
		return nil
	})
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && rerr == nil {
			rerr = err
		}
	}
	return rerr
}
