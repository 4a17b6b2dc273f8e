//go:build linux

// Command camfeed pushes a still image (or a looped video) as raw BGR24
// frames into a v4l2loopback device, so that readers of that device see a
// webcam showing it. The HIL camera test runs it inside the VM.
//
//	camfeed -dev /dev/video10 -src face.jpg [-w 640 -h 480 -fps 15 -for 0]
//
// It prints "camfeed: first frame written" once readers may open the device
// (with exclusive_caps=1 the capture side exists only while a feeder runs).
// Consecutive frames differ in one pixel, as a real sensor's would.
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"os"
	"time"
	"unsafe"

	"gocv.io/x/gocv"
	"golang.org/x/sys/unix"
)

// v4l2PixFormat and v4l2Format mirror struct v4l2_format on amd64 and
// arm64: u32 type, 4 bytes of padding, a 200-byte union.
type v4l2PixFormat struct {
	Width, Height, PixelFormat, Field, BytesPerLine, SizeImage, Colorspace, Priv uint32
	Flags, YcbcrEnc, Quantization, XferFunc                                      uint32
}

type v4l2Format struct {
	Type uint32
	_    uint32
	Pix  v4l2PixFormat
	_    [200 - 48]byte
}

const (
	bufTypeVideoOutput = 2
	fieldNone          = 1
	colorspaceSRGB     = 8
	vidiocSFmt         = 0xc0d05605 // _IOWR('V', 5, struct v4l2_format), 208 bytes
)

func fourcc(s string) uint32 {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "camfeed:", err)
		os.Exit(1)
	}
}

func run() error {
	dev := flag.String("dev", "/dev/video10", "v4l2loopback device")
	src := flag.String("src", "", "image or video file")
	w := flag.Int("w", 640, "frame width")
	h := flag.Int("h", 480, "frame height")
	fps := flag.Float64("fps", 15, "frames per second")
	dur := flag.Duration("for", 0, "stop after this long (0: until killed)")
	flag.Parse()
	if unsafe.Sizeof(v4l2Format{}) != 208 {
		return errors.New("struct v4l2_format layout does not match this architecture")
	}
	if *src == "" || *fps <= 0 || *w <= 0 || *h <= 0 {
		return errors.New("need -src, and positive -w, -h and -fps")
	}

	// A still image is repeated; a video is looped.
	still := gocv.IMRead(*src, gocv.IMReadColor)
	defer still.Close()
	var vid *gocv.VideoCapture
	if still.Empty() {
		v, err := gocv.OpenVideoCapture(*src)
		if err != nil {
			return fmt.Errorf("read %s: %w", *src, err)
		}
		defer v.Close()
		if !v.IsOpened() {
			return fmt.Errorf("read %s: neither an image nor a video", *src)
		}
		vid = v
	}

	f, err := os.OpenFile(*dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	vf := v4l2Format{Type: bufTypeVideoOutput}
	vf.Pix = v4l2PixFormat{Width: uint32(*w), Height: uint32(*h), PixelFormat: fourcc("BGR3"),
		Field: fieldNone, BytesPerLine: uint32(*w * 3), SizeImage: uint32(*w * *h * 3), Colorspace: colorspaceSRGB}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), vidiocSFmt, uintptr(unsafe.Pointer(&vf))); e != 0 {
		return fmt.Errorf("VIDIOC_S_FMT on %s: %w", *dev, e)
	}

	frame, sized := gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer sized.Close()
	start, n := time.Now(), 0
	tick := time.NewTicker(time.Duration(float64(time.Second) / *fps))
	defer tick.Stop()
	for ; *dur == 0 || time.Since(start) < *dur; <-tick.C {
		if vid != nil {
			if !vid.Read(&frame) || frame.Empty() {
				vid.Set(gocv.VideoCapturePosFrames, 0) // end of the file: rewind
				continue
			}
		} else {
			still.CopyTo(&frame)
		}
		gocv.Resize(frame, &sized, image.Pt(*w, *h), 0, 0, gocv.InterpolationLinear)
		buf := sized.ToBytes()
		// A real sensor never sends two identical frames (and readers may
		// treat a still picture as a frozen camera): the first pixel's blue
		// value carries the frame number.
		buf[0] = byte(n)
		if _, err := f.Write(buf); err != nil {
			return fmt.Errorf("write a frame: %w", err)
		}
		if n++; n == 1 {
			fmt.Println("camfeed: first frame written")
		}
	}
	return nil
}
