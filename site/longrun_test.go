package site

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A site the docs say one Pi follows ("tens of thousands of people",
// 300 bytes per tracked person) saves a state file that its own next start
// refuses as corrupt: Save writes the whole site with no bound, load
// refuses a snapshot over record.MaxSnapshotBytes (8 MB). Without reset_at
// every person ever seen keeps a register, so a site reaches it over
// months by distinct identities alone. The restart then forgets the whole
// presence (passback, occupancy, the muster list) and sets the file aside
// (one more copy of it on the card per restart).
func TestLargeSitesStateFileLoadsAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-presence.json")
	now := func() time.Time { return t0.Add(time.Hour) }
	o := Options{StatePath: path, Now: now, Door: Door{From: Outside, To: "site", Direction: Entry}}
	p, _ := newP(t, o)
	const persons = 40_000
	for i := range persons { // each came in and went out again
		mustApply(t, p, benchEvent(2*i, i, "site"), benchEvent(2*i+1, i, Outside))
	}
	if err := p.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	fi, _ := os.Stat(path)
	t.Logf("%d persons tracked, state file %d bytes", p.Len(), fi.Size())

	q, _ := newP(t, o)
	if err := q.StateProblem(); err != nil {
		t.Errorf("restart refused its own state file: %v", err)
	}
	if got := q.Len(); got != p.Len() {
		t.Errorf("after restart %d persons tracked, want %d", got, p.Len())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("state dir holds %v", names)
	}
}

// Zone and gate names are interned for the life of the process and never
// forgotten, though a register keeps at most two facts. A peer's events
// name any zone (an undeclared one is tracked as given) and any gate:
// over months of events (or a flood from any client allowed on the site
// topic) the intern table holds every name ever seen, while the presence
// tracks one person.
func TestInternedNamesDoNotOutliveTheirFacts(t *testing.T) {
	p, _ := newP(t, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const n = 100_000
	for i := range n {
		e := ev(fmt.Sprintf("gate-%06d", i), uint64(i+1), time.Duration(i)*time.Millisecond, "worker-1", fmt.Sprintf("zone-%06d", i))
		mustApply(t, p, e)
	}
	grew := int64(heap()) - int64(before)
	p.mu.Lock()
	interned := len(p.strs)
	p.mu.Unlock()
	t.Logf("%d persons tracked, %d names interned, heap +%d KiB", p.Len(), interned, grew/1024)
	if interned > 4096 { // any bound: the names in use are 4 here
		t.Errorf("%d names interned for 1 person's 2 facts: the table only grows", interned)
	}
}

// What follows from TestLargeSitesStateFileLoadsAgain at every restart: the
// gate starts empty, converges again from its peers' snapshots (each under
// the limit: SnapshotOf their own facts), saves the whole site again, and
// the next start sets another copy aside. Nothing ever deletes the copies:
// each restart (a daily one, a watchdog, a crash loop) leaves one more file
// of the site's size on the card.
func TestRestartsDoNotPileUpStateFileCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-presence.json")
	now := func() time.Time { return t0.Add(time.Hour) }
	o := Options{StatePath: path, Now: now, Door: Door{From: Outside, To: "site", Direction: Entry}}
	peers, _ := newP(t, Options{Now: now}) // the site as the peers know it
	const persons = 40_000
	for i := range persons {
		mustApply(t, peers, benchEvent(2*i, i, "site"), benchEvent(2*i+1, i, Outside))
	}
	var snaps [][]byte
	for g := range 8 {
		snaps = append(snaps, peers.SnapshotOf(fmt.Sprintf("gate-%d", g)))
	}
	for restart := range 4 {
		p, _ := newP(t, o)
		for _, s := range snaps { // the catch-up after its connect
			if _, err := p.Merge(s); err != nil {
				t.Fatalf("restart %d: merge: %v", restart, err)
			}
		}
		if err := p.Save(); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	var size int64
	for _, e := range ents {
		fi, _ := e.Info()
		names = append(names, e.Name())
		size += fi.Size()
	}
	if len(ents) != 1 {
		t.Errorf("after 4 starts the state dir holds %d files, %d MB: %v", len(ents), size>>20, names)
	}
}

// Save replaces the state file through a temporary file beside it
// (atomicfile.Write: ".site-presence.json.tmp<random>"). A power cut or a
// kill -9 during the write (seconds for a large site on an SD card, once a
// minute while the site is busy) leaves that file behind, and nothing ever
// removes it: the next start neither, so each such crash leaves one more
// copy of the site's size in the state directory. (mqtt's replay memory
// removes its own leftovers at start; nothing else does.)
func TestStartRemovesATornSaveLeftBehind(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-presence.json")
	o := Options{StatePath: path, Door: Door{From: Outside, To: "site", Direction: Entry}}
	p, _ := newP(t, o)
	mustApply(t, p, ev("A", 1, time.Minute, "worker-1", "site"))
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".site-presence.json.tmp2718281828")
	if err := os.WriteFile(leftover, make([]byte, 4<<20), 0o600); err != nil { // cut off mid-write
		t.Fatal(err)
	}
	q, _ := newP(t, o) // the restart after the crash
	if err := q.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Errorf("the torn temporary file of a crashed save is still in the state directory after a restart and a save")
	}
}

// The leftover of TestStartRemovesATornSaveLeftBehind, made for real: a
// process saving a large site is killed with SIGKILL mid-save a few times.
func TestKilledSavesLeaveNoTemporaryFiles(t *testing.T) {
	if dir := os.Getenv("FACEGATE_SAVE_LOOP_DIR"); dir != "" {
		o := Options{StatePath: filepath.Join(dir, "site-presence.json"), Now: func() time.Time { return t0.Add(time.Hour) },
			Door: Door{From: Outside, To: "site", Direction: Entry}}
		p, _ := newP(t, o)
		for i := range 20_000 {
			mustApply(t, p, benchEvent(i, i, "site"))
		}
		os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
		for {
			if err := p.Save(); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	for kill := range 25 {
		os.Remove(filepath.Join(dir, "ready"))
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledSavesLeaveNoTemporaryFiles$")
		cmd.Env = append(os.Environ(), "FACEGATE_SAVE_LOOP_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 600 {
			if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(100+53*(kill%7)) * time.Millisecond) // somewhere in a save
		cmd.Process.Kill()
		cmd.Wait()
	}
	// A start after the last kill, as the daemon would.
	p, _ := newP(t, Options{StatePath: filepath.Join(dir, "site-presence.json"), Now: func() time.Time { return t0.Add(time.Hour) },
		Door: Door{From: Outside, To: "site", Direction: Entry}})
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var tmps []string
	var size int64
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			fi, _ := e.Info()
			tmps = append(tmps, e.Name())
			size += fi.Size()
		}
	}
	if len(tmps) > 0 {
		t.Errorf("after 25 kills mid-save and a restart, %d temporary files (%d KiB) are left: %v", len(tmps), size>>10, tmps)
	}
}
