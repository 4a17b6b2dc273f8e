package site

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse: gates feed events, merges, checks and reads from
// several goroutines (the mqtt handler, the kiosk, the page); run with
// -race. The end state is the same as applying everything in one order.
func TestConcurrentUse(t *testing.T) {
	p, _ := newP(t, Options{Door: Door{From: Outside, To: "site", Direction: Entry}, Passback: PassbackOptions{Mode: PassbackHard}})
	peer, _ := newP(t, Options{Gate: "peer"})
	p.Subscribe(func(Change) { _ = p.Occupancy() }) // reading from a subscriber is allowed
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				e := ev(fmt.Sprintf("G%d", g), uint64(i+1), time.Duration(i)*time.Millisecond, fmt.Sprintf("w%d", i%20), benchZones[(i+g)%4])
				mustApply(t, p, e)
				mustApply(t, peer, e)
				_ = p.Check(e.UserID, t0, ViewSite)
				if i%50 == 0 {
					if _, err := p.Merge(peer.Snapshot()); err != nil {
						t.Error(err)
					}
					_ = p.MusterList()
					_ = p.Inside()
				}
			}
		})
	}
	wg.Wait()
	if _, err := p.Merge(peer.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := fmt.Sprintf("w%d", i)
		if a, b := p.Person(id), peer.Person(id); a != b {
			t.Fatalf("%s: %+v vs %+v", id, a, b)
		}
	}
}
