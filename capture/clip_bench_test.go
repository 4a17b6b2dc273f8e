package capture

import (
	"context"
	"encoding/json"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/internal/cputime"
)

// BenchmarkWholeClip picks the best face from the shared 1280x720 clip (120
// frames: empty scenes, a face growing, turning, rolling) and compares the
// CPU time with bench/haar_every_frame.py, a Python/OpenCV script that runs
// Haar on every frame (run once, when python3 with cv2 is installed:
// `make bench` installs python3-opencv).
func BenchmarkWholeClip(b *testing.B) {
	clip := filepath.Join(sharedDir(b, "testdata/faces"), syntheticClip)
	a := newHaar(b, AnalyzerConfig{})
	ct := cputime.Start(b)
	for i := 0; i < b.N; i++ {
		res, err := BestFaceInFile(context.Background(), VideoFile(clip), a, 90)
		if err != nil || !res.Found {
			b.Fatalf("%v %+v", err, res)
		}
	}
	goCPU := ct.Used() / time.Duration(b.N)
	ct.ReportPerOp()
	b.StopTimer()
	py := pythonCPU(b, clip)
	if py > 0 {
		b.ReportMetric(py.Seconds()*1000, "python-cpu-ms")
		b.ReportMetric(float64(goCPU)/float64(py), "go/python-cpu")
	}
}

// pythonCPU runs the baseline script and returns its loop's CPU time, 0
// when python3 with cv2 is not available.
func pythonCPU(b *testing.B, clip string) time.Duration {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		b.Logf("no %s: Python baseline skipped", py)
		return 0
	}
	if err := exec.Command(py, "-c", "import cv2").Run(); err != nil {
		b.Logf("python3 has no cv2 (apt-get install python3-opencv): Python baseline skipped")
		return 0
	}
	out, err := exec.Command(py, filepath.Join("bench", "haar_every_frame.py"), clip).Output()
	if err != nil {
		b.Fatalf("baseline script: %v", err)
	}
	var r struct {
		Frames int     `json:"frames"`
		Frame  int     `json:"frame"`
		CPU    float64 `json:"cpu_seconds"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("baseline output %q: %v", out, err)
	}
	b.Logf("python baseline: %d frames, chose frame %d, %.2f s CPU", r.Frames, r.Frame, r.CPU)
	return time.Duration(r.CPU * float64(time.Second))
}

// BenchmarkClip1080pRSS runs the offline pipeline on a 1920x1080 clip
// written at run time, in a child process, and reports that process's peak
// RSS (budget 150 MB).
func BenchmarkClip1080pRSS(b *testing.B) {
	clip := writeTestVideo(b, 60, 1920, 1080, 15)
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClipRSS$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FACEGATE_RSS_CLIP="+clip)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helper: %v\n%s", err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			b.Skip("no rusage")
		}
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-rss-MB")
	}
}

// TestHelperClipRSS is BenchmarkClip1080pRSS's child process.
func TestHelperClipRSS(t *testing.T) {
	clip := os.Getenv("FACEGATE_RSS_CLIP")
	if clip == "" {
		t.Skip("helper process for BenchmarkClip1080pRSS")
	}
	a := newHaar(t, AnalyzerConfig{})
	res, err := BestFaceInFile(context.Background(), VideoFile(clip), a, 90)
	if err != nil || !res.Found {
		t.Fatalf("%v %+v", err, res)
	}
}

// writeKindClip writes a 1280x720 MJPG clip of n frames: the background
// (plain grey or the textured fisheye scene) with the person (face.jpg,
// drifting 2 px a frame) in frames [from, to).
func writeKindClip(b *testing.B, n, from, to int, textured bool) string {
	b.Helper()
	path := b.TempDir() + "/kind.avi"
	vw, err := gocv.VideoWriterFile(path, "MJPG", 15, 1280, 720, true)
	if err != nil {
		b.Fatalf("video writer: %v", err)
	}
	defer vw.Close()
	bg := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 125, 130, 0), 720, 1280, gocv.MatTypeCV8UC3)
	if textured {
		bg.Close()
		bg = benchScene(b, 1280, 720)
	}
	defer bg.Close()
	photo := readTestImage(b, gocvImage(b, "face.jpg"))
	defer photo.Close()
	for i := 0; i < n; i++ {
		f := bg.Clone()
		if i >= from && i < to {
			f.Close()
			f = composeOn(bg, photo, 560, image.Pt(340+2*(i-from), 60))
		}
		err := vw.Write(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// BenchmarkClipKinds is BenchmarkWholeClip on clips of three kinds (90
// frames, 6 s at 15 fps): a person present most of the time, a textured
// background with a person half of the time, a short presence (8 frames).
func BenchmarkClipKinds(b *testing.B) {
	for _, k := range []struct {
		name     string
		from, to int
		textured bool
	}{{"present", 5, 90, false}, {"textured", 30, 75, true}, {"short", 40, 48, false}} {
		b.Run(k.name, func(b *testing.B) {
			clip := writeKindClip(b, 90, k.from, k.to, k.textured)
			a := newHaar(b, AnalyzerConfig{})
			ct := cputime.Start(b)
			var frame int
			for i := 0; i < b.N; i++ {
				res, err := BestFaceInFile(context.Background(), VideoFile(clip), a, 90)
				if err != nil || !res.Found {
					b.Fatalf("%v %+v", err, res)
				}
				frame = res.Frame
			}
			goCPU := ct.Used() / time.Duration(b.N)
			ct.ReportPerOp()
			b.StopTimer()
			b.ReportMetric(float64(frame), "frame")
			if py := pythonCPU(b, clip); py > 0 {
				b.ReportMetric(py.Seconds()*1000, "python-cpu-ms")
				b.ReportMetric(float64(goCPU)/float64(py), "go/python-cpu")
			}
		})
	}
}
