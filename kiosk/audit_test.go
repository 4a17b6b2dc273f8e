package kiosk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/facegate/facegate/record"
)

// faultyDisk wraps osAuditOps: each fault is on while its flag is set.
type faultyDisk struct {
	full       bool // writes write half and fail with ENOSPC
	fsyncFails bool // fsync fails with EIO
	noTruncate bool // the cut after a failed write fails too
	noRename   bool // renames fail with ENOSPC
	noOpen     bool // opening a file fails with ENOSPC
	noDirSync  bool // syncing the folder fails with EIO
	dirSyncs   int  // folder syncs asked for
	free       uint64
}

func (d *faultyDisk) ops() auditOps {
	ops := osAuditOps
	ops.open = func(name string) (*os.File, error) {
		if d.noOpen {
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
		}
		return osAuditOps.open(name)
	}
	ops.write = func(f *os.File, b []byte) (int, error) {
		if d.full {
			n, _ := f.Write(b[:len(b)/2])
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.Write(b)
	}
	ops.sync = func(f *os.File) error {
		if d.fsyncFails {
			return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	ops.truncate = func(f *os.File, size int64) error {
		if d.noTruncate {
			return syscall.EIO
		}
		return f.Truncate(size)
	}
	ops.rename = func(from, to string) error {
		if d.noRename {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.ENOSPC}
		}
		return os.Rename(from, to)
	}
	ops.syncDir = func(dir string) error {
		d.dirSyncs++
		if d.noDirSync {
			return &os.PathError{Op: "sync", Path: dir, Err: syscall.EIO}
		}
		return osAuditOps.syncDir(dir)
	}
	ops.freeSpace = func(string) (uint64, error) { return d.free, nil }
	return ops
}

func auditEvent(seq int) record.Event {
	return record.Event{EventID: fmt.Sprintf("e%d", seq), Seq: uint64(seq), Decision: record.DecisionDenied, Reason: []string{"x"}}
}

// auditSeqs reads every audit file of dir, oldest first, and returns the
// sequence numbers of the lines; a line that is not one event fails the
// test. Blank lines and the test's torn line are allowed.
func auditSeqs(t *testing.T, dir string, files int) []uint64 {
	return readAuditSeqs(t, dir, files, false)
}

// readAuditSeqs with fragments allows lines that are not JSON (what is
// left when neither a write nor the cut after it worked) and skips them.
func readAuditSeqs(t *testing.T, dir string, files int, fragments bool) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := files - 1; i >= 0; i-- {
		name := filepath.Join(dir, auditName)
		if i > 0 {
			name += fmt.Sprintf(".%d", i)
		}
		data, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Errorf("%s does not end in a newline", name)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(line) == 0 || bytes.HasPrefix(line, []byte(`{"seq":0,"torn`)) {
				continue
			}
			var ev record.Event
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil || dec.More() {
				if fragments && !json.Valid(line) {
					continue
				}
				t.Fatalf("%s: line %q is not one event: %v", name, line, err)
			}
			seqs = append(seqs, ev.Seq)
		}
	}
	return seqs
}

func wantSeqs(t *testing.T, got []uint64, want ...uint64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit lines %v, want %v", got, want)
	}
}

// A line torn by a crash must not swallow the next one: open ends it, or,
// when the disk is full then, the next line starts with the newline.
func TestAuditTornLineIsEnded(t *testing.T) {
	for _, fullAtOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk full at open %v", fullAtOpen), func(t *testing.T) {
			dir := t.TempDir()
			torn := `{"event_id":"e1","seq":1}` + "\n" + `{"seq":0,"torn`
			if err := os.WriteFile(filepath.Join(dir, auditName), []byte(torn), 0o640); err != nil {
				t.Fatal(err)
			}
			disk := &faultyDisk{full: fullAtOpen}
			a, err := openAuditWith(dir, 1<<20, 3, disk.ops())
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			st := a.state()
			if fullAtOpen != st.Torn || fullAtOpen != errors.Is(st.WriteErr, syscall.ENOSPC) || st.Repaired != map[bool]int{false: 1, true: 0}[fullAtOpen] {
				t.Errorf("state after open %+v", st)
			}
			if fullAtOpen {
				if err := a.write(auditEvent(2)); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("write on a full disk: %v, want ENOSPC", err)
				}
				disk.full = false
			}
			if err := a.write(auditEvent(3)); err != nil {
				t.Fatal(err)
			}
			if st := a.state(); st.Torn || st.Repaired != 1 || st.WriteErr != nil {
				t.Errorf("state after a good write %+v", st)
			}
			a.close()
			wantSeqs(t, auditSeqs(t, dir, 3), 1, 3)
		})
	}
}

// write returns an error whenever the line is not durable, leaves no part
// of it behind, and works again once the disk does.
func TestAuditWriteFailsWheneverNotDurable(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(d *faultyDisk, on bool)
		want error
		// fragments: the cut fails, so the half-written lines stay, each
		// on a line of its own.
		fragments bool
	}{
		{"disk full", func(d *faultyDisk, on bool) { d.full = on }, syscall.ENOSPC, false},
		{"disk full and the cut fails", func(d *faultyDisk, on bool) { d.full, d.noTruncate = on, on }, syscall.ENOSPC, true},
		{"fsync fails", func(d *faultyDisk, on bool) { d.fsyncFails = on }, syscall.EIO, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := &faultyDisk{}
			a, err := openAuditWith(dir, 1<<20, 3, disk.ops())
			if err != nil {
				t.Fatal(err)
			}
			if err := a.write(auditEvent(1)); err != nil {
				t.Fatal(err)
			}
			tc.set(disk, true)
			for seq := 2; seq <= 3; seq++ {
				if err := a.write(auditEvent(seq)); !errors.Is(err, tc.want) {
					t.Fatalf("write %d: %v, want %v", seq, err, tc.want)
				}
			}
			if !errors.Is(a.state().WriteErr, tc.want) {
				t.Errorf("state %+v, want the write error", a.state())
			}
			tc.set(disk, false)
			if err := a.write(auditEvent(4)); err != nil {
				t.Fatalf("write once the disk works: %v", err)
			}
			if a.state().WriteErr != nil {
				t.Errorf("state %+v after a good write", a.state())
			}
			a.close()
			if err := a.write(auditEvent(5)); !errors.Is(err, errAuditClosed) {
				t.Errorf("write after close: %v", err)
			}
			wantSeqs(t, readAuditSeqs(t, dir, 3, tc.fragments), 1, 4)
		})
	}
}

// A failed rotation is retried at the next write; meanwhile lines are
// appended to the current file, none lost.
func TestAuditRotationFailureIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxFiles int
		set      func(d *faultyDisk, on bool)
	}{
		{"rename fails", 3, func(d *faultyDisk, on bool) { d.noRename = on }},
		{"rename fails, one file", 1, func(d *faultyDisk, on bool) { d.noRename = on }},
		{"new file cannot be opened", 3, func(d *faultyDisk, on bool) { d.noOpen = on }},
		{"new file cannot be opened, one file", 1, func(d *faultyDisk, on bool) { d.noOpen = on }},
		{"folder cannot be synced", 3, func(d *faultyDisk, on bool) { d.noDirSync = on }},
		{"folder cannot be synced, one file", 1, func(d *faultyDisk, on bool) { d.noDirSync = on }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := &faultyDisk{}
			a, err := openAuditWith(dir, 300, tc.maxFiles, disk.ops())
			if err != nil {
				t.Fatal(err)
			}
			tc.set(disk, true)
			for seq := 1; seq <= 8; seq++ { // about 90 bytes a line: past 300
				if err := a.write(auditEvent(seq)); err != nil {
					t.Fatalf("write %d with rotation failing: %v", seq, err)
				}
			}
			if a.state().RotateErr == nil {
				t.Fatal("rotation did not fail: the test does not test")
			}
			tc.set(disk, false)
			for seq := 9; seq <= 12; seq++ {
				if err := a.write(auditEvent(seq)); err != nil {
					t.Fatal(err)
				}
			}
			if st := a.state(); st.RotateErr != nil {
				t.Errorf("rotation still failing: %+v", st)
			}
			a.close()
			if info, _ := os.Stat(filepath.Join(dir, auditName)); info.Size() > 300 {
				t.Errorf("%s is %d bytes: not rotated once it could be", auditName, info.Size())
			}
			if tc.maxFiles == 1 {
				if seqs := auditSeqs(t, dir, 1); len(seqs) == 0 || seqs[len(seqs)-1] != 12 {
					t.Errorf("audit lines %v, want the newest ending in 12", seqs)
				}
				return
			}
			wantSeqs(t, auditSeqs(t, dir, tc.maxFiles), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
		})
	}
}

// TestAuditSyncsItsFolder: a new audit file, and each rotation, has its
// folder synced before lines go into it, so that a power cut cannot take
// the file's name, with every grant fsynced into it, away.
func TestAuditSyncsItsFolder(t *testing.T) {
	dir := t.TempDir()
	disk := &faultyDisk{}
	a, err := openAuditWith(dir, 300, 3, disk.ops())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if disk.dirSyncs != 1 {
		t.Fatalf("%d folder syncs creating the log, want 1", disk.dirSyncs)
	}
	for seq := 1; seq <= 2; seq++ {
		if err := a.write(auditEvent(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, auditName+".1")); err == nil {
		t.Fatal("rotated already: the test needs shorter lines")
	}
	if disk.dirSyncs != 1 {
		t.Fatalf("%d folder syncs after lines into the same file, want still 1", disk.dirSyncs)
	}
	for seq := 3; seq <= 8; seq++ { // past 300 bytes: rotated
		if err := a.write(auditEvent(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, auditName+".1")); err != nil || disk.dirSyncs < 2 {
		t.Fatalf("after a rotation (%v): %d folder syncs, want another", err, disk.dirSyncs)
	}
}

// A disk too full to create the log does not stop the start; the log is
// created at the first write that can. Other errors still stop it.
func TestAuditOpensOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	disk := &faultyDisk{noOpen: true}
	a, err := openAuditWith(dir, 1<<20, 3, disk.ops())
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	if err := a.write(auditEvent(1)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write: %v, want ENOSPC", err)
	}
	disk.noOpen = false
	if err := a.write(auditEvent(2)); err != nil {
		t.Fatal(err)
	}
	a.close()
	wantSeqs(t, auditSeqs(t, dir, 3), 2)

	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, nil, 0o600)
	if _, err := openAudit(filepath.Join(notADir, "audit"), 1<<20, 3); err == nil {
		t.Error("open under a regular file succeeded")
	}
}

// The disk check is degraded below kiosk.min_free_mb with the numbers, and
// alerts once per transition; the audit check reports a failing log.
func TestDiskAndAuditChecks(t *testing.T) {
	pub := &fakePublisher{}
	cfg := testConfig(t)
	cfg.Page.MinFreeMB = 50
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	disk := &faultyDisk{}
	k.audit.ops = disk.ops()
	steps := []struct {
		free       uint64
		auditFails bool
		disk       string // status
		detail     string
		audit      string
		health     string
		alerts     []string // new alert codes
	}{
		{free: 200 << 20, disk: HealthOK, detail: "200.0 MiB free", audit: HealthOK, health: HealthOK},
		{free: 12 << 20, disk: HealthDegraded, detail: "12.0 MiB free, below kiosk.min_free_mb (50 MiB)", audit: HealthOK, health: HealthDegraded, alerts: []string{AlertDiskLow}},
		{free: 11 << 20, disk: HealthDegraded, detail: "11.0 MiB free", audit: HealthOK, health: HealthDegraded},
		{free: 0, auditFails: true, disk: HealthDegraded, detail: "0.0 MiB free", audit: HealthDegraded, health: HealthDegraded, alerts: []string{AlertAuditLog}},
		{free: 60 << 20, disk: HealthOK, audit: HealthOK, health: HealthOK},
		{free: 1 << 20, disk: HealthDegraded, detail: "1.0 MiB free", audit: HealthOK, health: HealthDegraded, alerts: []string{AlertDiskLow}},
	}
	seen := 0
	for i, s := range steps {
		disk.free = s.free
		disk.full = s.auditFails
		if err := k.audit.write(auditEvent(i)); (err != nil) != s.auditFails {
			t.Fatalf("step %d: audit write %v", i, err)
		}
		h := k.selfTest(context.Background())
		k.setHealth(h)
		d, au := h.Checks["disk"], h.Checks["audit"]
		if d.Status != s.disk || !strings.Contains(d.Detail, s.detail) || au.Status != s.audit || h.Status != s.health {
			t.Errorf("step %d: health %s, disk %+v, audit %+v; want %s, disk %s %q, audit %s", i, h.Status, d, au, s.health, s.disk, s.detail, s.audit)
		}
		_, _, alerts := pub.snapshot()
		var codes []string
		for _, a := range alerts[seen:] {
			codes = append(codes, a.Code)
			if a.Code == AlertDiskLow && !strings.Contains(a.Message, fmt.Sprintf("%.1f MiB free", float64(s.free)/(1<<20))) {
				t.Errorf("step %d: alert %q does not say how much is free", i, a.Message)
			}
		}
		seen = len(alerts)
		if fmt.Sprint(codes) != fmt.Sprint(s.alerts) {
			t.Errorf("step %d: alerts %v, want %v", i, codes, s.alerts)
		}
	}

	cfg.Page.MinFreeMB = 0
	if err := k.Reload(*cfg); err != nil {
		t.Fatal(err)
	}
	if c := k.diskCheck(); c.Status != HealthOK {
		t.Errorf("min_free_mb 0 (off): disk check %+v", c)
	}
}

// Out of inodes with room left, the disk check is degraded: no state file
// can be replaced (they are written through a new file). Until 2026-12-07
// it said "ok" with megabytes free.
func TestDiskCheckCountsInodes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Page.MinFreeMB = 1
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	disk := &faultyDisk{free: 500 << 20}
	k.audit.ops = disk.ops()
	for _, c := range []struct {
		free, total uint64
		ok          bool
		want        string
	}{
		{0, 64, true, HealthDegraded},
		{100, 1 << 20, true, HealthDegraded},  // under 128
		{5000, 1 << 20, true, HealthDegraded}, // under 1 %
		{50000, 1 << 20, true, HealthOK},
		{0, 0, false, HealthOK}, // not counted (btrfs)
	} {
		k.audit.ops.freeInodes = func(string) (uint64, uint64, bool) { return c.free, c.total, c.ok }
		if got := k.diskCheck(); got.Status != c.want || c.want == HealthDegraded && !strings.Contains(got.Detail, "inodes free") {
			t.Errorf("%d of %d inodes free: %+v, want %s", c.free, c.total, got, c.want)
		}
	}
}

// The MQTT outbox on a file system of its own (mqtt.outbox.path on another
// card) is measured too: until 2026-12-08 the disk check read the state
// directory only, and a filling outbox disk was first seen when it
// refused every grant.
func TestDiskCheckMeasuresTheOutboxFileSystem(t *testing.T) {
	cfg := testConfig(t)
	cfg.Page.MinFreeMB = 10
	cfg.OutboxDir = t.TempDir()
	k, err := New(*cfg, Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: &fakePublisher{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                 string
		same                 bool
		stateFree, boxFree   uint64
		boxInodes            uint64
		want, detailContains string
	}{
		{"outbox disk low", false, 500 << 20, 5 << 20, 1 << 20, HealthDegraded, "the MQTT outbox's " + cfg.OutboxDir + ": 5.0 MiB free"},
		{"outbox disk out of inodes", false, 500 << 20, 500 << 20, 3, HealthDegraded, "the MQTT outbox's " + cfg.OutboxDir + ": 3 of"},
		{"state disk low first", false, 5 << 20, 5 << 20, 1 << 20, HealthDegraded, cfg.StateDir + ": 5.0 MiB free"},
		{"both fine", false, 500 << 20, 200 << 20, 1 << 20, HealthOK, "500.0 MiB free; outbox 200.0 MiB free"},
		{"one file system: measured once", true, 500 << 20, 5 << 20, 1 << 20, HealthOK, "500.0 MiB free"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops := k.audit.ops
			ops.freeSpace = func(dir string) (uint64, error) {
				if dir == cfg.OutboxDir {
					return c.boxFree, nil
				}
				return c.stateFree, nil
			}
			ops.freeInodes = func(dir string) (uint64, uint64, bool) {
				if dir == cfg.OutboxDir {
					return c.boxInodes, 1 << 20, true
				}
				return 1 << 20, 1 << 20, true
			}
			ops.sameFileSystem = func(string, string) bool { return c.same }
			k.audit.ops = ops
			got := k.diskCheck()
			if got.Status != c.want || !strings.Contains(got.Detail, c.detailContains) {
				t.Errorf("%+v, want %s with %q", got, c.want, c.detailContains)
			}
		})
	}
}

// Two folders of one file system are told apart from two file systems.
func TestSameFileSystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file systems are told apart on Linux only")
	}
	a, b := t.TempDir(), t.TempDir()
	if !sameFileSystem(a, b) {
		t.Errorf("%s and %s: not one file system", a, b)
	}
	if sameFileSystem(a, "/proc") {
		t.Errorf("%s and /proc: one file system", a)
	}
	if sameFileSystem(a, filepath.Join(a, "missing")) {
		t.Error("a missing folder is on the same file system (it should be measured)")
	}
}

// The real statfs of a directory: some space, and an error for a missing one.
func TestFreeSpace(t *testing.T) {
	free, err := freeSpace(t.TempDir())
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("free space is not measured on this system")
	}
	if err != nil || free == 0 {
		t.Errorf("freeSpace = %d, %v", free, err)
	}
	if _, err := freeSpace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing directory")
	}
}

// An alert quoting a long error is clipped to what a publisher takes (the
// MQTT alert payload refuses more than 1024 bytes): it still goes out.
func TestRaiseAlertClipsALongMessage(t *testing.T) {
	pub := &fakePublisher{}
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k.RaiseAlert(AlertOutboxCorrupt, "lost: "+strings.Repeat("é", 1000))
	_, _, alerts := pub.snapshot()
	if len(alerts) != 1 {
		t.Fatalf("alerts %+v", alerts)
	}
	m := alerts[0].Message
	if len(m) > 1024 || !utf8.ValidString(m) || !strings.HasPrefix(m, "lost: éé") || !strings.HasSuffix(m, "…") {
		t.Fatalf("message of %d bytes: %q", len(m), m)
	}
}

// The daemon's alerts go the kiosk's way: published with their code.
func TestRaiseAlert(t *testing.T) {
	pub := &fakePublisher{}
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k.RaiseAlert(AlertOutboxCorrupt, "1 records lost")
	if _, _, alerts := pub.snapshot(); len(alerts) != 1 || alerts[0].Code != "outbox_corrupt" || alerts[0].Message != "1 records lost" {
		t.Errorf("alerts %+v", alerts)
	}
}

// A broker away long fills the MQTT outbox, and a full one refuses every
// new decision's record (a grant then does not open): at 80 % of its
// bound the outbox check turns degraded and raises outbox_filling, once
// per crossing.
func TestOutboxFillingIsAlerted(t *testing.T) {
	pub := &fakePublisher{}
	brk := &fakeBroker{}
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Broker: brk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, s := range []struct {
		depth  int
		status string
		alerts []string
	}{
		{depth: 1000, status: HealthOK},
		{depth: 79_999, status: HealthOK},
		{depth: 80_000, status: HealthDegraded, alerts: []string{AlertOutboxFilling}},
		{depth: 95_000, status: HealthDegraded},
		{depth: 10, status: HealthOK},
		{depth: 90_000, status: HealthDegraded, alerts: []string{AlertOutboxFilling}},
	} {
		brk.setDepth(s.depth)
		h := k.selfTest(context.Background())
		k.setHealth(h)
		if c := h.Checks["outbox"]; c.Status != s.status {
			t.Errorf("step %d: outbox check %+v, want %s", i, c, s.status)
		}
		_, _, alerts := pub.snapshot()
		var codes []string
		for _, a := range alerts[seen:] {
			codes = append(codes, a.Code)
			if a.Code == AlertOutboxFilling && !strings.Contains(a.Message, "mqtt.outbox.max_events") {
				t.Errorf("step %d: alert %q does not name the bound", i, a.Message)
			}
		}
		seen = len(alerts)
		if fmt.Sprint(codes) != fmt.Sprint(s.alerts) {
			t.Errorf("step %d: alerts %v, want %v", i, codes, s.alerts)
		}
	}
}

// An outbox that refuses records (its own file system full) makes the
// outbox check degraded until a record is written again: every decision is
// record_failed meanwhile. Until 2026-12-07 the check counted queued
// events only and said ok.
func TestOutboxRefusingRecordsIsInTheHealth(t *testing.T) {
	pub := &fakePublisher{}
	brk := &fakeBroker{connected: true}
	k, err := New(*testConfig(t), Deps{Selector: &fakeSelector{}, Authenticator: &fakeAuth{}, Relay: &fakeRelay{}, Publisher: pub, Broker: brk, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ev := record.Event{Decision: record.DecisionDenied, Reason: []string{"x"}}
	pub.mu.Lock()
	pub.eventErr = syscall.ENOSPC
	pub.mu.Unlock()
	_ = k.record(&session{}, &ev, outcome{})
	if c := k.selfTest(context.Background()).Checks["outbox"]; c.Status != HealthDegraded || !strings.Contains(c.Detail, "no space left") {
		t.Fatalf("outbox check while records are refused: %+v", c)
	}
	pub.mu.Lock()
	pub.eventErr = nil
	pub.mu.Unlock()
	ev = record.Event{Decision: record.DecisionDenied, Reason: []string{"x"}}
	_ = k.record(&session{}, &ev, outcome{})
	if c := k.selfTest(context.Background()).Checks["outbox"]; c.Status != HealthOK {
		t.Fatalf("outbox check once a record is written again: %+v", c)
	}
}
