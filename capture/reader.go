package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"gocv.io/x/gocv"
)

// DeviceSettings are what a V4L2 camera is asked for when opened.
type DeviceSettings struct {
	Width, Height, FPS int    // 0 keeps the driver's choice
	FourCC             string // "MJPG" by default; "" keeps the driver's choice
}

// frameReader reads frames one after the other from an opened source.
// It is used by one goroutine at a time.
type frameReader interface {
	// read decodes the next frame into dst; ErrEndOfStream at the end of a
	// finite source that does not loop.
	read(dst *gocv.Mat) error
	// nominalFPS is the source's frame rate, 0 when unknown.
	nominalFPS() float64
	close()
}

// grabber is a frameReader that can take the next frame from the device
// without decoding it (V4L2: dequeue the buffer; the MJPG decode is done by
// read). The Camera grabs the frames nobody needs.
type grabber interface {
	// grab takes and drops the next frame. It cannot report failure
	// (gocv's Grab does not): a failing device is seen by the next read.
	grab()
}

var setSelectTimeout sync.Once

// v4l2SelectTimeout bounds how long one V4L2 read waits for an unplugged
// camera (seconds; OpenCV's default is 10). OpenCV reads it once, on the
// first select(), so it is set before the first device is opened.
const v4l2SelectTimeout = "2"

// openReader opens src. loop makes finite sources start over at their end.
func openReader(src Source, ds DeviceSettings, loop bool) (frameReader, error) {
	switch src.Kind {
	case SourceDevice:
		setSelectTimeout.Do(func() {
			if os.Getenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT") == "" {
				os.Setenv("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", v4l2SelectTimeout)
			}
		})
		var vc *gocv.VideoCapture
		var err error
		if src.Index >= 0 {
			vc, err = gocv.VideoCaptureDeviceWithAPI(src.Index, gocv.VideoCaptureV4L2)
		} else {
			vc, err = gocv.VideoCaptureFileWithAPI(src.Target, gocv.VideoCaptureV4L2)
		}
		if err != nil || !vc.IsOpened() {
			vc.Close()
			return nil, fmt.Errorf("%w: %s: %s", ErrOpen, src, whyDeviceFails(src.Target))
		}
		applyDeviceSettings(vc, ds)
		return &v4l2Reader{vcReader{vc: vc}}, nil
	case SourceStream, SourcePipeline, SourceVideo:
		api := gocv.VideoCaptureFFmpeg
		if src.Kind == SourcePipeline {
			api = gocv.VideoCaptureGstreamer
		}
		if src.Kind == SourceVideo {
			fi, err := os.Stat(src.Target)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrOpen, src, err)
			}
			if fi.IsDir() {
				return openFolder(src.Target, loop, src.MaxPixels)
			}
			// FFmpeg would block opening a FIFO, in C, deaf to signals.
			f, _, err := openRegular(src.Target)
			if err != nil {
				return nil, fmt.Errorf("video %s: %w", src.Target, err)
			}
			f.Close()
		}
		vc, err := gocv.VideoCaptureFileWithAPI(src.Target, api)
		if err != nil || !vc.IsOpened() {
			vc.Close()
			return nil, fmt.Errorf("%w: %s: OpenCV cannot open or decode it", ErrOpen, src)
		}
		if src.Kind == SourceVideo {
			w, h := int(vc.Get(gocv.VideoCaptureFrameWidth)), int(vc.Get(gocv.VideoCaptureFrameHeight))
			if err := checkPixels("video "+src.Target, w, h, src.MaxPixels); err != nil {
				vc.Close()
				return nil, err
			}
		}
		if src.Kind == SourceStream {
			vc.Set(gocv.VideoCaptureBufferSize, 1)
		}
		return &vcReader{vc: vc, loop: loop && src.Kind == SourceVideo}, nil
	case SourceImage:
		img, err := readImage(src.Target, src.MaxPixels)
		if err != nil {
			return nil, err
		}
		return &imageReader{img: img, loop: loop}, nil
	case SourceFolder:
		return openFolder(src.Target, loop, src.MaxPixels)
	}
	return nil, fmt.Errorf("%w: kind %d", ErrBadSource, src.Kind)
}

// applyDeviceSettings asks a V4L2 camera for its format. FOURCC goes first:
// the driver picks the sizes and rates it offers per format.
// whyDeviceFails says why OpenCV could not open a V4L2 node, in words an
// operator can act on (OpenCV itself only says no).
func whyDeviceFails(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such device (unplugged? a /dev/v4l/by-id/ path finds the camera again under any number)"
	case err != nil:
		return err.Error()
	case fi.Mode()&fs.ModeCharDevice == 0:
		return "not a device node"
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "permission denied (the user running facegate needs the video group)"
		}
		return err.Error()
	}
	f.Close()
	return "not a camera OpenCV can capture from (a metadata or codec node, or in use by another program)"
}

func applyDeviceSettings(vc *gocv.VideoCapture, ds DeviceSettings) {
	if ds.FourCC != "" {
		vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec(ds.FourCC))
	}
	if ds.Width > 0 && ds.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(ds.Width))
		vc.Set(gocv.VideoCaptureFrameHeight, float64(ds.Height))
	}
	if ds.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, float64(ds.FPS))
	}
	// One buffer: a frame read is the newest the driver has, not one queued
	// a few hundred milliseconds ago.
	vc.Set(gocv.VideoCaptureBufferSize, 1)
}

// readImage decodes one image file as BGR.
type vcReader struct {
	vc   *gocv.VideoCapture
	loop bool
}

func (r *vcReader) read(dst *gocv.Mat) error {
	if r.vc.Read(dst) && !dst.Empty() {
		return nil
	}
	if r.loop {
		r.vc.Set(gocv.VideoCapturePosFrames, 0)
		if r.vc.Read(dst) && !dst.Empty() {
			return nil
		}
		return fmt.Errorf("%w: read failed after rewinding", ErrOpen)
	}
	return ErrEndOfStream
}

func (r *vcReader) nominalFPS() float64 { return r.vc.Get(gocv.VideoCaptureFPS) }
func (r *vcReader) close()              { r.vc.Close() }

// v4l2Reader is a V4L2 camera: grabbing only dequeues the driver's
// buffer, read (grab + retrieve) also decodes it.
type v4l2Reader struct{ vcReader }

func (r *v4l2Reader) grab() { r.vc.Grab(1) }

type imageReader struct {
	img  gocv.Mat
	loop bool
	done bool
}

func (r *imageReader) read(dst *gocv.Mat) error {
	if r.done && !r.loop {
		return ErrEndOfStream
	}
	r.done = true
	r.img.CopyTo(dst)
	return nil
}

func (r *imageReader) nominalFPS() float64 { return 0 }
func (r *imageReader) close()              { r.img.Close() }

// folderReader decodes the images of a folder in name order.
type folderReader struct {
	files     []string
	next      int
	loop      bool
	maxPixels int
}

func openFolder(dir string, loop bool, maxPixels int) (frameReader, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: folder %s: %w", ErrOpen, dir, err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isImageFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: folder %s has no images", ErrOpen, dir)
	}
	sort.Strings(files)
	return &folderReader{files: files, loop: loop, maxPixels: maxPixels}, nil
}

func (r *folderReader) read(dst *gocv.Mat) error {
	if r.next >= len(r.files) {
		if !r.loop {
			return ErrEndOfStream
		}
		r.next = 0
	}
	img, err := readImage(r.files[r.next], r.maxPixels)
	r.next++
	if err != nil {
		return err
	}
	defer img.Close()
	img.CopyTo(dst)
	return nil
}

func (r *folderReader) nominalFPS() float64 { return 0 }
func (r *folderReader) close()              {}
