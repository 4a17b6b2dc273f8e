package main

// Benchmarks of issue 6's measurements (make bench). Each runs the real
// daemon in-process — capture selector and badge scanner, kiosk, sim
// relay, emulator, embedded broker — on a synthetic camera: pre-rendered
// 1280x720 frames handed out at 15 fps, so that no JPEG decoding is
// counted (a V4L2 camera in MJPG mode adds it; see docs/operations.md).

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/facegate/facegate/capture"
	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/faceauth/emulator"
	"github.com/facegate/facegate/internal/cputime"
	"github.com/facegate/facegate/internal/demoscene"
	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/record"
)

// syntheticCamera is a capture.FrameSource paced like a camera: frame k
// exists from start + k/fps on, and Next hands out the newest one. The
// scene (empty or the worker's face) is switched by the benchmark.
type syntheticCamera struct {
	fps   int
	start time.Time

	mu     sync.Mutex
	scenes map[string]gocv.Mat
	scene  string
	// switchedAt is the capture time of the first frame of the current scene.
	switchedAt time.Time
	lastAt     time.Time
	frames     uint64
}

func newSyntheticCamera(b *testing.B, fps int) *syntheticCamera {
	b.Helper()
	images, err := demoscene.ImagesDir(os.Getenv)
	if err != nil {
		b.Skipf("gocv sample images unavailable: %v", err)
	}
	c := &syntheticCamera{fps: fps, start: time.Now(), scenes: map[string]gocv.Mat{}, scene: "empty"}
	for name, p := range map[string]demoscene.Phase{
		"empty": {Kind: demoscene.Empty, Duration: time.Second / time.Duration(fps)},
		"face":  {Kind: demoscene.Face, Image: filepath.Join(images, demoscene.WorkerPhoto), Duration: time.Second / time.Duration(fps)},
	} {
		s := demoscene.Scene{Width: 1280, Height: 720, FPS: fps, Phases: []demoscene.Phase{p}}
		if err := s.Render(func(m gocv.Mat) error { c.scenes[name] = m.Clone(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, m := range c.scenes {
			m.Close()
		}
	})
	return c
}

func (c *syntheticCamera) tick(k uint64) time.Time {
	return c.start.Add(time.Duration(k) * time.Second / time.Duration(c.fps))
}

// show switches the scene at the next frame and returns that frame's time.
func (c *syntheticCamera) show(scene string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := uint64(time.Since(c.start)*time.Duration(c.fps)/time.Second) + 1
	c.scene, c.switchedAt = scene, c.tick(k)
	return c.switchedAt
}

func (c *syntheticCamera) Next(ctx context.Context, after uint64, dst *gocv.Mat) (capture.FrameInfo, error) {
	k := uint64(time.Since(c.start) * time.Duration(c.fps) / time.Second)
	if k <= after {
		k = after + 1
	}
	if wait := time.Until(c.tick(k)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return capture.FrameInfo{}, ctx.Err()
		case <-t.C:
		}
	}
	at := c.tick(k)
	c.mu.Lock()
	scene := c.scene
	if at.Before(c.switchedAt) {
		scene = map[string]string{"face": "empty", "empty": "face"}[scene]
	}
	src := c.scenes[scene]
	src.CopyTo(dst)
	c.lastAt = at
	c.frames++
	c.mu.Unlock()
	return capture.FrameInfo{Seq: k, At: at}, nil
}

func (c *syntheticCamera) Health() capture.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return capture.Health{State: capture.StateUp, FPS: float64(c.fps), LastFrame: c.lastAt, Since: c.start}
}

// benchDaemon starts the daemon on cam with the emulator answering after
// latency, on loopback over plain HTTP.
func benchDaemon(b *testing.B, cam *syntheticCamera, latency time.Duration, extra string, onEvent func(record.Event)) (*daemon, func()) {
	b.Helper()
	return benchDaemonOn(b, cam, latency, nil, extra, onEvent)
}

// benchDaemonOn is benchDaemon with, when api is set, the emulator behind
// TLS and a simulated link: api receives the emulator and returns the API
// section of the config and a stop function.
func benchDaemonOn(b *testing.B, cam *syntheticCamera, latency time.Duration, api func(emu http.Handler) (string, func()), extra string, onEvent func(record.Event)) (*daemon, func()) {
	b.Helper()
	images, err := demoscene.ImagesDir(os.Getenv)
	if err != nil {
		b.Skipf("gocv sample images unavailable: %v", err)
	}
	ref, err := os.ReadFile(filepath.Join(images, demoscene.WorkerPhoto))
	if err != nil {
		b.Fatal(err)
	}
	emu, err := emulator.New(&emulator.Seed{
		Projects:    []emulator.Project{{ID: "p", APIKey: "bench-key-1", Policy: emulator.Policy{FaceSimilarity: emulator.PolicyOption{Enabled: true, Threshold: 70}}}},
		Submissions: []emulator.Submission{{ID: "sub-worker-1", Status: emulator.StatusApproved, ReferenceJPEG: ref, UserID: "worker-1"}},
		Faults:      emulator.Faults{Latency: latency},
	})
	if err != nil {
		b.Fatal(err)
	}
	apiYAML, stopAPI := "", func() {}
	if api != nil {
		apiYAML, stopAPI = api(emu)
	} else {
		apiURL, err := emu.Start("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		apiYAML = fmt.Sprintf(`{url: "%s", timeout: 10s}`, apiURL)
	}
	br, err := broker.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	yaml := fmt.Sprintf(`site: bench
gate: g1
state_dir: %s
log_level: error
api: %s
io: {relay: {driver: sim, pulse: 100ms}}
mqtt: {enabled: true, urls: ["%s"]}
kiosk: {listen: "127.0.0.1:0"}
policy: {cooldown: 0s, attempts: {max: 0}, liveness: off}
%s`, b.TempDir(), apiYAML, br.URL(), extra)
	cfg, err := config.Parse("bench.yaml", []byte(yaml), func(k string) string {
		if k == "FACEGATE_API_KEY" {
			return "bench-key-1"
		}
		return ""
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDaemon(ctx, cfg, daemonOptions{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		wire: wireOptions{frames: cam, onEvent: onEvent}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- d.wait(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for d.p.kiosk.Status().State != kiosk.StateIdle {
		if time.Now().After(deadline) {
			b.Fatal("the daemon did not reach idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d, func() {
		cancel()
		<-done
		br.Close()
		emu.Close()
		stopAPI()
	}
}

// session identifies the worker, shows the face, waits for the decision
// and the scene to be empty and the gate idle again. It returns the time
// from the first face frame to the start of the relay pulse.
func session(b *testing.B, d *daemon, cam *syntheticCamera) time.Duration {
	b.Helper()
	pulses := len(d.p.gate.Sim().Pulses())
	if err := d.p.kiosk.Identify(kiosk.Identity{SubmissionID: "sub-worker-1", UserID: "worker-1", Source: kiosk.SourceHTTP}); err != nil {
		b.Fatalf("identify: %v", err)
	}
	first := cam.show("face")
	deadline := time.Now().Add(30 * time.Second)
	for len(d.p.gate.Sim().Pulses()) == pulses {
		if time.Now().After(deadline) {
			b.Fatalf("no relay pulse within 30s (state %s)", d.p.kiosk.Status().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := d.p.gate.Sim().Pulses()[pulses]
	cam.show("empty")
	for st := d.p.kiosk.Status().State; st != kiosk.StateIdle; st = d.p.kiosk.Status().State {
		if time.Now().After(deadline) {
			b.Fatalf("the gate did not return to idle (state %s)", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p.Start.Sub(first)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// BenchmarkTimeToRelay: with the emulator answering in 800 ms, the time
// from the first frame of a stable face (the worker already identified) to
// the relay pulse, over 10 sessions per op. Target: median ≤ 1.5 s.
func BenchmarkTimeToRelay(b *testing.B) {
	cam := newSyntheticCamera(b, 15)
	var mu sync.Mutex
	var captureMS, apiMS []time.Duration
	d, stop := benchDaemon(b, cam, 800*time.Millisecond, "", func(ev record.Event) {
		mu.Lock()
		captureMS = append(captureMS, time.Duration(ev.LatencyMS.Capture)*time.Millisecond)
		apiMS = append(apiMS, time.Duration(ev.LatencyMS.API)*time.Millisecond)
		mu.Unlock()
	})
	defer stop()
	session(b, d, cam) // warm-up: caches, first JPEG encoder, connections
	mu.Lock()
	captureMS, apiMS = nil, nil
	mu.Unlock()
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 10; j++ {
			times = append(times, session(b, d, cam))
		}
	}
	b.StopTimer()
	// The daemon's own share: each session's time less its API call (the
	// emulator's face analysis adds to the 800 ms on a loaded machine).
	mu.Lock()
	var own []time.Duration
	if len(apiMS) == len(times) {
		for i := range times {
			own = append(own, times[i]-apiMS[i])
		}
	}
	mu.Unlock()
	sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
	if len(own) > 0 {
		b.ReportMetric(float64(percentile(own, 0.5).Milliseconds()), "without-api-median-ms")
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(percentile(times, 0.5).Milliseconds()), "median-ms")
	b.ReportMetric(float64(percentile(times, 0.95).Milliseconds()), "p95-ms")
	b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "max-ms")
	// Where the time goes, from the events: the selection, the API call.
	mu.Lock()
	defer mu.Unlock()
	for _, x := range [][]time.Duration{captureMS, apiMS} {
		sort.Slice(x, func(i, j int) bool { return x[i] < x[j] })
	}
	if len(captureMS) > 0 {
		b.ReportMetric(float64(percentile(captureMS, 0.5).Milliseconds()), "capture-median-ms")
		b.ReportMetric(float64(percentile(apiMS, 0.5).Milliseconds()), "api-median-ms")
	}
}

// BenchmarkRunCPUEmptyScene: the daemon's CPU on an empty scene at
// 1280x720/15 fps over 150 frames (10 s), without and with the kiosk page
// open (its preview stream). Target: ≤ 5% of a core.
func BenchmarkRunCPUEmptyScene(b *testing.B) {
	for _, page := range []bool{false, true} {
		b.Run(map[bool]string{false: "no-page", true: "page-open"}[page], func(b *testing.B) {
			cam := newSyntheticCamera(b, 15)
			d, stop := benchDaemon(b, cam, 0, "", nil)
			defer stop()
			if page {
				resp, err := http.Get("http://" + d.addrString() + "/stream.mjpg")
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				go func() { _, _ = io.Copy(io.Discard, resp.Body) }()
			}
			time.Sleep(time.Second) // settle: the first self-test, the scanner started
			b.ResetTimer()
			var busy, wall time.Duration
			for i := 0; i < b.N; i++ {
				c0, t0 := cputime.Process(b), time.Now()
				time.Sleep(150 * time.Second / 15)
				busy += cputime.Process(b) - c0
				wall += time.Since(t0)
			}
			b.StopTimer()
			b.ReportMetric(100*busy.Seconds()/wall.Seconds(), "%core")
		})
	}
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func settledMemory() (rss int64, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return rssBytes(), ms.HeapInuse
}

// BenchmarkRSSGrowth: many sessions back to back (the emulator answers at
// once), RSS and Go heap after 20 warm-up sessions and after 60 more per
// op (FACEGATE_BENCH_SESSIONS changes it; an hour at a busy gate is a few
// hundred). Target: no growth.
func BenchmarkRSSGrowth(b *testing.B) {
	n := 60
	if v, err := strconv.Atoi(os.Getenv("FACEGATE_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	cam := newSyntheticCamera(b, 15)
	d, stop := benchDaemon(b, cam, 0, "capture: {window: 200ms}", nil)
	defer stop()
	for i := 0; i < 20; i++ {
		session(b, d, cam)
	}
	rss0, heap0 := settledMemory()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		for j := 0; j < n; j++ {
			session(b, d, cam)
			total++
		}
	}
	b.StopTimer()
	rss1, heap1 := settledMemory()
	b.ReportMetric(float64(rss1-rss0)/(1<<20), "rss-delta-MiB")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/(1<<20), "heap-delta-MiB")
	b.ReportMetric(float64(rss1-rss0)/1024/float64(total), "rss-KiB/session")
	b.ReportMetric(float64(rss1)/(1<<20), "rss-MiB")
}

// BenchmarkMJPEGDecode720p is what a V4L2 camera in MJPG mode adds to the
// daemon's CPU and the synthetic camera leaves out: decoding each 1280x720
// frame (reported as % of a core at 15 fps).
func BenchmarkMJPEGDecode720p(b *testing.B) {
	cam := newSyntheticCamera(b, 15)
	buf, err := gocv.IMEncode(gocv.JPEGFileExt, cam.scenes["face"])
	if err != nil {
		b.Fatal(err)
	}
	jpeg := append([]byte(nil), buf.GetBytes()...)
	buf.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		m, err := gocv.IMDecode(jpeg, gocv.IMReadColor)
		if err != nil || m.Empty() {
			b.Fatalf("decode: %v", err)
		}
		m.Close()
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(100*per.Seconds()*15, "%core@15fps")
}
