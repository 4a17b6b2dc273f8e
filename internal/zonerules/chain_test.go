package zonerules

import (
	"fmt"
	"testing"
	"time"
)

// TestDeepZoneChainChecksQuickly (found by a red-team pass): the zone tree check
// walks from every zone to outside, so a chain of n zones (each inside the
// one before) costs n²/2 steps: 20000 zones, about 500 KB of config, took
// 7.7 s on a dev machine (`facegate config check`, every start, every
// SIGHUP reload on the goroutine that also handles SIGTERM). Bounded input
// must be checked in bounded time.
func TestDeepZoneChainChecksQuickly(t *testing.T) {
	const n = 20000
	zs := make([]Zone, n)
	for i := range zs {
		zs[i].Name = fmt.Sprintf("z%d", i)
		if i > 0 {
			zs[i].Inside = fmt.Sprintf("z%d", i-1)
		}
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- CheckZones("zones.list", zs) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a chain refused: %v", err)
		}
		t.Logf("checked in %v", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatalf("CheckZones of a chain of %d zones still running after 2s", n)
	}
	// A cycle at the end of a long chain is still found, and named as before.
	zs[0].Inside = zs[n-1].Name
	if err := CheckZones("zones.list", zs); err == nil || err.Error() != `zones.list[0].inside: zone "z0" lies inside itself (a cycle of inside:)` {
		t.Fatalf("cycle: %v", err)
	}
}
