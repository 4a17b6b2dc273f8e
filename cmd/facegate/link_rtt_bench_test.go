package main

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/linksim"
	"github.com/facegate/facegate/record"
)

// Red-team pass: face-to-decision time at 100 ms and 300 ms RTT (good
// uplink, no loss) and on a 600 ms / 1 % loss 4G link, through the
// project's link simulator; same method as BenchmarkLinkTimeToRelay.
var (
	rtt100   = linksim.Profile{Name: "rtt-100ms", RTT: 100 * time.Millisecond, Up: 10e6, Down: 30e6, Seed: 1}
	rtt300   = linksim.Profile{Name: "rtt-300ms", RTT: 300 * time.Millisecond, Up: 10e6, Down: 30e6, Seed: 1}
	lte4g600 = linksim.Profile{Name: "4g-600ms-1pct", RTT: 600 * time.Millisecond, Up: 2e6, Down: 8e6, Loss: 0.01, Seed: 1}
)

func BenchmarkLinkRTT(b *testing.B) {
	for _, v := range []struct {
		p         linksim.Profile
		keepAlive bool
	}{{rtt100, false}, {rtt100, true}, {rtt300, false}, {rtt300, true}, {lte4g600, true}} {
		p := v.p
		b.Run(p.Name+map[bool]string{false: "/idle-closed", true: "/kept-alive"}[v.keepAlive], func(b *testing.B) {
			cam := newSyntheticCamera(b, 15)
			var mu sync.Mutex
			var calls []apiCall
			var captureMS, apiMS []time.Duration
			d, stop := benchDaemonOn(b, cam, 400*time.Millisecond, linkAPI(b, p, &calls, &mu), "", func(ev record.Event) {
				mu.Lock()
				captureMS = append(captureMS, time.Duration(ev.LatencyMS.Capture)*time.Millisecond)
				apiMS = append(apiMS, time.Duration(ev.LatencyMS.API)*time.Millisecond)
				mu.Unlock()
			})
			defer stop()
			d.p.api.CloseIdleConnections()
			session(b, d, cam) // warm-up: caches, first JPEG encoder
			mu.Lock()
			calls, captureMS, apiMS = nil, nil, nil
			mu.Unlock()
			var times []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < 8; j++ {
					if !v.keepAlive {
						d.p.api.CloseIdleConnections()
					}
					times = append(times, session(b, d, cam))
				}
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != len(times) || len(apiMS) != len(times) {
				b.Fatalf("%d sessions, %d API calls, %d events", len(times), len(calls), len(apiMS))
			}
			// Against the target session by session, so that the
			// emulator's face-matching time (CPU on a shared machine)
			// cancels out: total - server - RTT - upload(JPEG) - 250 ms.
			var over []time.Duration
			for i, c := range calls {
				over = append(over, times[i]-c.server-p.RTT-p.UploadTime(c.bodyBytes)-250*time.Millisecond)
			}
			sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
			b.ReportMetric(float64(percentile(over, 0.5).Milliseconds()), "over-target-median-ms")
			b.ReportMetric(float64(percentile(over, 0.95).Milliseconds()), "over-target-p95-ms")
			var upload, server, rest []time.Duration
			var bytesSorted []int
			for i, c := range calls {
				upload = append(upload, c.upload)
				server = append(server, c.server)
				bytesSorted = append(bytesSorted, c.bodyBytes)
				rest = append(rest, times[i]-captureMS[i]-apiMS[i])
			}
			sort.Ints(bytesSorted)
			body := bytesSorted[len(bytesSorted)/2]
			sorted := append([]time.Duration(nil), times...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			med := percentile(sorted, 0.5)
			target := median(server) + p.RTT + p.UploadTime(body) + 250*time.Millisecond
			b.ReportMetric(float64(med.Milliseconds()), "median-ms")
			b.ReportMetric(float64(percentile(sorted, 0.95).Milliseconds()), "p95-ms")
			b.ReportMetric(float64(target.Milliseconds()), "target-ms")
			b.ReportMetric(float64(median(captureMS).Milliseconds()), "capture-ms")
			b.ReportMetric(float64(median(apiMS).Milliseconds()), "api-ms")
			b.ReportMetric(float64(median(upload).Milliseconds()), "upload-ms")
			b.ReportMetric(float64(median(server).Milliseconds()), "server-ms")
			b.ReportMetric(float64(median(rest).Milliseconds()), "other-ms")
			b.ReportMetric(float64(body), "request-bytes")
		})
	}
}
