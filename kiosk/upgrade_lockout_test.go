//go:build go1.25

package kiosk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestLockoutFileOfTheReleaseWithUnlockNoncesIsRead: from 203628c to
// ac1084a (2026-12-07) the lockout file kept the site unlocks applied as
// "nonces" inside each unlock mark ({"until":…,"nonces":[…]}); 0d5e878
// moved them to a top-level "applied" and dropped the field, and the file
// is decoded refusing unknown fields. A gate upgraded from those builds,
// with one site unlock in its memory, sets the whole file aside at start:
// every other locked-out identity gets its tries back at the upgrade's
// restart (the same file is read as sound by the release that wrote it).
// The file below is what 203628c's padState.save wrote (lockoutFile with
// unlockMark{Until, Ahead, Nonces}).
func TestLockoutFileOfTheReleaseWithUnlockNoncesIsRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := lockoutConfig(t)
		path := lockoutPath(cfg)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		ts := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339Nano) }
		locked := lockoutKey(worker.SubmissionID) // three failures: locked
		other := lockoutKey("sub-unlocked-by-the-site")
		old := fmt.Sprintf(`{"format":"facegate-liveness-lockout","version":1,`+
			`"failures":{%q:[%q,%q,%q]},`+
			`"own":{%q:%q},`+
			`"unlocked":{%q:{"until":%q,"nonces":["Zm9vYmFyYmF6cXV4MTIz"]}}}`,
			locked, ts(3*time.Minute), ts(2*time.Minute), ts(time.Minute),
			locked, ts(time.Minute),
			other, ts(4*time.Minute))
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}

		lc := &fakeLiveness{res: livePass, delay: time.Second}
		r := livenessRig(t, cfg, lc)
		stop := r.start(t)
		r.identify(t, worker, 1)
		stop()

		aside, _ := filepath.Glob(path + ".corrupt-*")
		ev := r.events()[0]
		if len(aside) != 0 || !slices.Equal(ev.Reason, []string{ReasonLivenessLocked}) || r.relay.count() != 0 {
			t.Fatalf("an older release's lockout file: set aside as %v; the locked worker got %s %v with %d pulses, %d checks; want the file read and liveness_locked",
				aside, ev.Decision, ev.Reason, r.relay.count(), len(lc.reqs))
		}
	})
}
