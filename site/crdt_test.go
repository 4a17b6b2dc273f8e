package site

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/record"
)

// op is one fact delivered to a replica.
type op struct {
	name  string
	gate  string // the gate the fact comes from
	apply func(*Presence) error
}

// world is a random history: facts, and the oracle's answer for it.
type world struct {
	ops     []op
	persons []string
	want    map[string]string // person -> zone by the oracle
}

// randomWorld draws n passages and corrections over few persons, gates
// and milliseconds (so that keys tie on ts and gate), voids at most one
// passage per person (the documented limit), and an evacuation with
// check-ins. The oracle: each person is in the zone of their greatest
// non-voided fact.
func randomWorld(rng *rand.Rand, n int) world {
	zones := []string{Outside, "site", "zone-b", "office"}
	gates := []string{"A", "B", "C"}
	var w world
	for i := range 12 {
		w.persons = append(w.persons, fmt.Sprintf("w%02d", i))
	}
	best := map[string]fact{}
	voided := map[string]bool{}
	seq := map[string]uint64{}
	for range n {
		person := w.persons[rng.Intn(len(w.persons))]
		zone := zones[rng.Intn(len(zones))]
		off := time.Duration(rng.Intn(40)) * time.Millisecond
		var f fact
		if rng.Intn(8) == 0 {
			gate := "ops"
			seq[gate]++
			c := Correction{Person: person, Zone: zone, At: t0.Add(off), Gate: gate, Seq: seq[gate]}
			f = fact{ms: c.At.UnixMilli(), gate: gate, seq: c.Seq, zone: zone}
			w.ops = append(w.ops, op{fmt.Sprintf("correct %s→%s", person, zone), gate, func(p *Presence) error { _, err := p.Correct(c); return err }})
		} else {
			gate := gates[rng.Intn(len(gates))]
			seq[gate]++
			e := ev(gate, seq[gate], off, person, zone)
			f = fact{ms: t0.Add(off).UnixMilli(), gate: gate, seq: seq[gate], zone: zone, event: e.EventID}
			w.ops = append(w.ops, op{"event " + e.EventID, gate, func(p *Presence) error { _, err := p.ApplyEvent(e); return err }})
			if !voided[person] && rng.Intn(6) == 0 {
				voided[person] = true
				r := record.PulseResult{Kind: record.PulseKind, EventID: e.EventID, TS: e.TS, Gate: gate, Relay: record.RelayNotEnergised}
				w.ops = append(w.ops, op{"void " + e.EventID, gate, func(p *Presence) error { _, err := p.ApplyRelay(r); return err }})
				continue // the oracle never counts it
			}
		}
		if b, ok := best[person]; !ok || f.cmp(b) > 0 {
			best[person] = f
		}
	}
	w.want = map[string]string{}
	for _, id := range w.persons {
		w.want[id] = Outside
		if f, ok := best[id]; ok {
			w.want[id] = f.zone
		}
	}
	ev := Evacuation{ID: "evac-1", Since: t0.Add(50 * time.Millisecond), By: "fire-alarm", Reason: "input"}
	w.ops = append(w.ops, op{"evacuate", "A", func(p *Presence) error { _, err := p.StartEvacuation(ev); return err }})
	for _, id := range w.persons[:4] {
		at := t0.Add(time.Duration(60+rng.Intn(20)) * time.Millisecond)
		w.ops = append(w.ops, op{"muster " + id, "B", func(p *Presence) error { _, err := p.Muster(id, "evac-1", at); return err }})
	}
	return w
}

// describe renders everything a caller can read, for comparing replicas.
func describe(p *Presence, persons []string) string {
	var b strings.Builder
	for _, id := range persons {
		fmt.Fprintf(&b, "%+v\n", p.Person(id))
	}
	fmt.Fprintf(&b, "occ %v\ninside %v\nmuster %+v\n", p.Occupancy(), p.Inside(), p.MusterList())
	return b.String()
}

// shuffled is ops in a random order, each once to three times.
func shuffled(rng *rand.Rand, ops []op) []op {
	var out []op
	for _, o := range ops {
		for range 1 + rng.Intn(3) {
			out = append(out, o)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestAnyOrderAnyRepetitionSameState(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	for world := range 40 {
		w := randomWorld(rng, 60)
		var ref string
		for perm := range 25 {
			p, _ := newP(t, Options{})
			for _, o := range shuffled(rng, w.ops) {
				if err := o.apply(p); err != nil {
					t.Fatalf("world %d perm %d: %s: %v", world, perm, o.name, err)
				}
			}
			for _, id := range w.persons {
				if got := zoneOf(p, id); got != w.want[id] {
					t.Fatalf("world %d perm %d: %s in %s, oracle says %s", world, perm, id, got, w.want[id])
				}
			}
			got := describe(p, w.persons)
			if perm == 0 {
				ref = got
			} else if got != ref {
				t.Fatalf("world %d perm %d differs:\n%s\nfirst order:\n%s", world, perm, got, ref)
			}
		}
	}
}

// TestReplicasConvergeThroughSnapshots: each fact reaches some replicas
// only (a gate cut off, lost messages); exchanging snapshots in a random
// order makes every replica equal to the oracle.
func TestReplicasConvergeThroughSnapshots(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	for world := range 30 {
		w := randomWorld(rng, 80)
		reps := make([]*Presence, 4)
		for i := range reps {
			reps[i], _ = newP(t, Options{Gate: fmt.Sprintf("G%d", i)})
		}
		for _, o := range shuffled(rng, w.ops) {
			for _, r := range reps {
				if rng.Intn(3) == 0 {
					if err := o.apply(r); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := o.apply(reps[rng.Intn(len(reps))]); err != nil { // at least one has it
				t.Fatal(err)
			}
		}
		// Gossip: random pairs until every replica merged every other one
		// at least once after it had heard from all (two rounds suffice).
		for range 2 {
			for _, i := range rng.Perm(len(reps)) {
				for _, j := range rng.Perm(len(reps)) {
					if i != j {
						if _, err := reps[i].Merge(reps[j].Snapshot()); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		ref := describe(reps[0], w.persons)
		for i, r := range reps {
			for _, id := range w.persons {
				if got := zoneOf(r, id); got != w.want[id] {
					t.Fatalf("world %d replica %d: %s in %s, oracle says %s", world, i, id, got, w.want[id])
				}
			}
			if got := describe(r, w.persons); got != ref {
				t.Fatalf("world %d replica %d differs:\n%s\nreplica 0:\n%s", world, i, got, ref)
			}
			// Merging again changes nothing (idempotent).
			if ch, err := r.Merge(reps[(i+1)%len(reps)].Snapshot()); err != nil || !ch.Empty() {
				t.Fatalf("world %d replica %d: merging again = %+v, %v", world, i, ch, err)
			}
		}
	}
}

func TestMergeIsCommutativeAndAssociative(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	for world := range 20 {
		w := randomWorld(rng, 50)
		parts := make([][]byte, 3)
		for i := range parts {
			p, _ := newP(t, Options{})
			for _, o := range w.ops {
				if rng.Intn(2) == 0 {
					if err := o.apply(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			parts[i] = p.Snapshot()
		}
		var ref string
		for k, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}} {
			p, _ := newP(t, Options{})
			for _, i := range order {
				if _, err := p.Merge(parts[i]); err != nil {
					t.Fatal(err)
				}
			}
			// (a ⊔ b) ⊔ c as a merged snapshot of a merge.
			q, _ := newP(t, Options{})
			if _, err := q.Merge(parts[order[0]]); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Merge(parts[order[1]]); err != nil {
				t.Fatal(err)
			}
			r, _ := newP(t, Options{})
			if _, err := r.Merge(parts[order[2]]); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Merge(q.Snapshot()); err != nil {
				t.Fatal(err)
			}
			got, assoc := describe(p, w.persons), describe(r, w.persons)
			if got != assoc {
				t.Fatalf("world %d order %v: not associative:\n%s\nvs\n%s", world, order, got, assoc)
			}
			if k == 0 {
				ref = got
			} else if got != ref {
				t.Fatalf("world %d order %v differs:\n%s\nvs\n%s", world, order, got, ref)
			}
		}
	}
}

func TestSnapshotIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewSource(18))
	w := randomWorld(rng, 60)
	var ref []byte
	for range 10 {
		p, _ := newP(t, Options{})
		for _, o := range w.ops { // the same order: the same state, the same bytes
			if err := o.apply(p); err != nil {
				t.Fatal(err)
			}
		}
		b := p.Snapshot()
		if ref == nil {
			ref = b
		} else if !slices.Equal(b, ref) {
			t.Fatalf("snapshot bytes differ:\n%s\n%s", b, ref)
		}
	}
}

// TestPerGateSnapshotsConverge: every gate knows its own facts and some of
// the others'; each publishes SnapshotOf(itself) only; merging all of them
// brings every gate to the oracle.
func TestPerGateSnapshotsConverge(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	gates := []string{"A", "B", "C", "D"} // corrections are stamped "ops", a gate that publishes nothing
	for world := range 30 {
		w := randomWorld(rng, 80)
		reps := map[string]*Presence{}
		for _, g := range gates {
			reps[g], _ = newP(t, Options{Gate: g})
		}
		for _, o := range shuffled(rng, w.ops) {
			for _, g := range gates {
				if g == o.gate || o.gate == "ops" && g == "D" || rng.Intn(4) == 0 {
					if err := o.apply(reps[g]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		snaps := map[string][]byte{}
		for _, g := range gates {
			snaps[g] = reps[g].SnapshotOf(g)
		}
		var ref string
		for i, g := range gates {
			for _, h := range rng.Perm(len(gates)) {
				if _, err := reps[g].Merge(snaps[gates[h]]); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range w.persons {
				if got := zoneOf(reps[g], id); got != w.want[id] {
					t.Fatalf("world %d gate %s: %s in %s, oracle says %s", world, g, id, got, w.want[id])
				}
			}
			if got := describe(reps[g], w.persons); i == 0 {
				ref = got
			} else if got != ref {
				t.Fatalf("world %d gate %s differs:\n%s\nvs\n%s", world, g, got, ref)
			}
		}
	}
}
