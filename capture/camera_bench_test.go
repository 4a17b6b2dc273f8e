package capture

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/cputime"
)

// rawVideoReader stands in for a V4L2 MJPG camera: FFmpeg's raw mode hands
// out each frame's JPEG without decoding it (as V4L2's grab dequeues a
// buffer), read decodes it with OpenCV's JPEG decoder (as V4L2's retrieve
// does). Frames come at 15 a second of real time, like a camera.
type rawVideoReader struct {
	vc     *gocv.VideoCapture
	packet gocv.Mat
	next   time.Time
}

const rawVideoPeriod = time.Second / 15

func openRawVideo(tb testing.TB, path string) *rawVideoReader {
	vc, err := gocv.VideoCaptureFileWithAPI(path, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		tb.Fatalf("open %s: %v", path, err)
	}
	vc.Set(gocv.VideoCaptureFormat, -1) // raw packets
	return &rawVideoReader{vc: vc, packet: gocv.NewMat(), next: time.Now()}
}

func (r *rawVideoReader) grab() {
	if d := time.Until(r.next); d > 0 {
		time.Sleep(d)
	}
	r.next = r.next.Add(rawVideoPeriod)
	if !r.vc.Read(&r.packet) {
		r.vc.Set(gocv.VideoCapturePosFrames, 0)
		r.vc.Read(&r.packet)
	}
}

func (r *rawVideoReader) read(dst *gocv.Mat) error {
	r.grab()
	if r.packet.Rows() != 1 {
		return ErrBadImage
	}
	img, err := gocv.IMDecode(r.packet.ToBytes(), gocv.IMReadColor)
	if err != nil {
		return err
	}
	defer img.Close()
	img.CopyTo(dst)
	return nil
}

func (r *rawVideoReader) nominalFPS() float64 { return 15 }
func (r *rawVideoReader) close()              { r.vc.Close(); r.packet.Close() }

// eagerReader hides grab: every frame is decoded (the reader before
// decoding on demand).
type eagerReader struct{ r *rawVideoReader }

func (e eagerReader) read(dst *gocv.Mat) error { return e.r.read(dst) }
func (e eagerReader) nominalFPS() float64      { return 15 }
func (e eagerReader) close()                   { e.r.close() }

// writeCameraLikeVideo writes a 1280x720 MJPG AVI whose frames carry
// sensor-like noise (a noiseless synthetic frame compresses, and decodes,
// far cheaper than a webcam's).
func writeCameraLikeVideo(tb testing.TB, n int) string {
	path := tb.TempDir() + "/camera.avi"
	vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 1280, 720, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer vw.Close()
	photo := readTestImage(tb, gocvImage(tb, "face.jpg"))
	defer photo.Close()
	noise := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer noise.Close()
	for i := 0; i < n; i++ {
		f := compose(photo, 1280, 720, 640, image.Pt(i*4, 90))
		gocv.RandN(&noise, gocv.NewScalar(128, 128, 128, 0), gocv.NewScalar(6, 6, 6, 0))
		gocv.AddWeighted(f, 1, noise, 1, -128, &f)
		err := vw.Write(f)
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
	}
	return path
}

// BenchmarkCameraCPU is the camera's CPU per second of camera time (1280x720
// MJPG at 15 fps) with the daemon's consumers: idle = the QR scanner asking
// for a frame every 500 ms; idle+preview adds the kiosk preview at 4 fps;
// active = a selection taking every frame. "eager" decodes every frame (the
// reader before decoding on demand), "ondemand" grabs all and decodes what
// is asked for. Consumers only take frames (their own work is not counted).
func BenchmarkCameraCPU(b *testing.B) {
	path := writeCameraLikeVideo(b, 30)
	cases := []struct {
		name   string
		eager  bool
		rates  []time.Duration // consumers asking at these periods
		active bool            // a consumer taking every frame, with DemandEveryFrame
	}{
		{"eager/idle", true, []time.Duration{500 * time.Millisecond}, false},
		{"ondemand/idle", false, []time.Duration{500 * time.Millisecond}, false},
		{"ondemand/idle+preview", false, []time.Duration{500 * time.Millisecond, 250 * time.Millisecond}, false},
		{"eager/active", true, nil, true},
		{"ondemand/active", false, nil, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cam, err := OpenCamera(context.Background(), CameraConfig{Source: "0"}, quiet(),
				withOpener(func() (frameReader, error) {
					r := openRawVideo(b, path)
					if tc.eager {
						return eagerReader{r}, nil
					}
					return r, nil
				}))
			if err != nil {
				b.Fatal(err)
			}
			defer cam.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			consume := func(every time.Duration) {
				defer wg.Done()
				m := gocv.NewMat()
				defer m.Close()
				var seq uint64
				for ctx.Err() == nil {
					info, err := cam.Next(ctx, seq, &m)
					if err != nil {
						return
					}
					seq = info.Seq
					if every > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(every):
						}
					}
				}
			}
			if tc.active {
				defer cam.DemandEveryFrame()()
				wg.Add(1)
				go consume(0)
			}
			for _, every := range tc.rates {
				wg.Add(1)
				go consume(every)
			}
			time.Sleep(time.Second) // warm up: opened, first frames
			ct := cputime.Start(b)
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Second) // one second of camera time
			}
			ct.ReportPerOp()
			h := cam.Health()
			b.ReportMetric(h.FPS, "grab-fps")
			b.ReportMetric(h.DecodedFPS, "decoded-fps")
		})
	}
}
