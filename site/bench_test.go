package site

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// benchEvent is a realistic passage: a UUIDv7-shaped event id (36 bytes,
// as the kiosk writes them), a roster-like user id, one of 8 gates.
func benchEvent(i int, person int, zone string) record.Event {
	gate := fmt.Sprintf("gate-%d", i%8)
	return record.Event{
		EventID: fmt.Sprintf("019a8b2e-%04x-7c11-8d2a-%012x", i&0xffff, i), Seq: uint64(i), Gate: gate,
		TS: record.Timestamp(t0.Add(time.Duration(i) * time.Millisecond)), Decision: record.DecisionGranted,
		UserID: fmt.Sprintf("worker-%06d", person), ZoneTo: zone, Relay: record.RelayPending,
	}
}

var benchZones = []string{"site", "zone-b", "office", Outside}

// populated is a presence with n persons, each moved twice (so every
// register holds two facts, the steady state).
func populated(b *testing.B, n int) *Presence {
	p, _ := newP(b, Options{Door: Door{From: "site", To: "zone-b", Direction: Entry},
		Passback: PassbackOptions{Mode: PassbackHard}, Zones: []Zone{{Name: "site"}, {Name: "zone-b", Inside: "site", Hazardous: true, MaxOccupancy: n}, {Name: "office", Inside: "site"}}})
	for i := range 2 * n {
		if _, err := p.ApplyEvent(benchEvent(i, i%n, benchZones[i%3])); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// BenchmarkApplyEvent: one peer's passage applied to a site of 10,000
// tracked persons (the per-event cost every gate pays for every gate).
func BenchmarkApplyEvent(b *testing.B) {
	const n = 10_000
	p := populated(b, n)
	evs := make([]record.Event, 4096)
	for i := range evs {
		evs[i] = benchEvent(2*n+i, i%n, benchZones[i%4])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := evs[i%len(evs)]
		e.TS = record.Timestamp(t0.Add(time.Duration(2*n+i) * time.Millisecond)) // always news
		e.Seq = uint64(2*n + i)
		if _, err := p.ApplyEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyEventDuplicate: the same event again (own events through
// the subscription, replays): the idempotent path.
func BenchmarkApplyEventDuplicate(b *testing.B) {
	p := populated(b, 10_000)
	e := benchEvent(1, 1, "site")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := p.ApplyEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMerge10k: a peer's snapshot of 10,000 persons merged into a
// gate that knows the same (the steady anti-entropy case) and into an
// empty one (a gate starting or rejoining).
func BenchmarkMerge10k(b *testing.B) {
	src := populated(b, 10_000)
	snap := src.Snapshot()
	b.Run("same", func(b *testing.B) {
		p := populated(b, 10_000)
		b.SetBytes(int64(len(snap)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := p.Merge(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("empty", func(b *testing.B) {
		b.SetBytes(int64(len(snap)))
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			p, _ := newP(b, Options{})
			b.StartTimer()
			if _, err := p.Merge(snap); err != nil {
				b.Fatal(err)
			}
		}
	})
	// One gate's share (SnapshotOf; 8 gates wrote the facts): what a gate
	// publishes and what a peer merges per gate with per-gate anti-entropy.
	b.Run("of-gate-encode", func(b *testing.B) {
		var own []byte
		b.ReportAllocs()
		for range b.N {
			own = src.SnapshotOf("gate-3")
		}
		b.ReportMetric(float64(len(own)), "snapshot-B")
	})
	b.Run("of-gate-merge-same", func(b *testing.B) {
		own := src.SnapshotOf("gate-3")
		p := populated(b, 10_000)
		b.SetBytes(int64(len(own)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := p.Merge(own); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			snap = src.Snapshot()
		}
		b.ReportMetric(float64(len(snap))/10_000, "snapshot-B/person")
	})
}

// BenchmarkBytesPerPerson: heap held per tracked person (two facts each,
// 36-byte event ids), measured with runtime.MemStats around populating.
func BenchmarkBytesPerPerson(b *testing.B) {
	const n = 10_000
	var per float64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := populated(b, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(p)
	}
	b.ReportMetric(per, "B/person")
}

// BenchmarkCheck: the decision-time check against 10,000 tracked persons.
func BenchmarkCheck(b *testing.B) {
	p := populated(b, 10_000)
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = p.Check(fmt.Sprintf("worker-%06d", i%10_000), now, ViewSite)
	}
}
