//go:build linux

package main

// The daemon on real file systems: its state_dir (and its
// outbox) on a small tmpfs that fills up, runs out of inodes, or comes back.
// Every test skips when it may not mount (not root, no CAP_SYS_ADMIN).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/facegate/facegate/kiosk"
	"github.com/facegate/facegate/mqtt"
	"github.com/facegate/facegate/mqtt/broker"
	"github.com/facegate/facegate/mqtt/outbox"
	"github.com/facegate/facegate/record"
)

// realDiskMount mounts a tmpfs with opts ("size=2m", "size=4m,nr_inodes=64") on
// dir (created), unmounted at the test's end, or skips.
func realDiskMount(t *testing.T, dir, opts string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("a real small disk needs a tmpfs mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// A file still open (the daemon not stopped after a failure):
			// detach it so that nothing stays mounted.
			if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
				t.Errorf("unmount %s: %v, %v", dir, err, err2)
			}
		}
	})
}

// realDiskFill fills the file system of dir with a file "filler" (every block
// taken; the slack in the last page of existing files stays) and returns
// the function that frees it again.
func realDiskFill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
	for _, chunk := range []int{1 << 16, 4096, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill: %v", err)
				}
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("free: %v", err)
		}
	}
}

// realDiskFillInodes creates empty files in dir until the file system has no
// inode left, and returns the function that removes them.
func realDiskFillInodes(t *testing.T, dir string) (free func()) {
	t.Helper()
	sub := filepath.Join(dir, "inodes")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatalf("inodes: %v", err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(sub, "f"+itoa(i)))
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill inodes: %v", err)
			}
			break
		}
		f.Close()
	}
	return func() {
		if err := os.RemoveAll(sub); err != nil {
			t.Errorf("free inodes: %v", err)
		}
	}
}

func realDiskStacks() string {
	b := make([]byte, 1<<20)
	return string(b[:runtime.Stack(b, true)])
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// realDiskAudit is what the audit log of stateDir holds, every file, oldest
// first: the decisions by event id and the relay results by event id.
type realDiskAudit struct {
	decisions map[string]record.Event
	results   map[string][]record.PulseResult
	lines     []string
}

func realDiskReadAudit(t *testing.T, stateDir string) realDiskAudit {
	t.Helper()
	a := realDiskAudit{decisions: map[string]record.Event{}, results: map[string][]record.PulseResult{}}
	dir := filepath.Join(stateDir, "audit")
	names, _ := filepath.Glob(filepath.Join(dir, "audit.jsonl*"))
	slices.Sort(names)
	slices.Reverse(names) // .4 .3 .2 .1 then the current one last
	if i := slices.Index(names, filepath.Join(dir, "audit.jsonl")); i >= 0 {
		names = append(append(names[:i:i], names[i+1:]...), filepath.Join(dir, "audit.jsonl"))
	}
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			a.lines = append(a.lines, l)
			var k struct {
				Kind string `json:"kind"`
			}
			if json.Unmarshal([]byte(l), &k) != nil {
				continue
			}
			switch k.Kind {
			case "":
				var ev record.Event
				if json.Unmarshal([]byte(l), &ev) == nil {
					a.decisions[ev.EventID] = ev
				}
			case record.PulseKind:
				var res record.PulseResult
				if json.Unmarshal([]byte(l), &res) == nil {
					a.results[res.EventID] = append(a.results[res.EventID], res)
				}
			}
		}
		f.Close()
	}
	return a
}

// energisedGrants are the audit's grants whose result says the relay
// energised.
func (a realDiskAudit) energisedGrants() []string {
	var ids []string
	for id, ev := range a.decisions {
		if ev.Decision != record.DecisionGranted {
			continue
		}
		for _, r := range a.results[id] {
			if r.Relay == record.RelayPulsed || r.Relay == record.RelayCut || r.Relay == record.RelayFault {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (r *rig) alertCodes() []string {
	r.bl.mu.Lock()
	defer r.bl.mu.Unlock()
	var codes []string
	for _, a := range r.bl.alerts {
		codes = append(codes, a.Code)
	}
	return codes
}

func (r *rig) hasAlert(code, contains string) bool {
	r.bl.mu.Lock()
	defer r.bl.mu.Unlock()
	return slices.ContainsFunc(r.bl.alerts, func(a mqtt.Alert) bool {
		return a.Code == code && strings.Contains(a.Message, contains)
	})
}

// session identifies the worker and returns the end state the session
// showed (granted, denied or error, with its reasons), once the kiosk is
// idle again.
func (r *rig) session(t *testing.T) kiosk.Status {
	t.Helper()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 30*time.Second, 20*time.Millisecond, "idle before")
	before := r.d.p.kiosk.Status().LastEventID
	var end kiosk.Status
	left := false
	watch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-watch:
				return
			default:
			}
			s := r.d.p.kiosk.Status()
			switch s.State {
			case kiosk.StateGranted, kiosk.StateDenied, kiosk.StateError:
				end = s
			case kiosk.StateCooldown: // the result stays on the screen
				if end.State == "" {
					end = s
				}
			case kiosk.StateIdle:
			default:
				left = true
			}
			if end.State != "" && s.State == kiosk.StateIdle && s.LastEventID != before {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r.identify()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		close(watch)
		<-done
		t.Fatalf("no session end in 30s (left idle: %v)\n%s\nstatus %+v\n%s", left, r.logs.String(), r.d.p.kiosk.Status(), realDiskStacks())
	}
	return end
}

// realDiskRelayAgainstAudit: every energise of the sim relay has a grant in
// the audit log whose result says it energised.
func realDiskRelayAgainstAudit(t *testing.T, r *rig) {
	t.Helper()
	a := realDiskReadAudit(t, r.d.cfg.StateDir)
	pulses := len(r.d.p.gate.Sim().Pulses())
	if got := len(a.energisedGrants()); got != pulses {
		t.Errorf("%d relay pulses but %d energised grants in the audit log\n%s", pulses, got, strings.Join(a.lines, "\n"))
	}
}

// realDiskRig is the rig with its state_dir on a tmpfs of opts, health every
// 200ms and kiosk.min_free_mb 1.
func realDiskRig(t *testing.T, opts string, extra string) (*rig, string) {
	t.Helper()
	r := newRig(t, 0)
	state := filepath.Join(filepath.Dir(r.cfgPath), "state")
	realDiskMount(t, state, opts)
	r.cfgYAML = strings.Replace(r.cfgYAML, "  health_interval: 1s\n", "  health_interval: 1s\n  min_free_mb: 1\n", 1) + extra
	r.writeConfig(r.cfgYAML)
	return r, state
}

// TestRealDiskFullAtStartRefusesThenRecoversByItself: a state_dir full
// before the daemon starts: it starts, a grant is refused (record_failed
// on the screen and in an alert, the relay never moves), the health says
// why; once space is back, with no restart, the next grant opens with its
// record on disk and the disk and audit checks clear.
func TestRealDiskFullAtStartRefusesThenRecoversByItself(t *testing.T) {
	r, state := realDiskRig(t, "size=4m", "")
	free := realDiskFill(t, state)
	r.start()
	r.waitOnlineAndIdle(t)

	end := r.session(t)
	if end.Decision == record.DecisionGranted {
		t.Fatalf("granted on a full disk: %+v", end)
	}
	if !slices.Contains(end.Reason, kiosk.ReasonRecordFailed) {
		t.Errorf("session end %+v, want record_failed", end)
	}
	require.Eventually(t, func() bool { return r.hasAlert(kiosk.AlertRecordFailed, "") }, 5*time.Second, 20*time.Millisecond, "record_failed alert")
	if n := len(r.d.p.gate.Sim().Pulses()); n != 0 {
		t.Fatalf("%d pulses on a full disk", n)
	}
	require.Eventually(t, func() bool {
		h := r.d.p.kiosk.Health()
		return h.Checks["disk"].Status == kiosk.HealthDegraded && h.Checks["audit"].Status == kiosk.HealthDegraded
	}, 5*time.Second, 20*time.Millisecond, "disk and audit degraded")

	free()
	require.Eventually(t, func() bool {
		return r.d.p.kiosk.Health().Checks["disk"].Status == kiosk.HealthOK
	}, 5*time.Second, 20*time.Millisecond, "disk ok once space is back")
	end = r.session(t)
	if end.Decision != record.DecisionGranted {
		t.Fatalf("once space is back: %+v", end)
	}
	require.Eventually(t, func() bool { return len(r.d.p.gate.Sim().Pulses()) == 1 }, 5*time.Second, 20*time.Millisecond, "the pulse")
	require.Eventually(t, func() bool { return r.d.p.kiosk.Health().Checks["audit"].Status == kiosk.HealthOK }, 5*time.Second, 20*time.Millisecond, "audit ok")
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	realDiskRelayAgainstAudit(t, r)
	t.Logf("alerts: %v", r.alertCodes())
}

// healthSays reports whether a check of the newest self-test is not ok and
// its detail contains want.
func (r *rig) healthSays(want string) (bool, string) {
	h := r.d.p.kiosk.Health()
	var all []string
	found := false
	for name, c := range h.Checks {
		all = append(all, name+"="+c.Status+" "+c.Detail)
		if c.Status != kiosk.HealthOK && c.Status != "absent" && strings.Contains(c.Detail, want) {
			found = true
		}
	}
	slices.Sort(all)
	return found, strings.Join(all, "\n")
}

// TestRealDiskOutboxOnItsOwnFullDiskIsInTheHealth: mqtt.outbox.path on a file
// system of its own (a second card, a bigger partition) that fills up:
// every grant is refused (record_failed), yet the self-test, the health
// topic and /healthz go on saying the gate is fine: the disk check
// measures the state directory only, and no check looks at the outbox's
// writes. The operator sees a gate that refuses everyone with a healthy
// status.
func TestRealDiskOutboxOnItsOwnFullDiskIsInTheHealth(t *testing.T) {
	r, _ := realDiskRig(t, "size=8m", "")
	box := filepath.Join(filepath.Dir(r.cfgPath), "outbox")
	realDiskMount(t, box, "size=1m")
	r.cfgYAML = strings.Replace(r.cfgYAML, "  urls: [", "  outbox:\n    path: "+filepath.Join(box, "mqtt-outbox.log")+"\n  urls: [", 1)
	r.writeConfig(r.cfgYAML)
	r.start()
	r.waitOnlineAndIdle(t)
	realDiskFill(t, box)

	end := r.session(t)
	if end.Decision == record.DecisionGranted || !slices.Contains(end.Reason, kiosk.ReasonRecordFailed) {
		t.Fatalf("session on a full outbox disk: %+v, want record_failed", end)
	}
	if n := len(r.d.p.gate.Sim().Pulses()); n != 0 {
		t.Fatalf("%d pulses without a durable outbox record", n)
	}
	require.Eventually(t, func() bool { return r.hasAlert(kiosk.AlertRecordFailed, "outbox") }, 5*time.Second, 20*time.Millisecond, "record_failed alert")
	// Two self-tests later the health must say why every grant is refused.
	time.Sleep(2500 * time.Millisecond)
	if ok, checks := r.healthSays("outbox"); !ok {
		t.Errorf("every grant is refused (the outbox cannot be written: no space), but no self-test check says so:\n%s", checks)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	realDiskRelayAgainstAudit(t, r)
}

// TestRealDiskOutboxDiskFillingIsInTheHealthBeforeItRefuses: the outbox on
// a file system of its own that fills up is in the disk check while it
// still takes records, as the state directory's is: the operator has
// time to free space before grants are refused. Until 2026-12-08 the
// check measured the state directory only.
func TestRealDiskOutboxDiskFillingIsInTheHealthBeforeItRefuses(t *testing.T) {
	r, _ := realDiskRig(t, "size=8m", "")
	box := filepath.Join(filepath.Dir(r.cfgPath), "outbox")
	realDiskMount(t, box, "size=4m")
	r.cfgYAML = strings.Replace(r.cfgYAML, "  urls: [", "  outbox:\n    path: "+filepath.Join(box, "mqtt-outbox.log")+"\n  urls: [", 1)
	r.writeConfig(r.cfgYAML)
	r.start()
	r.waitOnlineAndIdle(t)
	realDiskFillLeaving(t, box, 512<<10) // under kiosk.min_free_mb (1 MiB)

	require.Eventually(t, func() bool { ok, _ := r.healthSays("the MQTT outbox's " + box); return ok }, 5*time.Second, 20*time.Millisecond, "the disk check names the outbox's file system")
	if ok, checks := r.healthSays(box); !ok {
		t.Fatalf("the outbox's file system is below kiosk.min_free_mb, but no check says so:\n%s", checks)
	}
	require.Eventually(t, func() bool { return r.hasAlert(kiosk.AlertDiskLow, box) }, 5*time.Second, 20*time.Millisecond, "the disk_low alert names the outbox's folder")
	if end := r.session(t); end.Decision != record.DecisionGranted {
		t.Fatalf("with room left on the outbox's disk: %+v, want granted", end)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	realDiskRelayAgainstAudit(t, r)
}

// realDiskFillLeaving fills the file system of dir until about leave bytes
// are free.
func realDiskFillLeaving(t *testing.T, dir string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= leave {
		t.Fatalf("%s: %d bytes free, fewer than the %d to leave", dir, free, leave)
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, free-leave), 0o600); err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// TestRealDiskInodesExhaustedIsInTheHealth: a state_dir file system with
// free blocks but no free inode (a tmpfs with nr_inodes=64; on an SD card,
// millions of small files from another program) cannot create a file:
// every atomic state-file replacement (the event sequence, the
// anti-passback and liveness lockout memories, the running mark), the
// audit log's rotation and a new audit file fail with ENOSPC. The disk
// check measures blocks only and stays ok.
func TestRealDiskInodesExhaustedIsInTheHealth(t *testing.T) {
	r, state := realDiskRig(t, "size=8m,nr_inodes=64", "")
	r.start()
	r.waitOnlineAndIdle(t)
	realDiskFillInodes(t, state)

	end := r.session(t)
	t.Logf("session with no inode left: %s %v", end.Decision, end.Reason)
	require.Eventually(t, func() bool { return r.hasAlert("state_dir", "event sequence") }, 5*time.Second, 20*time.Millisecond, "the state_dir alert for the sequence")
	time.Sleep(2500 * time.Millisecond)
	if ok, checks := r.healthSays("inode"); !ok {
		t.Errorf("no inode left on the state directory's file system (state files cannot be replaced), but the disk check does not say so:\n%s", checks)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	realDiskRelayAgainstAudit(t, r)
}

// TestRealDiskFullDiskDoesNotRepublishTheQueueForEver: events queued while
// the broker was away (left by the run before), the disk full, then the
// broker comes back. Each queued event must reach the broker once (a lost
// ack may repeat it after a restart, not while the daemon runs), and the
// link must stay up for the commands (cmd/identify, cmd/open, the site).
// An ack is a record appended to the outbox file: on a full disk it fails,
// sendEvents returns an error, the connection is dropped and, at every
// reconnect, the whole queue is published again, for as long as the disk
// stays full.
func TestRealDiskFullDiskDoesNotRepublishTheQueueForEver(t *testing.T) {
	r, state := realDiskRig(t, "size=4m", "")
	// 20 events queued by the run before, the file ending on a page
	// boundary (no slack left for an ack once the disk is full).
	const n = 20
	ev := func(i int, pad string) []byte {
		return []byte(`{"event_id":"old-` + itoa(i) + `","seq":` + itoa(i) + `,"ts":"2026-01-01T00:00:00.000Z","site":"test","gate":"door1","decision":"denied","reason":["timeout"],"message":"` + pad + `","age_ms":0,"latency_ms":{"capture":0,"api":0,"total":0}}`)
	}
	size := 0
	for i := 1; i <= n; i++ {
		size += 17 + len(ev(i, ""))
	}
	pad := strings.Repeat("x", (4096-size%4096)%4096)
	box, err := outbox.Open(filepath.Join(state, "mqtt-outbox.log"), outbox.Options{})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		p := ""
		if i == n {
			p = pad
		}
		_, err := box.Append(ev(i, p))
		require.NoError(t, err)
	}
	require.NoError(t, box.Close())
	st, _ := os.Stat(filepath.Join(state, "mqtt-outbox.log"))
	require.Zero(t, st.Size()%4096, "outbox size %d", st.Size())

	addr := r.broker.Addr()
	r.broker.Close()
	r.start()
	require.Eventually(t, func() bool { return r.d.p.kiosk.Status().State == kiosk.StateIdle }, 10*time.Second, 20*time.Millisecond, "idle")
	free := realDiskFill(t, state)
	r.restartBrokerAt(addr)
	time.Sleep(8 * time.Second)

	r.bl.mu.Lock()
	seen := map[string]int{}
	for _, ev := range r.bl.events {
		seen[ev.EventID]++
	}
	r.bl.mu.Unlock()
	most := 0
	for _, k := range seen {
		most = max(most, k)
	}
	connected := r.d.p.broker.Connected()
	lost := strings.Count(r.logs.String(), "mqtt connection lost")
	free()
	if most > 1 || !connected {
		t.Errorf("disk full for 8 s after the broker came back: %d distinct queued events, each published up to %d times; link up at the end: %v; %d connections dropped\n%s",
			len(seen), most, connected, lost, realDiskGrep(r.logs.String(), "mqtt connection lost"))
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// restartBrokerAt starts a broker on addr (after r.broker was closed).
func (r *rig) restartBrokerAt(addr string) {
	r.t.Helper()
	b, err := broker.Start(context.Background(), addr, broker.WithSubscription(r.prefix+"/#", r.record))
	if err != nil {
		r.t.Fatalf("restart the broker on %s: %v", addr, err)
	}
	r.broker = b
	r.t.Cleanup(func() { b.Close() })
}

// realDiskGrep is the lines of s containing sub (at most 5).
func realDiskGrep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < 5 {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// realDiskWearingCard mounts on dir an ext4 file system on a loop device whose
// backing file lives on a small tmpfs (back): once back is full (realDiskFill),
// the card's writes fail with EIO, as a worn SD card's do (the journal
// aborts and ext4 turns read-only). It skips without losetup, mkfs.ext4 or
// the right to mount; everything is undone at the test's end.
func realDiskWearingCard(t *testing.T, dir string) (back string) {
	t.Helper()
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("a wearing card needs %s: %v", tool, err)
		}
	}
	back = filepath.Join(t.TempDir(), "back")
	realDiskMount(t, back, "size=6m")
	img := filepath.Join(back, "card.img")
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Skipf("%s %v: %v: %s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("truncate", "-s", "32m", img)
	run("mkfs.ext4", "-q", "-F", img)
	dev := run("losetup", "-f", "--show", img)
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	run("mount", dev, dir)
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
				t.Errorf("unmount %s: %v, %v", dir, err, err2)
			}
		}
	})
	return back
}

// TestRealDiskWornCardRefusesAndSaysSo: the state_dir's card starts failing
// (EIO, then read-only): a grant is refused with record_failed, nothing is
// energised, the audit check says why, and the daemon does not hang.
func TestRealDiskWornCardRefusesAndSaysSo(t *testing.T) {
	r := newRig(t, 0)
	state := filepath.Join(filepath.Dir(r.cfgPath), "state")
	back := realDiskWearingCard(t, state)
	r.cfgYAML = strings.Replace(r.cfgYAML, "  health_interval: 1s\n", "  health_interval: 1s\n  min_free_mb: 1\n", 1)
	r.writeConfig(r.cfgYAML)
	r.start()
	r.waitOnlineAndIdle(t)
	if end := r.session(t); end.Decision != record.DecisionGranted {
		t.Fatalf("first session on a good card: %+v", end)
	}
	require.Eventually(t, func() bool { return len(r.d.p.gate.Sim().Pulses()) == 1 }, 5*time.Second, 20*time.Millisecond, "the pulse")
	realDiskFill(t, back) // the card wears out: its writes fail from now on
	for i := 0; i < 2; i++ {
		end := r.session(t)
		if end.Decision == record.DecisionGranted || !slices.Contains(end.Reason, kiosk.ReasonRecordFailed) {
			t.Errorf("session %d on a failing card: %+v, want record_failed", i, end)
		}
	}
	if n := len(r.d.p.gate.Sim().Pulses()); n != 1 {
		t.Errorf("%d pulses, want the one before the card failed", n)
	}
	require.Eventually(t, func() bool { return r.hasAlert(kiosk.AlertRecordFailed, "") }, 5*time.Second, 20*time.Millisecond, "record_failed")
	require.Eventually(t, func() bool {
		return r.d.p.kiosk.Health().Checks["audit"].Status == kiosk.HealthDegraded
	}, 5*time.Second, 20*time.Millisecond, "audit degraded")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	realDiskRelayAgainstAudit(t, r)
	t.Logf("alerts: %v", r.alertCodes())
}

// TestRealDiskSeqNotReusedAfterAFullStateDir: a gate that ran before, its
// state_dir then full, the outbox on a file system of its own with room:
// the decisions of that run go out on MQTT with their seq. After a restart
// with space back, the numbering must go on after them: consumers drop
// duplicates "by event_id (or seq)" (docs/mqtt.md), so a seq handed out
// twice drops a real decision. The sequence file is written over in place
// on a full disk (kiosk TestSequenceIsSavedOnAFullDisk); here the audit
// log's last block also takes the decisions, so this run would pass
// without that: it checks the whole daemon does not reuse a number.
func TestRealDiskSeqNotReusedAfterAFullStateDir(t *testing.T) {
	r, state := realDiskRig(t, "size=4m", "")
	box := filepath.Join(filepath.Dir(r.cfgPath), "outbox")
	if err := os.MkdirAll(box, 0o750); err != nil {
		t.Fatal(err)
	}
	r.cfgYAML = strings.Replace(r.cfgYAML, "  urls: [", "  outbox:\n    path: "+filepath.Join(box, "mqtt-outbox.log")+"\n  urls: [", 1)
	r.writeConfig(r.cfgYAML)
	// A gate that ran before: its sequence file exists (a new gate whose
	// very first decisions meet a full state_dir is not covered: there is
	// no file to write the number over).
	r.start()
	r.waitOnlineAndIdle(t)
	if end := r.session(t); end.Decision != record.DecisionGranted {
		t.Fatalf("before the disk filled: %+v", end)
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	free := realDiskFill(t, state)
	r.start()
	r.waitOnlineAndIdle(t)
	// Granted (the audit log's last block has room) or refused (it has
	// not): either way the number must not come again.
	for i := 0; i < 2; i++ {
		r.session(t)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.events) == 3
	}, 10*time.Second, 20*time.Millisecond, "the two refused decisions on MQTT")
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	free()
	r.start()
	r.waitOnlineAndIdle(t)
	if end := r.session(t); end.Decision != record.DecisionGranted {
		t.Fatalf("once space is back: %+v", end)
	}
	require.Eventually(t, func() bool {
		r.bl.mu.Lock()
		defer r.bl.mu.Unlock()
		return len(r.bl.events) == 4
	}, 10*time.Second, 20*time.Millisecond, "the grant on MQTT")
	r.bl.mu.Lock()
	bySeq := map[uint64][]string{}
	for _, ev := range r.bl.events {
		bySeq[ev.Seq] = append(bySeq[ev.Seq], ev.EventID)
	}
	r.bl.mu.Unlock()
	for seq, ids := range bySeq {
		if len(ids) > 1 {
			t.Errorf("seq %d handed out to %d decisions %v: a consumer dropping duplicates by seq loses one", seq, len(ids), ids)
		}
	}
	if code := r.stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}
