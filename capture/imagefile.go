package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // DecodeConfig only: the header's size
	_ "image/jpeg" // (OpenCV decodes the pixels)
	_ "image/png"
	"io"
	"os"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/regularfile"
)

// DefaultMaxPixels bounds the decoded size of an image file or a video
// file's frames when Source.MaxPixels is 0: 40 megapixels (7744x5164, a
// 120 MB BGR frame). A 1 MB PNG can declare 20000x20000 and take 2.4 GB to
// decode; the size is read from the header and checked before decoding.
const DefaultMaxPixels = 40_000_000

// maxImageFileBytes bounds how much of an image file is read into memory.
const maxImageFileBytes = 256 << 20

// openRegular opens path for reading without blocking (a FIFO or a device
// would block open or read forever, out of reach of a signal) and refuses
// anything but a regular file, checked on the opened file itself.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, fi, err := regularfile.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	return f, fi, nil
}

// checkPixels refuses w x h above maxPixels (0: DefaultMaxPixels).
func checkPixels(what string, w, h, maxPixels int) error {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %s declares a size of %dx%d", ErrBadImage, what, w, h)
	}
	if int64(w)*int64(h) > int64(maxPixels) {
		return fmt.Errorf("%w: %s is %dx%d, %s, above the limit of %s", ErrTooLarge, what, w, h,
			pixels(int64(w)*int64(h)), pixels(int64(maxPixels)))
	}
	return nil
}

func pixels(n int64) string {
	if n < 100_000 {
		return fmt.Sprintf("%d pixels", n)
	}
	return fmt.Sprintf("%.1f megapixels", float64(n)/1e6)
}

// readImage decodes the image file at path with OpenCV, after checking that
// it is a regular file, not larger than maxImageFileBytes, in a format whose
// header gives its size, and of at most maxPixels (0: DefaultMaxPixels).
func readImage(path string, maxPixels int) (gocv.Mat, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("image %s: %w", path, err)
	}
	defer f.Close()
	if fi.Size() > maxImageFileBytes {
		return gocv.Mat{}, fmt.Errorf("%w: image %s is %d bytes, above %d MiB", ErrTooLarge, path, fi.Size(), maxImageFileBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxImageFileBytes+1))
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: image %s: %w", ErrOpen, path, err)
	}
	if len(data) > maxImageFileBytes {
		return gocv.Mat{}, fmt.Errorf("%w: image %s grew above %d MiB while read", ErrTooLarge, path, maxImageFileBytes>>20)
	}
	w, h, format, err := imageSize(data)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: %s: %w", ErrBadImage, path, err)
	}
	if err := checkPixels(format+" image "+path, w, h, maxPixels); err != nil {
		return gocv.Mat{}, err
	}
	// From the bytes already checked: the path may have changed since.
	img, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil || img.Empty() {
		img.Close()
		return gocv.Mat{}, fmt.Errorf("%w: %s is not an image OpenCV can decode", ErrBadImage, path)
	}
	return img, nil
}

// imageSize reads the width and height from an image's header, for the
// formats OpenCV decodes on a Pi (JPEG, PNG, BMP, TIFF, WebP, PNM; GIF as
// Go knows it). Other formats are refused: their size cannot be checked.
func imageSize(data []byte) (w, h int, format string, err error) {
	w, h, format, err = headerSize(data)
	if err == nil && (w < 0 || h < 0) {
		return 0, 0, format, fmt.Errorf("%s header declares a size of %dx%d", format, w, h)
	}
	return w, h, format, err
}

func headerSize(data []byte) (w, h int, format string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte("BM")):
		w, h, err = bmpSize(data)
		return w, h, "bmp", err
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		w, h, err = tiffSize(data)
		return w, h, "tiff", err
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		w, h, err = webpSize(data)
		return w, h, "webp", err
	case len(data) >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7':
		w, h, err = pnmSize(data)
		return w, h, "pnm", err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return 0, 0, "", errors.New("not an image in a format whose size facegate checks (JPEG, PNG, BMP, TIFF, WebP, PNM)")
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("bad %s header: %w", format, err)
	}
	return cfg.Width, cfg.Height, format, nil
}

var errShortHeader = errors.New("header too short")

func bmpSize(d []byte) (int, int, error) {
	if len(d) < 26 {
		return 0, 0, errShortHeader
	}
	if binary.LittleEndian.Uint32(d[14:18]) == 12 { // OS/2 BITMAPCOREHEADER
		return int(binary.LittleEndian.Uint16(d[18:20])), int(binary.LittleEndian.Uint16(d[20:22])), nil
	}
	w := int32(binary.LittleEndian.Uint32(d[18:22]))
	h := int32(binary.LittleEndian.Uint32(d[22:26]))
	if h < 0 { // top-down
		h = -h
	}
	return int(w), int(h), nil
}

func webpSize(d []byte) (int, int, error) {
	if len(d) < 30 {
		return 0, 0, errShortHeader
	}
	switch string(d[12:16]) {
	case "VP8 ": // lossy: start code 9d 01 2a, then 14-bit sizes
		if d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a {
			return 0, 0, fmt.Errorf("bad VP8 start code")
		}
		return int(binary.LittleEndian.Uint16(d[26:28]) & 0x3fff), int(binary.LittleEndian.Uint16(d[28:30]) & 0x3fff), nil
	case "VP8L": // lossless: signature 0x2f, then 14-bit sizes minus one
		if d[20] != 0x2f {
			return 0, 0, fmt.Errorf("bad VP8L signature")
		}
		b := binary.LittleEndian.Uint32(d[21:25])
		return int(b&0x3fff) + 1, int(b>>14&0x3fff) + 1, nil
	case "VP8X": // extended: 24-bit canvas sizes minus one
		w := int(d[24]) | int(d[25])<<8 | int(d[26])<<16
		h := int(d[27]) | int(d[28])<<8 | int(d[29])<<16
		return w + 1, h + 1, nil
	}
	return 0, 0, fmt.Errorf("unknown WebP chunk %q", d[12:16])
}

// tiffSize reads ImageWidth (256) and ImageLength (257) from the first IFD,
// the page OpenCV decodes.
func tiffSize(d []byte) (int, int, error) {
	var bo binary.ByteOrder = binary.LittleEndian
	if d[0] == 'M' {
		bo = binary.BigEndian
	}
	if len(d) < 8 {
		return 0, 0, errShortHeader
	}
	off := int64(bo.Uint32(d[4:8]))
	if off < 8 || off+2 > int64(len(d)) {
		return 0, 0, fmt.Errorf("first IFD at %d is outside the file", off)
	}
	n := int64(bo.Uint16(d[off : off+2]))
	w, h := -1, -1
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(d)) {
			return 0, 0, fmt.Errorf("IFD entry %d is outside the file", i)
		}
		tag, typ := bo.Uint16(d[e:e+2]), bo.Uint16(d[e+2:e+4])
		var v int
		switch typ {
		case 3: // SHORT
			v = int(bo.Uint16(d[e+8 : e+10]))
		case 4: // LONG
			v = int(bo.Uint32(d[e+8 : e+12]))
		default:
			continue
		}
		switch tag {
		case 256:
			w = v
		case 257:
			h = v
		}
	}
	if w < 0 || h < 0 {
		return 0, 0, fmt.Errorf("no ImageWidth or ImageLength in the first IFD")
	}
	return w, h, nil
}

// pnmSize reads "P<n> <width> <height>" with comments (P7, PAM, has
// WIDTH and HEIGHT lines instead).
func pnmSize(d []byte) (int, int, error) {
	if d[1] == '7' {
		return pamSize(d)
	}
	i := 2
	var nums [2]int
	for k := range nums {
		// Whitespace and comments.
		for i < len(d) {
			if d[i] == '#' {
				for i < len(d) && d[i] != '\n' && d[i] != '\r' {
					i++
				}
				continue
			}
			if d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r' && d[i] != '\v' && d[i] != '\f' {
				break
			}
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' && i-start < 9 { // fits a 32-bit int
			nums[k] = nums[k]*10 + int(d[i]-'0')
			i++
		}
		if i == start {
			return 0, 0, fmt.Errorf("no size in the PNM header")
		}
	}
	return nums[0], nums[1], nil
}

func pamSize(d []byte) (int, int, error) {
	w, h := -1, -1
	for _, line := range bytes.Split(d[:min(len(d), 4096)], []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 1 && string(f[0]) == "ENDHDR" {
			break
		}
		if len(f) != 2 || len(f[1]) > 9 {
			continue
		}
		var v int
		if _, err := fmt.Sscanf(string(f[1]), "%d", &v); err != nil {
			continue
		}
		switch string(f[0]) {
		case "WIDTH":
			w = v
		case "HEIGHT":
			h = v
		}
	}
	if w < 0 || h < 0 {
		return 0, 0, fmt.Errorf("no WIDTH or HEIGHT in the PAM header")
	}
	return w, h, nil
}
