package capture

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWholeClip picks the best face from the shared 1280x720 clip (120
// frames: empty scenes, a face growing, turning, rolling) and compares the
// CPU time with bench/haar_every_frame.py, a Python/OpenCV script that runs
// Haar on every frame (run once, when python3 with cv2 is installed:
// `make bench` installs python3-opencv).
func BenchmarkWholeClip(b *testing.B) {
	clip := filepath.Join(sharedDir(b, "testdata/faces"), syntheticClip)
	a := newHaar(b, AnalyzerConfig{})
	ct := startCPU(b)
	for i := 0; i < b.N; i++ {
		res, err := BestFaceInFile(context.Background(), VideoFile(clip), a, 90)
		if err != nil || !res.Found {
			b.Fatalf("%v %+v", err, res)
		}
	}
	goCPU := (cpuNow() - ct.start) / time.Duration(b.N)
	ct.stop(b)
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
