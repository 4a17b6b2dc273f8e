package site

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// A client with the broker password but not the signing secret publishes
// one decision event on <site_topic>/<any gate>/event stamped years
// ahead. Until 2026-12-07 the presence applied it (only a clock_skew
// notice), and since the fact's key was the greatest for years, neither an
// operator's correction, nor the worker's real passages, nor the daily
// reset could move the worker again: the entrance refused them
// (passback_same_zone), and every gate republished the fact in its
// snapshot. Facts that far ahead are not applied now.
func TestFutureFactIsNotPermanent(t *testing.T) {
	p, c := newP(t, Options{Door: Door{From: Outside, To: "site", Direction: Entry},
		Passback: PassbackOptions{Mode: PassbackHard}, ResetAt: "04:00"})
	forged := ev("exit-1", 1, 10*365*24*time.Hour, "w-17", "site") // ten years ahead
	forged.EventID = "forged-1"
	mustApply(t, p, forged)

	// The operator corrects the worker out, as docs/site-gate.md says.
	c.t = t0.Add(time.Minute)
	if _, err := p.Correct(Correction{Person: "w-17", Zone: Outside, At: c.t, Gate: "cmd", By: "office", Reason: "not on site"}); err != nil {
		t.Fatal(err)
	}
	if z := zoneOf(p, "w-17"); z != Outside {
		t.Errorf("after the operator's correction w-17 is still in %q (a forged fact stamped ten years ahead outranks it)", z)
	}
	// The next daily reset ("everyone outside from then on") does not clear it either.
	c.t = t0.Add(24 * time.Hour)
	p.Tick(c.t)
	if z := zoneOf(p, "w-17"); z != Outside {
		t.Errorf("after the daily reset w-17 is still in %q", z)
	}
	if v := p.Check("w-17", c.t, ViewSite); !v.Allowed {
		t.Errorf("the entrance refuses w-17 a day later: %s (%s)", v.Code, v.Message)
	}
}

// The same with occupancy: the forged facts fill a hard-limited zone, and
// every worker is refused occupancy_full at its door until that year.
func TestFutureFactsDoNotFillAZoneForever(t *testing.T) {
	p, c := newP(t, Options{Door: Door{From: "site", To: "zone-b", Direction: Entry},
		Passback: PassbackOptions{Mode: PassbackHard}, ResetAt: "04:00"})
	mustApply(t, p, ev("entrance", 1, 0, "w-1", "site"))
	for i := range 2 { // zone-b's max_occupancy
		f := ev("ghost", uint64(10+i), 10*365*24*time.Hour, fmt.Sprintf("ghost-%d", i), "zone-b")
		mustApply(t, p, f)
	}
	c.t = t0.Add(time.Minute)
	for i := range 2 {
		if _, err := p.Correct(Correction{Person: fmt.Sprintf("ghost-%d", i), Zone: Outside, At: c.t, Gate: "cmd"}); err != nil {
			t.Fatal(err)
		}
	}
	c.t = t0.Add(48 * time.Hour)
	p.Tick(c.t)
	mustApply(t, p, ev("entrance", 2, 48*time.Hour+time.Minute, "w-1", "site"))
	if v := p.Check("w-1", c.t.Add(2*time.Minute), ViewSite); !v.Allowed {
		t.Errorf("two days, two corrections and two resets later zone-b still refuses everyone: %s (%s)", v.Code, v.Message)
	}
}

// A peer's snapshot may name zones this gate has not declared (docs:
// "tracked as given ... counts for no declared zone's occupancy"). They
// are kept out of the per-zone counts that occupancy() scans for every
// limited zone, twice per applied event and in Check: one hostile
// snapshot of 100,000 persons, each in a zone of its own, made every
// later event and decision scan them all (7.5 ms instead of 10 µs:
// BenchmarkEventAfterHostileZones).
func TestUndeclaredZonesAreNotCounted(t *testing.T) {
	p, _ := newP(t, Options{})
	var b bytes.Buffer
	b.WriteString(`{"format":"facegate-site-presence","version":1,"site":"plant","persons":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"user_id":"u%d","zone":"z%d","ts":"2026-03-02T07:00:00.000Z","gate":"g"}`, i, i)
	}
	b.WriteString(`]}`)
	if _, err := p.Merge(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	if zoneOf(p, "u7") != "z7" {
		t.Fatalf("u7 in %q, want z7 (tracked as given)", zoneOf(p, "u7"))
	}
	p.mu.Lock()
	n := len(p.direct)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d zones in the occupancy counts after a snapshot of undeclared ones, want 0", n)
	}
}

// hostileSnapshot is a snapshot of n persons, in zone(i), stamped at t0.
func hostileSnapshot(n int, zone func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"format":"facegate-site-presence","version":1,"site":"plant","persons":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"user_id":"u%d","zone":%q,"ts":"2026-03-02T07:00:00.000Z","gate":"g"}`, i, zone(i))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkMergeVoids merges a 64 KiB snapshot of new voids into a
// presence of 100,000 persons: each void scanned every register (7.3 s
// under the lock every Check waits for) before they were joined in one
// pass.
func BenchmarkMergeVoids(b *testing.B) {
	var voids bytes.Buffer
	voids.WriteString(`{"format":"facegate-site-presence","version":1,"site":"plant","persons":[],"voided":[`)
	for i := 0; voids.Len() < 64<<10-64; i++ {
		if i > 0 {
			voids.WriteByte(',')
		}
		fmt.Fprintf(&voids, `{"event_id":"v%d","ts":"2026-03-02T07:00:00Z"}`, i)
	}
	voids.WriteString(`]}`)
	big := hostileSnapshot(100_000, func(int) string { return "site" })
	for b.Loop() {
		b.StopTimer()
		p, _ := newP(b, Options{})
		if _, err := p.Merge(big); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := p.Merge(voids.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventAfterHostileZones is an event and a check at a door into
// a limited zone after a snapshot of 100,000 persons in zones of their
// own (TestUndeclaredZonesAreNotCounted).
func BenchmarkEventAfterHostileZones(b *testing.B) {
	p, c := newP(b, Options{Door: Door{From: "site", To: "zone-b", Direction: Entry}, Passback: PassbackOptions{Mode: PassbackHard}})
	if _, err := p.Merge(hostileSnapshot(100_000, func(i int) string { return fmt.Sprintf("z%d", i) })); err != nil {
		b.Fatal(err)
	}
	mustApply(b, p, ev("entrance", 1, 0, "w-1", "site"))
	i := 0
	for b.Loop() {
		i++
		mustApply(b, p, ev("exit", uint64(i), 0, fmt.Sprintf("w-%d", 100+i%1000), "site"))
		p.Check("w-1", c.t, ViewSite)
	}
}

// A snapshot over record.MaxSnapshotBytes is refused before it is decoded:
// the bound was 64 MB, and one such snapshot (863,000 persons) took 2 GB
// of memory to merge, more than many a Raspberry Pi has.
func TestMergeRefusesASnapshotOverTheBound(t *testing.T) {
	n := 0
	var big []byte
	for n = 60_000; len(big) <= record.MaxSnapshotBytes; n += 20_000 {
		big = hostileSnapshot(n, func(int) string { return "site" })
	}
	p, _ := newP(t, Options{})
	if _, err := p.Merge(big); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("a %d-byte snapshot of %d persons: %v, want ErrSnapshot", len(big), n, err)
	}
	if zoneOf(p, "u1") != Outside {
		t.Fatal("a refused snapshot was merged")
	}
}
