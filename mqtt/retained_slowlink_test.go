package mqtt

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/mqtt/internal/mosquittotest"
)

// throttledUplink forwards TCP to target, the gate's side to the broker at
// bytesPerSec (an LTE or weak Wi-Fi uplink), the other way at full speed.
func throttledUplink(t *testing.T, target string, bytesPerSec int) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			go func() {
				defer out.Close()
				buf := make([]byte, bytesPerSec/20)
				for {
					n, err := in.Read(buf)
					if n > 0 {
						if _, werr := out.Write(buf[:n]); werr != nil {
							return
						}
						time.Sleep(time.Duration(n) * time.Second / time.Duration(bytesPerSec))
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return "tcp://" + l.Addr().String()
}

// TestSlowUplinkLargeSnapshotDoesNotStarveAlerts: a site snapshot that
// takes longer than AckTimeout to upload (docs/site.md: 287 bytes per
// person, 2.9 MB for 10,000; with the default 30 s AckTimeout any uplink
// under ~97 KB/s; here scaled down: 600 KB at 100 KB/s against 3 s) is
// published at every connect ahead of the alerts (and of whatever events
// are queued behind it on the one TCP stream). Its PUBACK comes too late,
// the connection is dropped, the snapshot starts over on the next one, and
// so on for ever: a door_forced raised meanwhile never reaches the broker.
func TestSlowUplinkLargeSnapshotDoesNotStarveAlerts(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Config{})
	alerts := newRecorder()
	observe(t, mq.URL(), testSite+"/entrance/alert", alerts)
	url := throttledUplink(t, mq.Addr(), 100<<10)
	big := `{"gate":"entrance","pad":"` + strings.Repeat("x", 600<<10) + `"}`
	var logs lockedBuffer
	g := newSiteGate(t, url, "entrance", func(o *Options) {
		o.Zones.Source.(*fakeSource).snapshot = []byte(big)
		o.AckTimeout = 3 * time.Second
		o.ConnectTimeout = 5 * time.Second
		o.Logger = newTextLogger(&logs)
	})
	require.Eventually(t, g.c.Connected, 10*time.Second, 5*time.Millisecond, "connected")
	must(t, g.c.PublishAlert(Alert{Code: "door_forced", Message: "door opened without a grant"}))
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) && alerts.get(testSite+"/entrance/alert") == "" {
		time.Sleep(50 * time.Millisecond)
	}
	if alerts.get(testSite+"/entrance/alert") == "" {
		t.Logf("gate log (tail):\n%s", tail(logs.String(), 6))
		t.Fatal("door_forced not delivered in 25 s over a 100 KB/s uplink: every connection is dropped while the 600 KB snapshot, published first, uploads")
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
