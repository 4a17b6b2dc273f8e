package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// TestImageSizeMatchesOpenCV: for every format OpenCV writes here, the size
// read from the header is the size OpenCV decodes.
func TestImageSizeMatchesOpenCV(t *testing.T) {
	dir := t.TempDir()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 120, 200, 0), 37, 53, gocv.MatTypeCV8UC3)
	defer m.Close()
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 0, 0, 0), 37, 53, gocv.MatTypeCV8U)
	defer grey.Close()
	for _, name := range []string{"a.jpg", "a.png", "a.bmp", "a.tif", "a.webp", "a.ppm", "a.pgm", "a.pam"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			src := m
			if name == "a.pgm" {
				src = grey
			}
			if !gocv.IMWrite(p, src) {
				t.Skipf("this OpenCV cannot write %s", name)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			w, h, _, err := imageSize(data)
			if err != nil || w != 53 || h != 37 {
				t.Fatalf("imageSize: %dx%d %v, want 53x37", w, h, err)
			}
			img, err := readImage(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if img.Cols() != 53 || img.Rows() != 37 {
				t.Fatalf("decoded %dx%d", img.Cols(), img.Rows())
			}
		})
	}
}

// hugePNG is a valid PNG header declaring w x h with one tiny IDAT: a few
// dozen bytes that would decode to w*h*3 bytes.
func hugePNG(t testing.TB, w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[16:20], w)
	binary.BigEndian.PutUint32(b[20:24], h)
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestImageSizeHeaders(t *testing.T) {
	le := func(vals ...any) []byte {
		var b bytes.Buffer
		for _, v := range vals {
			binary.Write(&b, binary.LittleEndian, v)
		}
		return b.Bytes()
	}
	bmp := append([]byte("BM"), le(uint32(0), uint32(0), uint32(54), uint32(40), int32(20000), int32(-30000))...)
	os2 := append([]byte("BM"), le(uint32(0), uint32(0), uint32(26), uint32(12), uint16(640), uint16(480), uint32(0))...)
	vp8x := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00"), 0x1f, 0x4e, 0x00, 0x1f, 0x4e, 0x00)
	vp8 := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00\x00\x00\x00\x9d\x01\x2a"), le(uint16(16383), uint16(16383))...)
	tiffBE := []byte("MM\x00*\x00\x00\x00\x08\x00\x02" +
		"\x01\x00\x00\x04\x00\x00\x00\x01\x00\x00\x4e\x20" + // ImageWidth LONG 20000
		"\x01\x01\x00\x03\x00\x00\x00\x01\x75\x30\x00\x00") // ImageLength SHORT 30000
	tests := []struct {
		name       string
		data       []byte
		w, h       int
		errorMatch bool
	}{
		{"png", hugePNG(t, 20000, 20000), 20000, 20000, false},
		{"bmp top-down", bmp, 20000, 30000, false},
		{"bmp os/2", os2, 640, 480, false},
		{"webp VP8X", vp8x, 20000, 20000, false},
		{"webp VP8", vp8, 16383, 16383, false},
		{"tiff big-endian", tiffBE, 20000, 30000, false},
		{"pgm with comment", []byte("P5\n# made by hand\n 20000\t30000\n255\n"), 20000, 30000, false},
		{"pam", []byte("P7\nWIDTH 20000\nHEIGHT 30000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n"), 20000, 30000, false},
		{"unknown format", []byte("GIF88?"), 0, 0, true},
		{"text", []byte("not a picture"), 0, 0, true},
		{"tiff IFD outside", []byte("II*\x00\xff\xff\xff\x7f"), 0, 0, true},
		{"short bmp", []byte("BM\x00"), 0, 0, true},
		{"pnm without size", []byte("P6\n#\n"), 0, 0, true},
	}
	for _, tc := range tests {
		w, h, _, err := imageSize(tc.data)
		if (err != nil) != tc.errorMatch || w != tc.w || h != tc.h {
			t.Errorf("%s: %dx%d %v, want %dx%d (error %v)", tc.name, w, h, err, tc.w, tc.h, tc.errorMatch)
		}
	}
}

// TestReadImageRefusesHugeAndNonRegular: the size is checked from the header
// before OpenCV decodes anything, and a FIFO or a device is refused without
// blocking.
func TestReadImageRefusesHugeAndNonRegular(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	if err := os.WriteFile(big, hugePNG(t, 20000, 20000), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := readImage(big, 0)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("20000x20000 PNG: %v, want ErrTooLarge", err)
	}
	if want := "png image " + big + " is 20000x20000, 400.0 megapixels, above the limit of 40.0"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("message %q lacks %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing took %v", d)
	}
	if _, err := readImage(big, 20000*20000); errors.Is(err, ErrTooLarge) {
		t.Errorf("a limit of 400 MP refused 400 MP: %v", err)
	}

	fifo := filepath.Join(dir, "fifo.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Unblocks an open that would otherwise wait for a writer forever.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, p := range []string{fifo, "/dev/zero", dir} {
		done := make(chan error, 1)
		go func() { _, err := readImage(p, 0); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrOpen) || !bytes.Contains([]byte(err.Error()), []byte("is not a regular file")) {
				t.Errorf("%s: %v, want not a regular file", p, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: readImage blocked", p)
		}
	}
	src := Source{Kind: SourceVideo, Index: -1, Target: fifo}
	done := make(chan error, 1)
	go func() { _, err := openReader(src, DeviceSettings{}, false); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrOpen) || !bytes.Contains([]byte(err.Error()), []byte("is not a regular file (a FIFO)")) {
			t.Errorf("video FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("opening a FIFO as a video blocked")
	}
}

// FuzzImageSize: any bytes give a size or an error, never a panic, and a
// size is never negative.
func FuzzImageSize(f *testing.F) {
	f.Add(hugePNG(f, 3, 4))
	for _, s := range []string{"BM", "II*\x00\x08\x00\x00\x00\x01\x00", "MM\x00*", "RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f", "P6 1 2 255 ", "P7\nWIDTH 3\nHEIGHT 4\nENDHDR\n", "\xff\xd8\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, _, err := imageSize(data)
		if err == nil && (w < 0 || h < 0) {
			t.Fatalf("size %dx%d", w, h)
		}
	})
}
