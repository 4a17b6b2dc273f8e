package mqtt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// restart is a new verifier on the same replay memory file: what a new
// process (after a crash, systemctl restart or a reboot) builds.
func restart(t *testing.T, clk *fakeClock, path string) *OpenVerifier {
	t.Helper()
	v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, path)
	if err := v.Problem(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	return v
}

func accept(t *testing.T, v *OpenVerifier, p []byte) {
	t.Helper()
	if _, err := v.Verify(p); err != nil {
		t.Fatalf("valid command refused: %v", err)
	}
}

// A captured command never opens twice, whatever happens between the two
// deliveries: a restart, a reboot with the clock behind, a clock far ahead.
func TestOpenNeverAcceptedTwiceAcrossRestarts(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run accepts commands on v, then restarts and replays; it
		// returns the refusal of the replay.
		run  func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error
		want error
	}{
		{"restart at once, sender's clock 20s ahead", func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error {
			p := signed(t, testSecret, OpenBody{TS: clk.Now().Unix() + 20, Nonce: nonceN(1), Topic: testTopic})
			accept(t, v, p)
			clk.Add(5 * time.Second)
			_, err := restart(t, clk, path).Verify(p)
			return err
		}, ErrReplayed},
		{"reboot with the clock behind (no RTC)", func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error {
			p := signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic})
			accept(t, v, p)
			// The Pi boots on the time it saved 10 s before the command:
			// the captured command fits the wrong clock's window.
			clk.Add(-10 * time.Second)
			_, err := restart(t, clk, path).Verify(p)
			return err
		}, ErrReplayed},
		{"reboot with the clock behind, an older command", func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error {
			start := clk.Now()
			old := signed(t, testSecret, OpenBody{TS: start.Unix(), Nonce: nonceN(1), Topic: testTopic})
			accept(t, v, old)
			clk.Add(10 * time.Minute)
			accept(t, v, signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(2), Topic: testTopic}))
			// The Pi boots on the time it saved when the old command came:
			// the old command fits that clock exactly.
			clk.t = start
			_, err := restart(t, clk, path).Verify(old)
			return err
		}, ErrStale},
		{"clock far ahead, then set right", func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error {
			p := signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic})
			accept(t, v, p)
			clk.Add(365 * 24 * time.Hour)
			v2 := restart(t, clk, path)
			// Commands from a right clock are refused while the gate's is
			// wrong; that must not make it forget the accepted one.
			if _, err := v2.Verify(signed(t, testSecret, OpenBody{TS: testStart.Unix() + 5, Nonce: nonceN(2), Topic: testTopic})); !errors.Is(err, ErrStale) {
				t.Errorf("command a year behind the gate's clock: %v, want ErrStale", err)
			}
			clk.t = testStart.Add(5 * time.Second)
			v3 := restart(t, clk, path)
			// A new command works again once the clock is right.
			accept(t, v3, signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(3), Topic: testTopic}))
			_, err := v3.Verify(p)
			return err
		}, ErrReplayed},
		{"same process, clock far ahead then back", func(t *testing.T, v *OpenVerifier, clk *fakeClock, path string) error {
			p := signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic})
			accept(t, v, p)
			clk.Add(24 * time.Hour)
			if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(2), Topic: testTopic})); err != nil {
				t.Fatalf("command matching the clock: %v", err)
			}
			// NTP pulls the clock back a day: the first command fits the
			// clock again. Its ts is below the floor the second one set.
			clk.Add(-24 * time.Hour)
			_, err := v.Verify(p)
			return err
		}, ErrStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, clk, path := newTestVerifier(t)
			err := tc.run(t, v, clk, path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("replay: %v, want %v", err, tc.want)
			}
		})
	}
}

// With the clock behind the newest accepted command, a timestamp is
// judged against that command, not against the wrong clock.
func TestOpenWindowFollowsTheNewestAcceptedCommand(t *testing.T) {
	v, clk, path := newTestVerifier(t)
	now := clk.Now().Unix()
	accept(t, v, signed(t, testSecret, OpenBody{TS: now, Nonce: nonceN(1), Topic: testTopic}))
	clk.Add(-10 * time.Minute) // booted on a stale saved time
	v = restart(t, clk, path)
	for _, tc := range []struct {
		name string
		ts   int64
		want error
	}{
		{"newer than the last, within the skew", now + 20, nil},
		{"far ahead of the last", now + 600, ErrStale},
		{"matching the wrong clock", now - 600, ErrStale},
		{"within the skew before the last", now - 5, nil},
	} {
		_, err := v.Verify(signed(t, testSecret, OpenBody{TS: tc.ts, Nonce: nonceN(int(tc.ts - now + 1000)), Topic: testTopic}))
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestStaleRefusalIsNeverAcceptedLater: a signed command refused as
// stale is remembered: a gate whose clock was behind refuses it again
// when its clock reaches the command's time, and so does one rebooted on
// a saved time that comes near it again (anyone who saw the refused
// command could open the gate with it then).
func TestStaleRefusalIsNeverAcceptedLater(t *testing.T) {
	t.Run("a slow clock catches up", func(t *testing.T) {
		v, clk, _ := newTestVerifier(t)
		p := signed(t, testSecret, OpenBody{TS: clk.Now().Add(5 * time.Minute).Unix(), Nonce: nonceN(3), Topic: testTopic, By: "ops"})
		if _, err := v.Verify(p); !errors.Is(err, ErrStale) {
			t.Fatalf("an open 5 min ahead of the gate: %v, want ErrStale", err)
		}
		clk.Add(5 * time.Minute)
		if _, err := v.Verify(p); !errors.Is(err, ErrReplayed) {
			t.Fatalf("the same open once the clock reached it: %v, want ErrReplayed", err)
		}
		// A new command from the same sender is accepted.
		accept(t, v, signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(4), Topic: testTopic, By: "ops"}))
	})
	t.Run("a reboot on a saved time", func(t *testing.T) {
		v, clk, path := newTestVerifier(t)
		t0 := clk.Now()
		accept(t, v, signed(t, testSecret, OpenBody{TS: t0.Unix(), Nonce: nonceN(1), Topic: testTopic}))
		p := signed(t, testSecret, OpenBody{TS: t0.Add(10 * time.Minute).Unix(), Nonce: nonceN(2), Topic: testTopic, By: "ops"})
		clk.Set(t0.Add(12 * time.Minute)) // delivered 2 min late
		if _, err := v.Verify(p); !errors.Is(err, ErrStale) {
			t.Fatalf("late copy: %v, want ErrStale", err)
		}
		clk.Set(t0.Add(5 * time.Second)) // the saved time, NTP not answering yet
		v2 := restart(t, clk, path)
		clk.Set(t0.Add(10 * time.Minute))
		if _, err := v2.Verify(p); !errors.Is(err, ErrReplayed) {
			t.Fatalf("after the reboot, at the command's time: %v, want ErrReplayed", err)
		}
	})
	t.Run("bounded, the furthest from the clock forgotten first", func(t *testing.T) {
		v, clk, _ := newTestVerifier(t)
		now := clk.Now()
		for i := range maxRefused + 1 {
			ts := now.Add(time.Hour + time.Duration(i)*time.Second).Unix()
			if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: ts, Nonce: nonceN(100 + i), Topic: testTopic})); !errors.Is(err, ErrStale) {
				t.Fatal(err)
			}
		}
		if n := len(v.mem.st.Refused); n != maxRefused {
			t.Fatalf("%d stale refusals kept, want %d", n, maxRefused)
		}
		if _, ok := v.mem.st.Refused[nonceN(100+maxRefused)]; ok {
			t.Error("the furthest ahead kept")
		}
		if _, ok := v.mem.st.Refused[nonceN(100)]; !ok {
			t.Error("the nearest forgotten")
		}
	})
}

// The command is on disk, fsynced, before Verify hands it over.
func TestOpenIsRecordedBeforeItIsAccepted(t *testing.T) {
	v, clk, path := newTestVerifier(t)
	var wrote []byte
	v.mem.write = func(p string, b []byte) error {
		wrote = append([]byte(nil), b...)
		return writeFileDurably(p, b)
	}
	nonce := nonceN(7)
	if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonce, Topic: testTopic})); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(wrote, []byte(nonce)) {
		t.Fatalf("the write before acceptance did not hold the nonce: %s", wrote)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(onDisk, wrote) {
		t.Fatalf("file %q (%v), want what was written", onDisk, err)
	}
}

// An unreadable replay memory refuses every open (and says so) without
// stopping anything; the damaged file is kept for a person.
func TestOpenReplayMemoryCorruptFailsClosed(t *testing.T) {
	good := func(t *testing.T) []byte {
		_, clk, path := newTestVerifier(t)
		v := restart(t, clk, path)
		accept(t, v, signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic}))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	resum := func(body string) []byte {
		st := replayMemory{st: replayState{}}
		_ = json.Unmarshal([]byte(body), &st.st)
		var out []byte
		st.write = func(_ string, b []byte) error { out = b; return nil }
		if err := st.save(); err != nil {
			panic(err)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		content func(t *testing.T) []byte
		want    string
	}{
		{"one flipped bit", func(t *testing.T) []byte {
			b := good(t)
			b[10] ^= 0x04
			return b
		}, "checksum mismatch"},
		{"torn", func(t *testing.T) []byte { b := good(t); return b[:len(b)/2] }, "no checksum line"},
		{"empty", func(t *testing.T) []byte { return nil }, "no checksum line"},
		{"garbage", func(t *testing.T) []byte { return []byte("\x00\x01 not json\nsha256:00\n") }, "checksum mismatch"},
		{"no checksum", func(t *testing.T) []byte { return []byte(`{"version":1,"floor":5,"last":5,"nonces":{}}`) }, "no checksum line"},
		{"nonce below the floor", func(t *testing.T) []byte {
			return resum(`{"version":1,"floor":100,"last":200,"nonces":{"nonce-0000000001":50}}`)
		}, "outside 100..200"},
		{"unknown version", func(t *testing.T) []byte { return resum(`{"version":9,"floor":100,"last":200}`) }, "version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "replay.json")
			content := tc.content(t)
			if err := os.WriteFile(path, content, 0o640); err != nil {
				t.Fatal(err)
			}
			clk := &fakeClock{t: testStart}
			v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, path)
			if err := v.Problem(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Problem() = %v, want the path and %q", err, tc.want)
			}
			_, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(99), Topic: testTopic}))
			if !errors.Is(err, ErrReplayMemory) {
				t.Fatalf("open with a corrupt replay memory: %v, want ErrReplayMemory", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
				t.Fatal("the damaged file was changed")
			}
		})
	}
	t.Run("a directory in its place", func(t *testing.T) {
		path := t.TempDir()
		v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, &fakeClock{t: testStart}, path)
		if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: testStart.Unix(), Nonce: nonceN(1), Topic: testTopic})); !errors.Is(err, ErrReplayMemory) {
			t.Fatalf("%v, want ErrReplayMemory", err)
		}
	})
}

// A command that cannot be recorded is refused; opens work again once the
// disk does.
func TestOpenReplayMemoryWriteFailureRefuses(t *testing.T) {
	t.Run("injected fsync error", func(t *testing.T) {
		v, clk, _ := newTestVerifier(t)
		v.mem.write = func(string, []byte) error { return errors.New("no space left on device") }
		_, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic}))
		if !errors.Is(err, ErrReplayMemory) || !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("open that cannot be recorded: %v, want ErrReplayMemory", err)
		}
		if v.Problem() == nil {
			t.Fatal("Problem() is nil after a failed write")
		}
		v.mem.write = writeFileDurably
		accept(t, v, signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(2), Topic: testTopic}))
		if err := v.Problem(); err != nil {
			t.Fatalf("Problem() after a good write: %v", err)
		}
	})
	t.Run("state directory gone", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		clk := &fakeClock{t: testStart.Add(-time.Minute)}
		v := NewOpenVerifier(testSecret, testTopic, 30*time.Second, clk, filepath.Join(dir, "replay.json"))
		clk.Add(time.Minute)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(signed(t, testSecret, OpenBody{TS: clk.Now().Unix(), Nonce: nonceN(1), Topic: testTopic})); !errors.Is(err, ErrReplayMemory) {
			t.Fatalf("%v, want ErrReplayMemory", err)
		}
	})
}

// The client alerts the operator when remote opens are refused for the
// replay memory, and keeps running.
func TestClientAlertsOnAnUnreadableReplayMemory(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.Open = OpenOptions{Enabled: true, Secret: testSecret, ReplayPath: filepath.Join(t.TempDir(), "replay.json")}
	if err := os.WriteFile(o.Open.ReplayPath, []byte("torn"), 0o640); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, o)
	c.retained.mu.Lock()
	alert := string(c.retained.latest[c.topics.Alert])
	c.retained.mu.Unlock()
	if !strings.Contains(alert, `"code":"open_replay_memory"`) || !strings.Contains(alert, o.Open.ReplayPath) {
		t.Fatalf("alert %s, want open_replay_memory naming the file", alert)
	}
	c.handle(inbound{topic: c.topics.CmdOpen, payload: signed(t, testSecret, OpenBody{TS: time.Now().Unix(), Nonce: nonceN(1), Topic: c.topics.CmdOpen})})
	select {
	case cmd := <-c.Commands():
		t.Fatalf("command %+v delivered with an unreadable replay memory", cmd)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// A temporary file left by a write cut short is removed at start.
func TestOpenReplayMemoryRemovesLeftoverTemporaryFiles(t *testing.T) {
	_, clk, path := newTestVerifier(t)
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp123")
	if err := os.WriteFile(tmp, []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}
	restart(t, clk, path)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover %s: %v", tmp, err)
	}
}

// FuzzDecodeReplayState feeds the replay memory's reader damaged files,
// each also with its checksum made right (so the JSON behind it is
// reached): it never panics, and a state it accepts keeps the invariants
// the memory relies on and is written back to the same state.
func FuzzDecodeReplayState(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"floor":100,"last":200,"nonces":{"nonce-0000000001":150}}`,
		`{"version":1,"floor":100,"last":0,"nonces":{},"refused":{"nonce-0000000002":5}}`,
		`{"version":1,"floor":1,"last":1,"nonces":null}`,
		`{"version":1,"floor":100,"last":200,"nonces":{"a":150,"a":99}}`,
		`{"version":1,"floor":100,"last":200} {}`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		for _, file := range [][]byte{body, append(append(slices.Clone(body), "\nsha256:"...), hex.EncodeToString(sum[:])+"\n"...)} {
			st, err := decodeReplayState(file)
			if err != nil {
				continue
			}
			if st.Version != replayVersion || st.Floor <= 0 || st.Floor > maxTS || st.Last < 0 || st.Last > maxTS ||
				st.Nonces == nil || len(st.Nonces) > maxNonces || len(st.Refused) > maxRefused {
				t.Fatalf("accepted a state out of bounds: %+v", st)
			}
			for n, ts := range st.Nonces {
				if !validNonce(n) || ts < st.Floor || ts > st.Last {
					t.Fatalf("accepted nonce %q at %d outside %d..%d", n, ts, st.Floor, st.Last)
				}
			}
			for n, ts := range st.Refused {
				if !validNonce(n) || ts < 0 || ts > maxTS {
					t.Fatalf("accepted refused nonce %q at %d", n, ts)
				}
			}
			var again []byte
			m := &replayMemory{st: st, write: func(_ string, b []byte) error { again = b; return nil }}
			if err := m.save(); err != nil {
				t.Fatal(err)
			}
			st2, err := decodeReplayState(again)
			if err != nil {
				t.Fatalf("a state it accepted, written back, is refused: %v", err)
			}
			if st2.Floor != st.Floor || st2.Last != st.Last || !maps.Equal(st2.Nonces, st.Nonces) || !maps.Equal(st2.Refused, st.Refused) {
				t.Fatalf("written back as %+v, read %+v", st2, st)
			}
		}
	})
}
