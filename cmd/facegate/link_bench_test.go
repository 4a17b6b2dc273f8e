package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/linksim"
	"github.com/facegate/facegate/record"
)

// apiCall is what the server side saw of one POST.
type apiCall struct {
	bodyBytes int           // multipart body (the JPEG and the form fields)
	upload    time.Duration // headers in → body whole
	server    time.Duration // body whole → answer written (the emulator)
}

// linkAPI puts the emulator behind TLS (httptest's certificate, trusted
// through api.ca_file) and the simulated link, and records every POST.
// OPTIONS (the client's warm-up) is answered at once, as an API gateway
// answers it without the backend; the emulator's latency applies to GET
// and POST.
func linkAPI(b *testing.B, p linksim.Profile, calls *[]apiCall, mu *sync.Mutex) func(emu http.Handler) (string, func()) {
	return func(emu http.Handler) (string, func()) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				w.Header().Set("Allow", "GET, POST")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if r.Method != http.MethodPost {
				emu.ServeHTTP(w, r)
				return
			}
			t0 := time.Now()
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			t1 := time.Now()
			r.Body = io.NopCloser(bytes.NewReader(body))
			emu.ServeHTTP(w, r)
			mu.Lock()
			*calls = append(*calls, apiCall{bodyBytes: len(body), upload: t1.Sub(t0), server: time.Since(t1)})
			mu.Unlock()
		})
		srv := httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		ca := filepath.Join(b.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			b.Fatal(err)
		}
		proxy, err := linksim.Listen(srv.Listener.Addr().String(), p)
		if err != nil {
			b.Fatal(err)
		}
		yaml := fmt.Sprintf(`{url: "https://%s/v3", ca_file: "%s", timeout: 10s}`, proxy.Addr(), ca)
		return yaml, func() {
			proxy.Close()
			srv.Close()
		}
	}
}

func median(x []time.Duration) time.Duration {
	s := append([]time.Duration(nil), x...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return percentile(s, 0.5)
}

// BenchmarkLinkTimeToRelay: stable face → relay energised through a site's
// link (TLS, RTT, uplink bandwidth, loss), the emulator answering in 400
// ms, 8 sessions per op. The worker is identified as the face appears (a
// badge read in view). idle-closed: before each session the client's idle
// connections are closed, as when the gap between two workers outlasts the
// server's idle timeout (the handshake then overlaps the selection from
// the identification on); kept-alive: the connection of the previous
// session is still open, as the self-test's ping (kiosk.health_interval,
// 30 s) keeps it when the server's idle timeout is longer. Target: median
// ≤ server + 1 RTT + upload time of the JPEG + 250 ms.
func BenchmarkLinkTimeToRelay(b *testing.B) {
	benchLinks(b, []linkCase{{linksim.GoodLTE, false}, {linksim.GoodLTE, true}, {linksim.PoorSite, false}, {linksim.PoorSite, true}})
}

// linkCase is one link of benchLinks, with the connection kept alive
// between sessions or closed.
type linkCase struct {
	p         linksim.Profile
	keepAlive bool
}

// benchLinks runs BenchmarkLinkTimeToRelay's measure on each link.
func benchLinks(b *testing.B, cases []linkCase) {
	for _, v := range cases {
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
