//go:build matprofile

package capture

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func settledRSS(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(t)
}

// TestMatProfilePipeline pushes 500 analysed frames through the whole live pipeline
// (camera reader, selector with crops and JPEGs, preview, QR scanner) and
// then the offline one, and checks that every Mat is closed and that the
// memory OpenCV's encoded buffers use (invisible to MatProfile) does not
// grow: RSS after 500 frames stays within a few MB of RSS after 100.
func TestMatProfilePipeline(t *testing.T) {
	start := gocv.MatProfile.Count()
	video := writeTestVideo(t, 60, 480, 270, 120)
	an := newHaar(t, AnalyzerConfig{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cam, err := OpenCamera(ctx, CameraConfig{Source: video}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	sel := NewSelector(cam, an, SelectorConfig{Window: 150 * time.Millisecond})
	prev := NewPreview(cam, PreviewConfig{MaxFPS: 50, Boxes: sel.Boxes})
	qr := NewQRScanner(cam, QRConfig{Every: 20 * time.Millisecond, ActiveFor: time.Hour})

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		qr.Run(ctx, func(string) {})
	}()
	go func() {
		defer wg.Done()
		var seq uint64
		for ctx.Err() == nil {
			jpeg, s, err := prev.Next(ctx, seq)
			if err != nil {
				return
			}
			if !bytes.HasPrefix(jpeg, []byte{0xff, 0xd8}) {
				t.Error("preview is not a JPEG")
				return
			}
			seq = s
		}
	}()

	var rss100 int64
	selections, analysed := 0, 0
	for analysed < 500 {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := sel.SelectFace(sctx, nil)
		scancel()
		if err != nil {
			t.Fatalf("selection %d: %v (camera %+v)", selections, err, cam.Health())
		}
		if len(s.JPEG) == 0 {
			t.Fatal("empty JPEG")
		}
		selections++
		analysed += s.Frames
		if rss100 == 0 && analysed >= 100 {
			rss100 = settledRSS(t)
		}
	}
	cancel()
	wg.Wait()
	sel.Close()
	prev.Close()
	if err := cam.Close(); err != nil {
		t.Fatal(err)
	}
	rss500 := settledRSS(t)

	// The offline path over the same clip, several times.
	for i := 0; i < 3; i++ {
		if _, err := BestFaceInFile(context.Background(), VideoFile(video), an, 90); err != nil {
			t.Fatal(err)
		}
	}
	an.Close()

	if n := gocv.MatProfile.Count(); n != start {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("Mat count %d after the pipeline, %d before: leaked\n%s", n, start, b.String())
	}
	t.Logf("%d selections, %d frames analysed, %d read; RSS after 100 frames %.1f MB, after 500 %.1f MB",
		selections, analysed, frameSeq(cam), float64(rss100)/1e6, float64(rss500)/1e6)
	if growth := rss500 - rss100; growth > 20<<20 {
		t.Fatalf("RSS grew by %.1f MB between frame 100 and 500", float64(growth)/1e6)
	}
}

func frameSeq(c *Camera) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}
