package main

import (
	"testing"
	"time"

	"github.com/facegate/facegate/internal/linksim"
)

// BenchmarkLinkRTT: BenchmarkLinkTimeToRelay's measure at 100 ms and 300
// ms RTT (good uplink, no loss) and on a 600 ms / 1 % loss 4G link
// (docs/faceauth.md).
var (
	rtt100   = linksim.Profile{Name: "rtt-100ms", RTT: 100 * time.Millisecond, Up: 10e6, Down: 30e6, Seed: 1}
	rtt300   = linksim.Profile{Name: "rtt-300ms", RTT: 300 * time.Millisecond, Up: 10e6, Down: 30e6, Seed: 1}
	lte4g600 = linksim.Profile{Name: "4g-600ms-1pct", RTT: 600 * time.Millisecond, Up: 2e6, Down: 8e6, Loss: 0.01, Seed: 1}
)

func BenchmarkLinkRTT(b *testing.B) {
	benchLinks(b, []linkCase{{rtt100, false}, {rtt100, true}, {rtt300, false}, {rtt300, true}, {lte4g600, true}})
}
