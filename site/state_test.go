package site

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestStateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site-presence.json")
	p, _ := newP(t, Options{StatePath: path})
	if p.Dirty() {
		t.Fatal("a fresh presence is dirty")
	}
	src := fullState(t)
	if _, err := p.Merge(src.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if !p.Dirty() {
		t.Fatal("not dirty after a merge")
	}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	if p.Dirty() {
		t.Fatal("dirty after Save")
	}
	q, _ := newP(t, Options{StatePath: path})
	if err := q.StateProblem(); err != nil {
		t.Fatal(err)
	}
	persons := []string{"w1", "w2", "w3", "w4", "w9"}
	if got, want := describe(q, persons), describe(p, persons); got != want {
		t.Fatalf("after restart:\n%s\nwant:\n%s", got, want)
	}
	if q.Dirty() {
		t.Fatal("dirty right after loading")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestCorruptStateIsKeptAsideAndReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-presence.json")
	p, _ := newP(t, Options{StatePath: path})
	if _, err := p.ApplyEvent(ev("A", 1, 0, "w1", "site")); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, content string }{
		{"flipped byte", strings.Replace(string(good), `"zone":"site"`, `"zone":"sitf"`, 1)},
		{"truncated", string(good[:len(good)/2])},
		{"empty", ""},
		{"other format", strings.Replace(string(good), StateFormat, "x", 1)},
		{"bad checksum hex", strings.Replace(string(good), `"sha256":"`, `"sha256":"00`, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content == string(good) {
				t.Fatal("the corruption did not apply: fix the test")
			}
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			q, _ := newP(t, Options{StatePath: path})
			err := q.StateProblem()
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("StateProblem = %v, want ErrCorruptState", err)
			}
			if q.Len() != 0 {
				t.Fatalf("started with %d persons, want empty", q.Len())
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 || !strings.Contains(err.Error(), aside[0]) {
				t.Fatalf("aside = %v, problem %v", aside, err)
			}
			kept, _ := os.ReadFile(aside[0])
			if string(kept) != tc.content {
				t.Fatal("the corrupt file was not kept as it was")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the corrupt file is still in place: %v", err)
			}
			os.Remove(aside[0])
		})
	}
}

func TestStateOfAnotherSiteIsSetAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site-presence.json")
	p, _ := newP(t, Options{Site: "depot", StatePath: path})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"))
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	q, _ := newP(t, Options{Site: "plant", StatePath: path})
	if err := q.StateProblem(); !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), `"depot"`) {
		t.Fatalf("StateProblem = %v", err)
	}
}

func TestUnreadableStateFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "site-presence.json")
	if err := os.Mkdir(path, 0o700); err != nil { // a directory: read fails, not "corrupt"
		t.Fatal(err)
	}
	if _, err := New(Options{Zones: siteZones(), StatePath: path, Log: quiet()}); err == nil {
		t.Fatal("New succeeded on an unreadable state file")
	}
}

func TestSaveFailureKeepsDirty(t *testing.T) {
	p, _ := newP(t, Options{StatePath: filepath.Join(t.TempDir(), "gone", "site-presence.json")})
	mustApply(t, p, ev("A", 1, 0, "w1", "site"))
	if err := p.Save(); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
	if !p.Dirty() {
		t.Fatal("a failed Save cleared dirty")
	}
}

func TestRunSavesAndResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "site-presence.json")
		// In the bubble time.Now starts at 2000-01-01 00:00 UTC.
		p, err := New(Options{Zones: siteZones(), StatePath: path, ResetAt: "00:30", Location: time.UTC, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, time.Minute) }()
		e := ev("A", 1, 0, "w1", "site")
		e.TS = "2000-01-01T00:00:10.000Z"
		mustApply(t, p, e)
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if p.Dirty() {
			t.Fatal("Run did not save within a minute")
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Minute) // past 00:30: the daily reset
		synctest.Wait()
		if z := zoneOf(p, "w1"); z != Outside {
			t.Fatalf("after 00:30: w1 in %s, want outside", z)
		}
		e2 := ev("A", 2, 0, "w2", "site")
		e2.TS = "2000-01-01T00:31:00.000Z" // after the reset, not ahead of the clock
		mustApply(t, p, e2)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		q, err := New(Options{Zones: siteZones(), StatePath: path, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if zoneOf(q, "w2") != "site" || zoneOf(q, "w1") != Outside {
			t.Fatal("the last Save on cancel did not keep w2 / the reset")
		}
	})
}

// TestStateFileAmbiguous: a state file with data after its object or a key
// given twice (in any letter case; the snapshot's checksum does not cover
// the outer keys) is corrupt, as encoding/json would keep the last key.
func TestStateFileAmbiguous(t *testing.T) {
	good := encodeState(fullState(t).Snapshot())
	p, _ := newP(t, Options{})
	if err := p.loadBytes(good); err != nil {
		t.Fatalf("the state file itself: %v", err)
	}
	obj := bytes.TrimSuffix(good, []byte("\n"))
	for name, b := range map[string][]byte{
		"data after a ]":         append(bytes.Clone(obj), "]\n"...),
		"data after a }":         append(bytes.Clone(obj), '}'),
		"version given twice":    bytes.Replace(obj, []byte(`"version":1,`), []byte(`"version":2,"version":1,`), 1),
		"format in another case": bytes.Replace(obj, []byte(`"version":1,`), []byte(`"version":1,"FORMAT":"`+StateFormat+`",`), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(b, obj) {
				t.Fatal("the test's replacement did not apply")
			}
			p, _ := newP(t, Options{})
			err := p.loadBytes(b)
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("loadBytes(%.120s…) = %v, want ErrCorruptState", b, err)
			}
			if p.Len() != 0 {
				t.Fatal("a refused state file changed the presence")
			}
		})
	}
}

// FuzzStateFile: the state file is read at start; whatever is in it, New
// starts (empty and with StateProblem when it does not decode).
func FuzzStateFile(f *testing.F) {
	f.Add(encodeState(fullState(f).Snapshot()))
	f.Add(encodeState([]byte(`{"format":"facegate-site-presence","version":1,"persons":[]}`)))
	f.Add([]byte(`{"format":"facegate-site-state","version":1,"sha256":"","snapshot":{}}`))
	f.Add([]byte("\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _ := newP(t, Options{})
		if err := p.loadBytes(b); err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("loadBytes error %v is not ErrCorruptState", err)
			}
			if p.Len() != 0 || len(p.Evacuations()) != 0 {
				t.Fatal("a refused state file changed the presence")
			}
			return
		}
		// What loaded saves and loads again to the same state.
		q, _ := newP(t, Options{})
		if err := q.loadBytes(encodeState(p.Snapshot())); err != nil {
			t.Fatalf("our own state does not load: %v", err)
		}
		if string(q.Snapshot()) != string(p.Snapshot()) {
			t.Fatalf("round trip differs:\n%s\n%s", q.Snapshot(), p.Snapshot())
		}
	})
}

// TestRunTellsTheFirstFailedSaveOfARun: a card that cannot take the state
// file (full, worn out) is told to SaveFailed once per run of failures,
// not at every retry, and again after a save worked in between. Until
// 2026-12-07 a failed periodic save was only a log line.
func TestRunTellsTheFirstFailedSaveOfARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		path := filepath.Join(dir, "site-presence.json") // dir missing: saves fail
		var told []error
		p, err := New(Options{Zones: siteZones(), StatePath: path, Log: quiet(), SaveFailed: func(err error) { told = append(told, err) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, time.Minute) }()
		e := ev("A", 1, 0, "w1", "site")
		e.TS = "2000-01-01T00:00:10.000Z"
		mustApply(t, p, e)
		time.Sleep(5*time.Minute + time.Second) // five failed saves
		synctest.Wait()
		if len(told) != 1 {
			t.Fatalf("SaveFailed told %d times over five failed saves, want once", len(told))
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute) // saved
		synctest.Wait()
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		e2 := ev("A", 2, 0, "w2", "site")
		e2.TS = "2000-01-01T00:06:10.000Z"
		mustApply(t, p, e2)
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(told) != 2 {
			t.Fatalf("SaveFailed told %d times, want again after a save worked in between", len(told))
		}
		cancel()
		<-done
	})
}
